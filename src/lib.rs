//! Ketenpoort: a secure, purpose-bound exchange of LVV case signals between partner systems.
//!
//! # Layout
//!
//! Floors from the bottom up; each module uses only the floors below it.
//!
//! - Vocabulary, with no project imports: [`ids`] (OIN, certificate fingerprint), [`clock`]
//!   (how times are stored and shown; a clock tests can set), [`certificate`] (the facts of a
//!   certificate), [`catalogue`] (the signal catalogue as compiled descriptors, with
//!   sensitivity classes), [`database`] (which database a URL names), [`toml_file`].
//! - Domain, pure: [`config`] (the settings), [`registry`] (partners, roles, purposes,
//!   certificates), [`policy`] (purposes, legal bases, rules and their compiled allowlists;
//!   authorization returns a [`policy::Permit`]), [`filter`] (a permit → each recipient's own
//!   copy), [`audit`] (records, hash chain, checkpoints, verification, export), [`monitor`]
//!   (what the programme monitor counts, quarters, disclosure control of its reports).
//! - [`store`]: SQLite or PostgreSQL through sqlx; one writer per gateway that group-commits
//!   signals, deliveries, audit records, registry changes and prunings; replicas share one
//!   audit chain. [`telemetry`]: metrics, health and span export.
//! - [`identity`]: the rustls server configuration and client-certificate verification, the
//!   person behind a token, the development PKI; the one place that installs the ring provider.
//! - [`exchange`]: the use cases (send, deliveries, registry changes, audit reading,
//!   retention, the programme monitor's counters and reports) and the gateway's state and
//!   background jobs.
//! - [`api`]: the tonic services; the only place that knows prost types and maps errors to
//!   `tonic::Status`, with one span per RPC.
//! - [`console`]: the privacy officers' web console, beside `api`: the audit use cases (and,
//!   for the monitor role, the monitor's report) as HTML pages over TLS, with sign-in by
//!   token and sessions in memory; off by default.
//! - [`server`]: wires the above into a running gateway.
//!
//! The `ketenpoort` binary (`src/main.rs`, `src/cli/`) is a thin CLI over these modules.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod catalogue;
pub mod certificate;
pub mod clock;
pub mod config;
pub mod console;
pub mod database;
pub mod exchange;
pub mod filter;
pub mod identity;
pub mod ids;
pub mod monitor;
pub mod policy;
pub mod registry;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod toml_file;

/// The floors of `src/lib.rs`'s layout, checked: the vocabulary imports nothing of the project
/// but itself, and the domain (config, registry, policy, filter, audit) knows no transport
/// (tonic, prost-generated types), no database (sqlx), no runtime (tokio), and nothing above
/// it. A module that breaks a floor fails this test with the file and line.
#[cfg(test)]
mod layering {
    use std::path::{Path, PathBuf};

    /// The vocabulary floor.
    const VOCABULARY: &[&str] = &[
        "ids.rs",
        "clock.rs",
        "catalogue.rs",
        "certificate.rs",
        "database.rs",
        "toml_file.rs",
    ];
    /// The domain floor: files, or directories with every file below them.
    const DOMAIN: &[&str] = &[
        "config",
        "registry",
        "policy",
        "filter.rs",
        "filter",
        "audit",
    ];
    /// What no domain or vocabulary file may name.
    const ABOVE_THE_DOMAIN: &[&str] = &[
        "tonic",
        "sqlx",
        "tokio",
        "crate::api",
        "crate::store",
        "crate::identity",
        "crate::exchange",
        "crate::server",
        "crate::telemetry",
    ];

    fn files(entries: &[&str]) -> Vec<PathBuf> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut todo: Vec<PathBuf> = entries.iter().map(|e| src.join(e)).collect();
        while let Some(path) = todo.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    todo.push(entry.unwrap().path());
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
        found
    }

    /// Lines of `path` outside comments that contain one of `words`, as `file:line: text`.
    fn offences(path: &Path, words: &[&str], allowed: &[&str]) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim_start().starts_with("//"))
            .filter(|(_, line)| {
                words
                    .iter()
                    .any(|w| line.contains(w) && !allowed.iter().any(|a| line.contains(a)))
            })
            .map(|(i, line)| format!("{}:{}: {}", path.display(), i + 1, line.trim()))
            .collect()
    }

    #[test]
    fn the_domain_knows_no_transport_database_or_runtime() {
        let found: Vec<String> = files(DOMAIN)
            .iter()
            .chain(files(VOCABULARY).iter())
            .flat_map(|file| offences(file, ABOVE_THE_DOMAIN, &[]))
            .collect();
        assert!(
            found.is_empty(),
            "a domain module reaches up:\n{}",
            found.join("\n")
        );
    }

    #[test]
    fn the_vocabulary_imports_only_the_vocabulary() {
        let own: Vec<String> = VOCABULARY
            .iter()
            .map(|f| format!("crate::{}", f.trim_end_matches(".rs")))
            .collect();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let found: Vec<String> = files(VOCABULARY)
            .iter()
            .flat_map(|file| offences(file, &["crate::"], &own))
            .collect();
        assert!(
            found.is_empty(),
            "a vocabulary module imports the project:\n{}",
            found.join("\n")
        );
        assert_eq!(
            files(VOCABULARY).len(),
            VOCABULARY.len(),
            "a vocabulary file is missing"
        );
    }

    #[test]
    fn a_forbidden_import_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.rs");
        std::fs::write(&file, "// tonic in a comment is fine\nuse tonic::Status;\n").unwrap();
        assert_eq!(offences(&file, ABOVE_THE_DOMAIN, &[]).len(), 1);
    }
}
