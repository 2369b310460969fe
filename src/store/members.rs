//! Members of communities, and the audit rows written when they change.
//!
//! Long because of its unit tests (the last ~90 lines) and PostgreSQL's
//! own way to add many members at once (`add_at_once`); the code
//! itself is ~520.

use super::engine::{Dialect, Queries, Row, params};
use serde::Serialize;

use super::{Result, Store, StoreError, now};
use crate::model::{CommunityId, Delivery, DigestFormat, MemberId, MemberStatus, Moderation, Role};

/// A member as stored; serialises with the field names of `members list --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    /// Row id.
    #[serde(skip)]
    pub id: MemberId,
    /// The community's slug.
    pub community: String,
    /// Address, lowercase.
    pub email: String,
    /// Display name, for attribution.
    pub name: String,
    /// Organisation, for attribution.
    pub organisation: String,
    /// Place, for attribution.
    pub place: String,
    /// What they may do.
    pub role: Role,
    /// How mail reaches them.
    pub delivery: Delivery,
    /// Their digest's format.
    pub digest_format: DigestFormat,
    /// What happens to their posts.
    pub moderation: Moderation,
    /// Where their subscription stands.
    pub status: MemberStatus,
    /// When they joined, seconds since the epoch (RFC 3339 in JSON).
    #[serde(serialize_with = "crate::model::serialize_unix_time")]
    pub joined_at: i64,
    /// Approved posts so far (0: the next is a first post).
    pub posts_approved: i64,
    /// Accumulated bounce score.
    pub bounce_score: f64,
    /// Whether they receive a copy of their own posts.
    pub own_posts: bool,
    /// What they say they know about (for `praxis experts`).
    pub interests: String,
}

/// The fields a command may set on a member; `None` leaves a field as it is
/// (or at its default when adding).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberFields {
    /// Display name.
    pub name: Option<String>,
    /// Organisation.
    pub organisation: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Role.
    pub role: Option<Role>,
    /// Delivery mode.
    pub delivery: Option<Delivery>,
    /// Digest format.
    pub digest_format: Option<DigestFormat>,
    /// Moderation flag.
    pub moderation: Option<Moderation>,
    /// Status.
    pub status: Option<MemberStatus>,
    /// Whether they receive a copy of their own posts.
    pub own_posts: Option<bool>,
    /// What they say they know about.
    pub interests: Option<String>,
}

/// A member to add: an address and the fields given.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMember {
    /// The address.
    pub email: String,
    /// The rest.
    pub fields: MemberFields,
}

pub(super) const COLUMNS: &str = "m.id, c.slug, m.email, m.name, m.organisation, m.place, m.role, m.delivery, \
     m.digest_format, m.moderation, m.status, m.joined_at, m.posts_approved, m.bounce_score, m.own_posts, m.interests";

/// How many columns [`COLUMNS`] selects (the next index is free for extras).
pub(super) const COLUMN_COUNT: usize = 16;

/// A member from [`COLUMNS`].
pub(super) fn member_from_row(r: &Row<'_>) -> Result<Member> {
    Ok(Member {
        id: MemberId(r.get(0)?),
        community: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        organisation: r.get(4)?,
        place: r.get(5)?,
        role: r.parse(6)?,
        delivery: r.parse(7)?,
        digest_format: r.parse(8)?,
        moderation: r.parse(9)?,
        status: r.parse(10)?,
        joined_at: r.get(11)?,
        posts_approved: r.get(12)?,
        bounce_score: r.get(13)?,
        own_posts: r.get(14)?,
        interests: r.get(15)?,
    })
}

/// The canonical stored form of an address.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

