//! The `balgan` command's subcommands (the application layer). Each returns
//! `balgan::Result` and prints what the user asked for; `src/bin/balgan.rs`
//! parses the arguments and reports errors.
//!
//! # Example
//!
//! ```
//! use balgan::cli::data::published_recipes;
//! use balgan::cli::info::{backend_line, info, self_test};
//! use balgan::data::DatasetKind;
//! use balgan::Device;
//! # fn main() -> balgan::Result<()> {
//! // `balgan info`: the adapter, why its backend, its limits, and a self-test.
//! info(false)?;
//!
//! // `balgan info --backend`: the self-test, then one line, e.g. `vulkan cpu`.
//! let dev = Device::new()?;
//! self_test(&dev)?;
//! let line = backend_line(dev.adapter_info());
//! let (backend, kind) = line.split_once(' ').unwrap();
//! assert!(["vulkan", "metal", "dx12", "gl"].contains(&backend));
//! assert!(["discrete", "integrated", "virtual", "cpu", "other"].contains(&kind));
//!
//! // `balgan data summary` lists, per dataset, the recipes the papers used.
//! let recipes = published_recipes(DatasetKind::FashionMnist);
//! assert_eq!(recipes.len(), 9);
//! assert_eq!(recipes[0].to_string(), "ir:5");
//! # Ok(()) }
//! ```

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
