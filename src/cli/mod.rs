//! The `balgan` command's subcommands (the application layer). Each returns
//! `balgan::Result` and prints what the user asked for; `src/bin/balgan.rs`
//! parses the arguments and reports errors.

pub mod data;
