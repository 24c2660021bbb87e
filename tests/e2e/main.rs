//! End-to-end tests: a real gateway on 127.0.0.1, real mutual TLS with certificates generated
//! at test time, a real SQLite (and, in `postgres`, PostgreSQL) database, and the LVV default
//! policy from `config/`.

// Test code: a failed unwrap is a failed test or benchmark, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod audit;
mod bench;
mod browser;
mod cli;
mod cli_pipe;
mod console;
mod console_monitor;
mod console_pages;
mod console_settings;
mod crash;
mod deferral;
mod exchange;
mod export_filters;
mod gateway_services;
mod leases;
mod lifecycle;
mod limits;
mod logboek;
mod logboek_links;
mod monitor;
mod operators;
mod otel;
mod policy_table;
mod postgres;
mod refusals;
mod registry_versions;
mod sign_in_limit;
mod support;
mod telemetry;
mod tls;
mod tls_scan;
