//! `praxis outbox flush`: the sender run until nothing is due, then stopped,
//! like `sendmail -q` for an MTA's queue. For a host that sends from cron
//! rather than a daemon, and for `praxis demo`.
//!
//! It is the daemon's own sender (same claims, retries, bounce scoring and
//! crash bound), so flushing while `praxis serve` runs is refused by the
//! sender's lock rather than sending anything twice.

use std::time::Duration;

use tracing::warn;

use super::{DeliverError, Sender};
use crate::config::Config;
use crate::store::Store;

/// How often the outbox is looked at while flushing.
const LOOK: Duration = Duration::from_millis(100);

/// Sends every delivery due now; returns when each has been accepted,
/// failed for good, or rescheduled for a later retry.
pub async fn flush(config: Config) -> Result<(), DeliverError> {
    let db = config.database().map_err(DeliverError::Setup)?;
    let sender = Sender::with_system_dns(config)?;
    let store = Store::open_database(&db)?;
    sender
        .run(async move {
            loop {
                tokio::time::sleep(LOOK).await;
                match store.deliveries_due(chrono::Utc::now().timestamp()) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        warn!("cannot read the outbox ({e}); stopping the flush");
                        break;
                    }
                }
            }
        })
        .await
}
