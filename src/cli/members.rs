//! `praxis members list|add|set|remove|import`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::builder::TypedValueParser;
use clap::{Args, Subcommand};

use super::Context;
use super::output::local_time;
use crate::config::split_address;
use crate::member_csv;
use crate::model::{Delivery, DigestFormat, MemberStatus, Moderation, Role};
use crate::store::{MemberFields, NewMember};

/// `praxis members ...`.
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// List a community's members.
    #[command(after_help = "Example:\n  praxis members list -c health --json")]
    List {
        /// The community.
        #[arg(short, long)]
        community: String,
    },
    /// Add a member.
    #[command(
        after_help = "Example:\n  praxis members add alice@example.org -c health --name 'Alice Rao' \\\n      --organisation 'PHFI' --place 'New Delhi' --delivery digest"
    )]
    Add {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// The member's address.
        email: String,
        /// Their fields.
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Change a member's fields.
    #[command(
        after_help = "Example:\n  praxis members set alice@example.org -c health --delivery consolidated"
    )]
    Set {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// The member's address.
        email: String,
        /// The fields to change.
        #[command(flatten)]
        fields: FieldArgs,
        /// Status: pending, active, unsubscribed, disabled (active also clears the bounce score).
        #[arg(long, value_parser = enum_parser::<MemberStatus>())]
        status: Option<MemberStatus>,
    },
    /// Remove a member (their earlier posts stay).
    #[command(after_help = "Example:\n  praxis members remove bob@example.org -c health")]
    Remove {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// The member's address.
        email: String,
    },
    /// Add members from a CSV file (header: email,name,organisation,place,role,delivery).
    #[command(
        after_help = "Example:\n  praxis members import -c health members.csv\n\nBad rows are reported with their line numbers; the good rows are added."
    )]
    Import {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// The CSV file.
        file: PathBuf,
    },
}

/// The member fields a command can set.
#[derive(Debug, Args)]
pub struct FieldArgs {
    /// Display name, used to attribute responses.
    #[arg(long)]
    name: Option<String>,
    /// Organisation, used to attribute responses.
    #[arg(long)]
    organisation: Option<String>,
    /// Place, used to attribute responses.
    #[arg(long)]
    place: Option<String>,
    /// member, moderator or owner.
    #[arg(long, value_parser = enum_parser::<Role>())]
    role: Option<Role>,
    /// each, digest, consolidated or none.
    #[arg(long, value_parser = enum_parser::<Delivery>())]
    delivery: Option<Delivery>,
    /// mime, plain or html.
    #[arg(long, value_parser = enum_parser::<DigestFormat>())]
    digest_format: Option<DigestFormat>,
    /// default, hold, accept, reject or discard.
    #[arg(long, value_parser = enum_parser::<Moderation>())]
    moderation: Option<Moderation>,
    /// yes or no: whether they receive a copy of their own posts (default yes).
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    own_posts: Option<bool>,
    /// What they know about, comma-separated (weighed by `praxis experts`).
    #[arg(long)]
    interests: Option<String>,
}

impl FieldArgs {
    fn to_fields(&self, status: Option<MemberStatus>) -> MemberFields {
        MemberFields {
            name: self.name.clone(),
            organisation: self.organisation.clone(),
            place: self.place.clone(),
            role: self.role,
            delivery: self.delivery,
            digest_format: self.digest_format,
            moderation: self.moderation,
            status,
            own_posts: self.own_posts,
            interests: self.interests.clone(),
        }
    }
}

/// A clap parser for a closed enum from `model`, listing its names in --help.
fn enum_parser<T>() -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T: EnumNames,
{
    clap::builder::PossibleValuesParser::new(T::names()).map(|s| {
        s.parse::<T>()
            .unwrap_or_else(|_| unreachable!("clap only passes listed names"))
    })
}

/// The names of a closed enum, for clap.
trait EnumNames {
    fn names() -> &'static [&'static str];
}

macro_rules! enum_names {
    ($($t:ty),*) => {$(
        impl EnumNames for $t {
            fn names() -> &'static [&'static str] { <$t>::NAMES }
        }
    )*};
}
enum_names!(Role, Delivery, DigestFormat, Moderation, MemberStatus);