impl Store {
    /// Every member of a community, by address.
    pub fn members(&self, community: CommunityId) -> Result<Vec<Member>> {
        self.conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                 WHERE m.community_id = ?1 ORDER BY m.email"
            ),
            params![community.0],
            member_from_row,
        )
    }

    /// One page of a community's members by address: those whose address,
    /// name, organisation or place contains `q` (ignoring ASCII case; every
    /// member when `q` is empty), `limit` from `offset`; with how many match.
    pub fn members_page(
        &self,
        community: CommunityId,
        q: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Member>, i64)> {
        // PostgreSQL has no instr: strpos there (the address is CITEXT,
        // lowered to text so the match is the same substring test).
        let matches = match self.dialect() {
            Dialect::Sqlite => {
                "m.community_id = ?1 AND (?2 = ''
                 OR instr(lower(m.email), ?2) OR instr(lower(m.name), ?2)
                 OR instr(lower(m.organisation), ?2) OR instr(lower(m.place), ?2))"
            }
            Dialect::Postgres => {
                "m.community_id = ?1 AND (CAST(?2 AS TEXT) = ''
                 OR strpos(lower(CAST(m.email AS TEXT)), ?2) > 0 OR strpos(lower(m.name), ?2) > 0
                 OR strpos(lower(m.organisation), ?2) > 0 OR strpos(lower(m.place), ?2) > 0)"
            }
        };
        let q = q.trim().to_ascii_lowercase();
        let total: i64 = self.conn.query_one(
            &format!("SELECT count(*) FROM members m WHERE {matches}"),
            params![community.0, q],
            |r| r.get(0),
        )?;
        let rows = self.conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                 WHERE {matches} ORDER BY m.email LIMIT ?3 OFFSET ?4"
            ),
            params![community.0, q, limit, offset],
            member_from_row,
        )?;
        Ok((rows, total))
    }

    /// The active moderators and owners of a community, by address: the
    /// people notices about held posts go to. Reads only them, so a notice
    /// costs the same in a community of ten members or a hundred thousand.
    pub fn moderators(&self, community: CommunityId) -> Result<Vec<Member>> {
        self.conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                 WHERE m.community_id = ?1 AND m.role IN ('moderator', 'owner') AND m.status = 'active'
                 ORDER BY m.email"
            ),
            params![community.0],
            member_from_row,
        )
    }

    /// One member by address.
    pub fn member(&self, community: CommunityId, email: &str) -> Result<Option<Member>> {
        self.conn.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                 WHERE m.community_id = ?1 AND m.email = ?2"
            ),
            params![community.0, normalise_email(email)],
            member_from_row,
        )
    }

    /// How an act by `actor` reached praxis: as [`Store::act_as`] said when
    /// it names the same person (a moderator on the web), else guessed from
    /// the name as older callers pass it ("web", "email", a login).
    fn how_for(&self, actor: &str) -> super::audit::How {
        if actor == self.actor().who {
            self.actor().how
        } else {
            super::audit::how_of(actor)
        }
    }

    /// Adds members in one transaction. Addresses already present are
    /// returned in `Err` position of each result, the rest are added.
    pub fn add_members(
        &mut self,
        community: CommunityId,
        new: &[NewMember],
        actor: &str,
    ) -> Result<Vec<std::result::Result<Member, String>>> {
        let how = self.how_for(actor);
        let tx = self.conn.transaction()?;
        let t = now();
        if tx.db().dialect() == Dialect::Postgres {
            let mut out = Vec::with_capacity(new.len());
            for chunk in new.chunks(ADD_AT_ONCE) {
                out.extend(add_at_once(&tx, community, chunk, actor, how, t)?);
            }
            tx.commit()?;
            return Ok(out);
        }
        let mut out = Vec::with_capacity(new.len());
        for m in new {
            let email = normalise_email(&m.email);
            let exists: bool = tx.query_one(
                "SELECT EXISTS (SELECT 1 FROM members WHERE community_id = ?1 AND email = ?2)",
                params![community.0, email],
                |r| r.get(0),
            )?;
            if exists {
                out.push(Err(format!(
                    "{email} is already a member; change it with `praxis members set`"
                )));
                continue;
            }
            let f = &m.fields;
            let id: i64 = tx.query_one(
                // Numbered above every id ever used (migration 0009), so a
                // newcomer never takes a removed member's id and with it a
                // place in an audience queued before they joined.
                "INSERT INTO members (id, community_id, email, name, organisation, place, role,
                                      delivery, digest_format, moderation, status, joined_at,
                                      own_posts, interests)
                 VALUES ((SELECT high + 1 FROM member_id_high WHERE id = 1),
                         ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 RETURNING id",
                params![
                    community.0,
                    email,
                    f.name.as_deref().unwrap_or(""),
                    f.organisation.as_deref().unwrap_or(""),
                    f.place.as_deref().unwrap_or(""),
                    f.role.unwrap_or(Role::Member).as_str(),
                    f.delivery.unwrap_or(Delivery::Each).as_str(),
                    f.digest_format.unwrap_or(DigestFormat::Mime).as_str(),
                    f.moderation.unwrap_or(Moderation::Default).as_str(),
                    f.status.unwrap_or(MemberStatus::Active).as_str(),
                    t,
                    f.own_posts.unwrap_or(true),
                    f.interests.as_deref().unwrap_or(""),
                ],
                |r| r.get(0),
            )?;
            log_decision_how(
                &tx,
                community,
                None,
                actor,
                how,
                "member-add",
                None,
                Some(&email),
                t,
            )?;
            let member = tx.query_one(
                &format!(
                    "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                     WHERE m.id = ?1"
                ),
                params![id],
                member_from_row,
            )?;
            out.push(Ok(member));
        }
        tx.commit()?;
        Ok(out)
    }

    /// Changes the given fields of an existing member.
    pub fn set_member(
        &mut self,
        community: CommunityId,
        email: &str,
        f: &MemberFields,
        actor: &str,
    ) -> Result<Member> {
        let email = normalise_email(email);
        let how = self.how_for(actor);
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE members SET
                name = COALESCE(?3, name), organisation = COALESCE(?4, organisation),
                place = COALESCE(?5, place), role = COALESCE(?6, role),
                delivery = COALESCE(?7, delivery), digest_format = COALESCE(?8, digest_format),
                moderation = COALESCE(?9, moderation), status = COALESCE(?10, status),
                bounce_score = CASE WHEN ?10 = 'active' THEN 0 ELSE bounce_score END,
                probe_delivery_id = CASE WHEN ?10 IS NULL THEN probe_delivery_id ELSE NULL END,
                own_posts = COALESCE(?11, own_posts), interests = COALESCE(?12, interests)
             WHERE community_id = ?1 AND email = ?2",
            params![
                community.0,
                email,
                f.name,
                f.organisation,
                f.place,
                f.role.map(|v| v.as_str()),
                f.delivery.map(|v| v.as_str()),
                f.digest_format.map(|v| v.as_str()),
                f.moderation.map(|v| v.as_str()),
                f.status.map(|v| v.as_str()),
                f.own_posts,
                f.interests,
            ],
        )?;
        if n == 0 {
            return Err(not_a_member(&email));
        }
        log_decision_how(
            &tx,
            community,
            None,
            actor,
            how,
            "member-set",
            None,
            Some(&email),
            now(),
        )?;
        tx.commit()?;
        self.member(community, &email)?
            .ok_or_else(|| not_a_member(&email))
    }

    /// Removes a member. Their earlier posts stay, no longer linked to them.
    pub fn remove_member(
        &mut self,
        community: CommunityId,
        email: &str,
        actor: &str,
    ) -> Result<()> {
        let email = normalise_email(email);
        let how = self.how_for(actor);
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM members WHERE community_id = ?1 AND email = ?2",
            params![community.0, email],
        )?;
        if n == 0 {
            return Err(not_a_member(&email));
        }
        log_decision_how(
            &tx,
            community,
            None,
            actor,
            how,
            "member-remove",
            None,
            Some(&email),
            now(),
        )?;
        tx.commit()?;
        Ok(())
    }
}

