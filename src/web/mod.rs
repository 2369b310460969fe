//! The web side of `praxis serve`: an axum router on the daemon's tokio
//! runtime serving the community archive, members' pages and the RFC 8058
//! one-click endpoint, on loopback or a Unix socket behind an https front end.
//!
//! Every URL here is a contract (DESIGN.md, "Web contract"): permanent,
//! complete without JavaScript, rendered from `templates/web/` (overridable
//! per community). The modules:
//!
//! - [`access`]: who the viewer is (a signed session cookie), who may read
//!   a community's archive, CSRF tokens and the `Origin` check for forms;
//! - [`page`]: rendering a page into the layout, the error pages, the
//!   security headers every answer carries;
//! - [`db`]: a small pool of database connections, used off the async
//!   threads;
//! - [`unsubscribe`]: `/u/TOKEN` (and the older `/unsubscribe/…` links);
//! - [`search`]: `/c/SLUG/search`, the grammar `praxis search` reads;
//! - [`archive`]: a community's home, threads, posts, raw messages, mboxes
//!   and kept attachments;
//! - [`replies`]: the Consolidated Reply library, one reply, the Atom
//!   feeds of new threads and of replies;
//! - [`join`]: `/c/SLUG/join` and its confirm link `/c/SLUG/join/TOKEN`;
//! - [`me`]: a member's own page, `/c/SLUG/me/TOKEN`;
//! - [`signin`]: `/signin`, its mailed link `/signin/TOKEN`, `/signout`;
//! - [`forms`]: checking what the members' forms send, and their mail limits;
//! - [`site`]: `/`, `/healthz`, the stylesheet;
//! - [`moderate`]: the moderators' workspace under `/mod/`.
//!
//! Nothing here builds SQL (the store does), trusts member text as markup
//! (handlebars escapes; member HTML goes through ammonia), or changes state
//! on a GET.

pub mod access;
pub mod archive;
pub mod db;
mod forms;
mod health;
mod join;
mod me;
mod moderate;
pub mod page;
pub mod replies;
mod search;
mod signin;
mod site;
mod unsubscribe;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tracing::{info, warn};

use crate::community::Communities;
use crate::config::Listen;
use crate::deliver::links::LinkKey;
use crate::shutdown::Shutdown;

pub use db::Db;
pub use site::probe;

/// Largest request body accepted by every route but the moderators' CSV
/// upload (`/mod/SLUG/members/import`), which sets its own.
const MAX_BODY: usize = 64 * 1024;
/// A request gets this long to be answered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
pub struct AppState {
    /// The communities, resolved once: names, configs, compiled templates.
    pub communities: Communities,
    /// The key that signs links, sessions and form tokens.
    pub key: LinkKey,
    /// The database.
    pub db: Arc<Db>,
    /// `[http] public_url` without a trailing slash: the origin forms must
    /// come from and the start of links in pages; "" when unset (links are
    /// then relative to the host the request came to).
    pub public_url: String,
    /// Whether cookies are `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// The built-in templates, for pages outside any community (`/`,
    /// errors, sign-in).
    pub templates: crate::render::Templates,
    /// How many mails the join and sign-in forms have caused lately, per
    /// client and per address.
    pub limits: access::Limiter,
}

/// Shared state as handlers take it.
pub type State = Arc<AppState>;

/// The web server, built once by `serve`.
#[derive(Clone)]
pub struct WebServer {
    /// What the handlers share.
    state: State,
}

impl WebServer {
    /// A server over the database at `db`, with links checked by `key`.
    pub fn new(
        communities: Communities,
        db: &crate::config::Database,
        key: LinkKey,
        public_url: Option<&str>,
    ) -> anyhow::Result<WebServer> {
        let public_url = public_url.unwrap_or("").trim_end_matches('/').to_string();
        let state = AppState {
            communities,
            key,
            db: Arc::new(Db::open(db)?),
            secure_cookies: public_url.starts_with("https://"),
            public_url,
            templates: crate::render::Templates::new(),
            limits: access::Limiter::default(),
        };
        Ok(WebServer {
            state: Arc::new(state),
        })
    }

    /// Every route, with the layers every answer passes through.
    /// Under the path of `public_url` when it has one (the front end
    /// passes `/praxis/…` through as it is).
    pub fn router(&self) -> Router {
        let app = Router::new()
            .route("/", get(site::index))
            .route("/healthz", get(site::healthz))
            .route("/static/praxis.css", get(site::stylesheet))
            .merge(unsubscribe::routes())
            .merge(search::routes())
            .merge(health::routes())
            .merge(moderate::routes())
            .merge(archive::routes())
            .merge(replies::routes())
            .merge(join::routes())
            .merge(me::routes())
            .merge(signin::routes())
            .fallback(site::not_found)
            .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
            // After the limit above, so only this route takes more.
            .merge(moderate::upload_routes());
        let root = page::root(&self.state).to_string();
        let app = if root.is_empty() {
            app
        } else {
            Router::new().nest(&root, app).fallback(site::not_found)
        };
        app.layer(axum::middleware::from_fn(page::security_headers))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                REQUEST_TIMEOUT,
            ))
            .with_state(self.state.clone())
    }

    /// Answers requests on `listen` until shutdown; requests in progress
    /// finish first.
    pub async fn serve(self, listen: Listen, mut shutdown: Shutdown) -> anyhow::Result<()> {
        let app = self.router();
        let stop = async move { shutdown.recv().await };
        match listen {
            Listen::Tcp(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await?;
                info!(%addr, "web listening");
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await?;
            }
            Listen::Unix(path) => {
                // A socket left by a process that died is in the way.
                if path.exists()
                    && let Err(e) = std::fs::remove_file(&path)
                {
                    warn!(path = %path.display(), "cannot remove an old socket: {e}");
                }
                let listener = tokio::net::UnixListener::bind(&path)?;
                info!(path = %path.display(), "web listening");
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await?;
            }
        }
        Ok(())
    }
}
