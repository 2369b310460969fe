//! `/c/SLUG/health`: the community's health, the figures `praxis stats`
//! prints, drawn as SVG bar charts per month with a table of the same
//! numbers beside each chart; open to whom `[community.web] health` says
//! (its moderators unless the owner opens it).

use axum::Router;
use axum::extract::{Path, State as Extract};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::chart::{Series, Target, bars};
use crate::config::ArchiveAccess;
use crate::stats::{Figures, Health, default_since, figure};

use super::State;
use super::access::{Standing, Viewer, standing};
use super::page::{Frame, WebError, community, render};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new().route("/c/{slug}/health", get(health))
}

/// One chart as the page shows it: the drawing and its table.
#[derive(Serialize)]
struct Chart {
    /// The heading above it, also the drawing's accessible name.
    title: String,
    /// The SVG, made by `chart::bars` (every label escaped there).
    svg: String,
    /// The table's column headings after "Month".
    columns: Vec<String>,
    /// One row per month: its name and a cell per column.
    rows: Vec<(String, Vec<String>)>,
}

/// One series of a chart: its name and how a month's figures give its value.
type Column = (&'static str, fn(&Figures) -> Option<f64>);

/// A chart of `series` (name, value per month) over the months of `h`.
fn chart(id: &str, title: &str, h: &Health, series: &[Column], target: Option<Target>) -> Chart {
    let labels: Vec<String> = h.months.iter().map(|m| m.label.clone()).collect();
    let drawn: Vec<Series> = series
        .iter()
        .map(|(name, f)| Series {
            name: name.to_string(),
            values: h.months.iter().map(f).collect(),
        })
        .collect();
    Chart {
        title: title.to_string(),
        svg: bars(id, title, &labels, &drawn, target.as_ref()),
        columns: series.iter().map(|(n, _)| n.to_string()).collect(),
        rows: h
            .months
            .iter()
            .map(|m| {
                (
                    m.label.clone(),
                    series.iter().map(|(_, f)| figure(f(m))).collect(),
                )
            })
            .collect(),
    }
}

async fn health(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (c2, v2) = (c.clone(), viewer.clone());
    let h = state
        .db
        .run(move |store| {
            let who = standing(store, &c2, &v2)?;
            let open = match c2.config.web.health {
                ArchiveAccess::Public => true,
                ArchiveAccess::Members => who != Standing::Outsider,
                ArchiveAccess::Moderators => who == Standing::Moderator,
            };
            if !open {
                let whom = match c2.config.web.health {
                    ArchiveAccess::Moderators => "its moderators",
                    _ => "its members",
                };
                return Err(WebError::Forbidden {
                    message: format!(
                        "The health figures of {} are open to {whom} only.",
                        c2.name()
                    ),
                    signin: v2.email.is_none(),
                });
            }
            let now = chrono::Utc::now();
            let today = now.with_timezone(&c2.config.timezone).date_naive();
            Ok(store.community_health(
                c2.id,
                c2.slug(),
                &c2.config,
                default_since(today),
                today,
                now.timestamp(),
            )?)
        })
        .await?;
    let target = f64::from(h.target_working_days);
    let charts = vec![
        chart(
            "queries",
            "Queries asked and answered, by the month asked",
            &h,
            &[
                ("asked", |m| Some(m.queries_asked as f64)),
                ("answered", |m| Some(m.queries_answered as f64)),
            ],
            None,
        ),
        chart(
            "days",
            "Working days from a query to its Consolidated Reply (median)",
            &h,
            &[("median", |m| m.reply_working_days_median)],
            Some(Target {
                value: target,
                name: format!("target: {target:.0}"),
            }),
        ),
        chart(
            "responses",
            "Responses and responders per query (median)",
            &h,
            &[
                ("responses", |m| m.responses_median),
                ("responders", |m| m.responders_median),
            ],
            None,
        ),
        chart(
            "posts",
            "Posts per week",
            &h,
            &[("posts per week", |m| Some(m.posts_per_week))],
            None,
        ),
        chart(
            "members",
            "Members joining and leaving",
            &h,
            &[
                ("joined", |m| Some(m.joined as f64)),
                ("left", |m| Some(m.left as f64)),
            ],
            None,
        ),
    ];
    let data = serde_json::json!({
        "from": h.period.from.to_string(),
        "to": h.months.last().map(|m| m.to.pred_opt().unwrap_or(m.to).to_string()),
        "f": h.shown(),
        "charts": charts,
    });
    let page = render(
        &state,
        Frame {
            title: "Health".into(),
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/health",
        &data,
    )?;
    Ok(page.into_response())
}
