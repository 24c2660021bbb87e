//! The subcommands of the `ketenpoort` binary, one module per group.

pub mod audit;
pub mod gateway;
pub mod operator;
pub mod partner;
pub mod policy;
