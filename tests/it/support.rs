//! Shared test helpers: a temporary praxis home, the `praxis` binary, the mail stack.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary folder holding a config (the shipped one) and its database.
pub struct Home {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
}

impl Home {
    /// A home with config/praxis.toml copied in.
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            repo().join("config/praxis.toml"),
            dir.path().join("praxis.toml"),
        )
        .unwrap();
        Home { dir }
    }

    /// A home with this config text.
    pub fn with_config(text: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("praxis.toml"), text).unwrap();
        Home { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.path().join("praxis.toml")
    }

    /// `praxis --config <this home's config>` ready for arguments.
    pub fn praxis(&self) -> Command {
        let mut c = Command::cargo_bin("praxis").unwrap();
        c.arg("--config").arg(self.config());
        c.env_remove("PRAXIS_CONFIG");
        for (k, _) in std::env::vars() {
            if k.starts_with("PRAXIS_") && !k.starts_with("PRAXIS_TEST") && k != "PRAXIS_MAILSTACK"
            {
                c.env_remove(k);
            }
        }
        c
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The running mail stack's addresses, from the env file `scripts/mailstack` writes.
pub struct Stack {
    /// IMAP host:port.
    pub imap: String,
    /// SMTP host:port.
    pub smtp: String,
    /// Every user's password.
    pub password: String,
}

/// The mail stack started by `scripts/test`; a clear failure when it is not running.
pub fn stack() -> Stack {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!(
                "{k} is not set: this test needs the real mail stack. Run the tests with `scripts/test`, \
                 or start it with `scripts/mailstack start DIR` and `source DIR/env`"
            )
        })
    };
    Stack {
        imap: var("PRAXIS_TEST_IMAP"),
        smtp: var("PRAXIS_TEST_SMTP"),
        password: var("PRAXIS_TEST_PASSWORD"),
    }
}

impl Stack {
    /// (host, port) of an address.
    pub fn split(addr: &str) -> (String, u16) {
        let (h, p) = addr.rsplit_once(':').unwrap();
        (h.to_string(), p.parse().unwrap())
    }
}
