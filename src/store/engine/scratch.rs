//! A PostgreSQL database made for one unit test (on the server
//! PRAXIS_TEST_POSTGRES names) and dropped when it ends.

use super::postgres::Client;

/// A database made for one unit test on the server PRAXIS_TEST_POSTGRES
/// names, dropped when the test ends.
pub(crate) struct Scratch {
    /// The server's admin URL.
    pub(crate) admin: String,
    /// This database's name.
    name: String,
    /// Its URL.
    pub url: String,
}

impl Scratch {
    /// A new empty database, or None when no server is named (a panic
    /// when PRAXIS_TEST_REQUIRE_POSTGRES says one must be).
    pub(crate) fn create() -> Option<Scratch> {
        let admin = match std::env::var("PRAXIS_TEST_POSTGRES") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                assert!(
                    std::env::var_os("PRAXIS_TEST_REQUIRE_POSTGRES").is_none(),
                    "PRAXIS_TEST_REQUIRE_POSTGRES is set but PRAXIS_TEST_POSTGRES is not"
                );
                return None;
            }
        };
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "praxis_u{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        Client::connect(&admin, None)
            .and_then(|c| c.execute_batch(&format!("CREATE DATABASE {name}")))
            .expect("the test server makes a database");
        let base = admin.rsplit_once('/').expect("a URL with a database").0;
        Some(Scratch {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Ok(c) = Client::connect(&self.admin, None) {
            let _ = c.execute_batch(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