fn not_a_member(email: &str) -> StoreError {
    StoreError::NotFound(format!(
        "{email} is not a member; add it with `praxis members add {email}`"
    ))
}

/// Members [`add_at_once`] adds in one statement at most.
const ADD_AT_ONCE: usize = 1000;

/// [`Store::add_members`] on PostgreSQL, where a statement costs a round
/// trip: `new` added in three statements (the rows, their audit rows, the
/// members read back) rather than four per member, so a 2 MB CSV of
/// about 77,000 members goes in within the web's request timeout. Ids come
/// from the identity sequence (migration 0026), which never gives one
/// twice; an address already there, or twice in `new`, is refused in the
/// same words as on SQLite.
fn add_at_once(
    tx: &impl Queries,
    community: CommunityId,
    new: &[NewMember],
    actor: &str,
    how: super::audit::How,
    t: i64,
) -> Result<Vec<std::result::Result<Member, String>>> {
    let emails: Vec<String> = new.iter().map(|m| normalise_email(&m.email)).collect();
    let rows: Vec<serde_json::Value> = new
        .iter()
        .zip(&emails)
        .map(|(m, email)| {
            let f = &m.fields;
            serde_json::json!({
                "email": email,
                "name": f.name.as_deref().unwrap_or(""),
                "organisation": f.organisation.as_deref().unwrap_or(""),
                "place": f.place.as_deref().unwrap_or(""),
                "role": f.role.unwrap_or(Role::Member).as_str(),
                "delivery": f.delivery.unwrap_or(Delivery::Each).as_str(),
                "digest_format": f.digest_format.unwrap_or(DigestFormat::Mime).as_str(),
                "moderation": f.moderation.unwrap_or(Moderation::Default).as_str(),
                "status": f.status.unwrap_or(MemberStatus::Active).as_str(),
                "own_posts": i64::from(f.own_posts.unwrap_or(true)),
                "interests": f.interests.as_deref().unwrap_or(""),
            })
        })
        .collect();
    // In the order given, so ids follow it; ON CONFLICT passes over an
    // address already there or earlier in the same list.
    let added: Vec<(i64, String)> = tx.query_map(
        "INSERT INTO members (community_id, email, name, organisation, place, role, delivery,
                              digest_format, moderation, status, joined_at, own_posts, interests)
         SELECT ?1, j.email, j.name, j.organisation, j.place, j.role, j.delivery,
                j.digest_format, j.moderation, j.status, ?2, j.own_posts, j.interests
         FROM ROWS FROM (json_to_recordset(CAST(?3 AS JSON))
                 AS (email TEXT, name TEXT, organisation TEXT, place TEXT, role TEXT,
                     delivery TEXT, digest_format TEXT, moderation TEXT, status TEXT,
                     own_posts BIGINT, interests TEXT))
              WITH ORDINALITY AS j(email, name, organisation, place, role, delivery,
                                   digest_format, moderation, status, own_posts, interests, n)
         ORDER BY j.n
         ON CONFLICT (community_id, email) DO NOTHING
         RETURNING id, email",
        params![community.0, t, serde_json::Value::Array(rows).to_string()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut added: Vec<(i64, String)> = added
        .into_iter()
        .map(|(id, email)| (id, normalise_email(&email)))
        .collect();
    added.sort_unstable();
    let ids: Vec<i64> = added.iter().map(|a| a.0).collect();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let added_emails: Vec<&str> = added.iter().map(|a| a.1.as_str()).collect();
    tx.execute(
        "INSERT INTO decisions (community_id, actor, action, detail, at, how)
         SELECT ?1, ?2, 'member-add', v.x, ?3, ?4
         FROM json_array_elements_text(CAST(?5 AS JSON)) WITH ORDINALITY AS v(x, n)
         ORDER BY v.n",
        params![
            community.0,
            actor,
            t,
            how.as_str(),
            serde_json::to_string(&added_emails).unwrap_or_else(|_| "[]".into())
        ],
    )?;
    let mut members: std::collections::HashMap<String, Member> = tx
        .query_map(
            &format!(
                "SELECT {COLUMNS} FROM members m JOIN communities c ON c.id = m.community_id
                 WHERE m.id IN (SELECT CAST(v.x AS BIGINT)
                                FROM json_array_elements_text(CAST(?1 AS JSON)) AS v(x))"
            ),
            params![ids],
            member_from_row,
        )?
        .into_iter()
        .map(|m| (m.email.clone(), m))
        .collect();
    Ok(emails
        .into_iter()
        .map(|email| {
            members.remove(&email).ok_or_else(|| {
                format!("{email} is already a member; change it with `praxis members set`")
            })
        })
        .collect())
}

/// Writes one audit row in the older shape (actor, action, reason,
/// detail; the post as its object), with how the act was done (a
/// moderator's address deciding by email, `audit::how_of` an actor's
/// name otherwise).
#[allow(clippy::too_many_arguments)]
pub(super) fn log_decision_how(
    conn: &impl Queries,
    community: CommunityId,
    post: Option<i64>,
    actor: &str,
    how: super::audit::How,
    action: &str,
    reason: Option<&str>,
    detail: Option<&str>,
    at: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO decisions (community_id, post_id, actor, action, reason, detail, at, how,
                                object_kind, object_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN CAST(?2 AS BIGINT) IS NULL THEN NULL ELSE 'post' END, ?2)",
        params![
            community.0,
            post,
            actor,
            action,
            reason,
            detail,
            at,
            how.as_str()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{Actor, AuditFilter, How};

    fn store() -> Store {
        let s = Store::open_in_memory().unwrap();
        s.conn
            .execute("INSERT INTO communities (id, slug, name, address, created_at) VALUES (1, 'health', 'Health', 'h@example.test', 0)", params![])
            .unwrap();
        s
    }

    fn new(email: &str, name: &str, organisation: &str) -> NewMember {
        NewMember {
            email: email.into(),
            fields: MemberFields {
                name: Some(name.into()),
                organisation: Some(organisation.into()),
                ..MemberFields::default()
            },
        }
    }

    #[test]
    fn a_page_of_members_matches_any_field_ignoring_case_and_counts_them_all() {
        let mut s = store();
        let c = CommunityId(1);
        let mut all = vec![
            new("asha@example.org", "Asha Rao", "PHFI"),
            new("ravi@example.org", "Ravi Kumar", "JEEViKA"),
        ];
        all.extend((0..7).map(|i| new(&format!("m{i}@phfi.example.org"), "M", "")));
        s.add_members(c, &all, "test").unwrap();
        let emails = |(rows, total): (Vec<Member>, i64)| {
            (rows.into_iter().map(|m| m.email).collect::<Vec<_>>(), total)
        };
        assert_eq!(
            emails(s.members_page(c, " jeevika ", 0, 100).unwrap()),
            (vec!["ravi@example.org".to_string()], 1)
        );
        assert_eq!(emails(s.members_page(c, "ASHA r", 0, 100).unwrap()).1, 1);
        // "phfi": Asha's organisation and seven addresses; a page of three.
        let (page, total) = emails(s.members_page(c, "phfi", 3, 3).unwrap());
        assert_eq!(total, 8);
        assert_eq!(
            page,
            [
                "m2@phfi.example.org",
                "m3@phfi.example.org",
                "m4@phfi.example.org"
            ]
        );
        assert_eq!(s.members_page(c, "", 0, 100).unwrap().1, 9);
        assert_eq!(s.members_page(c, "nobody", 0, 100).unwrap(), (vec![], 0));
    }

    #[test]
    fn a_change_is_audited_as_the_store_acts_when_it_names_the_same_person() {
        let mut s = store();
        let c = CommunityId(1);
        s.add_members(c, &[new("asha@example.org", "Asha", "")], "cli-user")
            .unwrap();
        s.act_as(Actor {
            who: "Meera Iyer".into(),
            how: How::Web,
        });
        let f = MemberFields {
            delivery: Some(Delivery::Digest),
            ..MemberFields::default()
        };
        s.set_member(c, "asha@example.org", &f, "Meera Iyer")
            .unwrap();
        s.set_member(c, "asha@example.org", &f, "web").unwrap();
        let log = s
            .audit(&AuditFilter {
                limit: 10,
                ..AuditFilter::default()
            })
            .unwrap();
        let rows: Vec<(&str, &str)> = log
            .iter()
            .map(|r| (r.actor.as_str(), r.how.as_str()))
            .collect();
        assert_eq!(
            rows,
            [("web", "web"), ("Meera Iyer", "web"), ("cli-user", "cli")]
        );
    }
}
