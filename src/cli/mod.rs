//! The `balgan` command's subcommands (the application layer). Each returns
//! `balgan::Result` and prints what the user asked for; `src/bin/balgan.rs`
//! parses the arguments and reports errors.

pub mod data;
pub mod demo;
pub mod eval;
pub mod evolution_report;
pub mod experiment;
pub mod fid;
pub mod generate;
pub mod glance;
pub mod info;
pub mod plot;
pub mod report;
pub mod run;
pub mod train;
