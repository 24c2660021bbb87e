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
//!   copy), [`audit`] (records, hash chain, checkpoints, verification, export).
//! - [`store`]: SQLite or PostgreSQL through sqlx; one writer per gateway that group-commits
//!   signals, deliveries, audit records, registry changes and prunings; replicas share one
//!   audit chain. [`telemetry`]: metrics, health and span export.
//! - [`identity`]: the rustls server configuration and client-certificate verification, the
//!   person behind a token, the development PKI; the one place that installs the ring provider.
//! - [`exchange`]: the use cases (send, deliveries, registry changes, audit reading,
//!   retention) and the gateway's state and background jobs.
//! - [`api`]: the tonic services; the only place that knows prost types and maps errors to
//!   `tonic::Status`, with one span per RPC.
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
pub mod database;
pub mod exchange;
pub mod filter;
pub mod identity;
pub mod ids;
#[cfg(test)]
mod layering;
pub mod policy;
pub mod registry;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod toml_file;
