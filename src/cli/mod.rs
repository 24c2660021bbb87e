//! The subcommands of the `ketenpoort` binary, one module per group, and the plumbing they
//! share: who a command acts as and how it calls the gateway ([`args`]), how it prints
//! ([`output`]), and how it reads and writes times ([`times`]). Command modules import this
//! plumbing, never each other.

pub mod args;
pub mod audit;
pub mod bench;
pub mod gateway;
pub mod monitor;
pub mod operator;
pub mod output;
pub mod partner;
pub mod policy;
pub mod status;
pub mod store;
pub mod times;
pub mod token;
