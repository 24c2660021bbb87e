//! Ketenpoort: a secure, purpose-bound exchange of LVV case signals between partner systems.
//!
//! # Layout
//!
//! In the order a signal travels through the gateway:
//!
//! - [`api`]: the tonic services; the only place that knows prost types and maps errors to
//!   `tonic::Status`.
//! - [`identity`]: the rustls server configuration, client-certificate verification and the
//!   certificate → partner mapping; the one place that installs the ring crypto provider.
//! - [`registry`]: the partners, their roles, receiving purposes and certificates;
//!   [`lifecycle`]: the operators' changes to it.
//! - [`catalogue`]: the signal catalogue as compiled descriptors, with sensitivity classes.
//! - [`policy`]: purposes, legal bases and rules; authorization returns a [`policy::Permit`].
//! - [`filter`]: builds each receiver's own copy of a payload from a permit.
//! - [`store`]: SQLite or PostgreSQL through sqlx; one writer per gateway that group-commits
//!   signals, deliveries (and their expiry) and audit records; replicas share one audit chain.
//! - [`delivery`]: wakes waiting subscribers when deliveries are committed.
//! - [`audit`]: audit records and their hash chain.
//! - [`telemetry`]: Prometheus metrics and the health report, on their own listener; span
//!   export to an OpenTelemetry collector when configured.
//! - [`server`]: wires the above into a running gateway; [`config`] holds its settings and
//!   [`clock`] the one way times are stored and shown.
//!
//! The `ketenpoort` binary (`src/main.rs`) is a thin CLI over these modules.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod catalogue;
pub mod certificate;
pub mod clock;
pub mod config;
pub mod database;
pub mod filter;
pub mod identity;
pub mod ids;
pub mod lifecycle;
pub mod policy;
pub mod registry;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod toml_file;