/// Runs a `members` subcommand.
pub fn run(ctx: &Context, cmd: &MembersCommand) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let actor = ctx.actor(&config);
    match cmd {
        MembersCommand::List { community } => {
            let cfg = config.community(community).map_err(anyhow::Error::msg)?;
            let c = store.community(community)?;
            let members = store.members(c.id)?;
            if ctx.out.json {
                ctx.out.json(&members)?;
            } else {
                let tz = cfg.timezone;
                ctx.out.table(
                    &[
                        "email",
                        "name",
                        "organisation",
                        "place",
                        "role",
                        "delivery",
                        "digest",
                        "moderation",
                        "status",
                        "joined",
                    ],
                    members
                        .iter()
                        .map(|m| {
                            vec![
                                m.email.clone(),
                                m.name.clone(),
                                m.organisation.clone(),
                                m.place.clone(),
                                m.role.to_string(),
                                m.delivery.to_string(),
                                m.digest_format.to_string(),
                                m.moderation.to_string(),
                                m.status.to_string(),
                                local_time(m.joined_at, tz),
                            ]
                        })
                        .collect(),
                );
                ctx.out
                    .say(format!("{} members of {community}", members.len()));
            }
        }
        MembersCommand::Add {
            community,
            email,
            fields,
        } => {
            config.community(community).map_err(anyhow::Error::msg)?;
            check_email(email)?;
            let c = store.community(community)?;
            let new = [NewMember {
                email: email.clone(),
                fields: fields.to_fields(None),
            }];
            match store.add_members(c.id, &new, &actor)?.pop() {
                Some(Ok(m)) => ctx.out.say(format!(
                    "added {} to {community} ({}, delivery {})",
                    m.email, m.role, m.delivery
                )),
                Some(Err(e)) => bail!(e),
                None => unreachable!("one member in, one result out"),
            }
        }
        MembersCommand::Set {
            community,
            email,
            fields,
            status,
        } => {
            config.community(community).map_err(anyhow::Error::msg)?;
            let f = fields.to_fields(*status);
            if f == MemberFields::default() {
                bail!(
                    "nothing to change; give at least one option such as --delivery digest (see `praxis members set --help`)"
                );
            }
            let c = store.community(community)?;
            let m = store.set_member(c.id, email, &f, &actor)?;
            ctx.out.say(format!(
                "updated {} in {community}: role {}, delivery {}, digest {}, moderation {}, status {}",
                m.email, m.role, m.delivery, m.digest_format, m.moderation, m.status
            ));
        }
        MembersCommand::Remove { community, email } => {
            config.community(community).map_err(anyhow::Error::msg)?;
            let c = store.community(community)?;
            store.remove_member(c.id, email, &actor)?;
            ctx.out.say(format!("removed {email} from {community}"));
        }
        MembersCommand::Import { community, file } => {
            config.community(community).map_err(anyhow::Error::msg)?;
            let c = store.community(community)?;
            let bytes =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let rows =
                member_csv::read(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report = member_csv::import(&mut store, c.id, rows, &actor)?;
            let mut refused: Vec<(u64, String)> = report
                .bad
                .into_iter()
                .map(|b| (b.line, b.reason))
                .chain(report.existing.into_iter().map(|(line, email)| {
                    (
                        line,
                        format!("{email} is already a member; change it with `praxis members set`"),
                    )
                }))
                .collect();
            refused.sort();
            for (line, e) in &refused {
                eprintln!("{}:{line}: {e}", file.display());
            }
            let added = report.added.len();
            ctx.out.say(format!(
                "imported {added} member{} into {community}; {} row{} not imported",
                if added == 1 { "" } else { "s" },
                refused.len(),
                if refused.len() == 1 { "" } else { "s" }
            ));
            if !refused.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_email(email: &str) -> Result<()> {
    if split_address(email.trim()).is_none() {
        bail!("`{email}` is not an email address; write it as local@domain");
    }
    Ok(())
}
