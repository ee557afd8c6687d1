//! `balgan demo`: the main job on the default data. Fashion-MNIST at IR 100
//! (class 0 whole, the nine others cut to 60 images each), SGBGAN trained for
//! a time budget (SA-GVAE pre-training, then the adversarial phase), then
//! `eval` and `report`.
//!
//! On a GPU it trains at the paper's 64×64, batch 128, for 15 minutes by
//! default. On a CPU adapter (lavapipe) the same run would take days, so it
//! is cut short sensibly: 32×32 images, batch 32, an 8-minute budget of which
//! 60 % goes to pre-training (the VAE learns the classes' shapes quickly and
//! the generator starts from it), and a smaller evaluation without the
//! downstream classifiers. `--budget-minutes` sets the training budget either
//! way (evaluation and the report come after it: a few minutes on lavapipe);
//! the report says which phases were cut and when.

use std::path::PathBuf;

use super::eval::{eval, EvalArgs};
use super::report::report;
use super::run::RunDir;
use super::train::{train, TrainArgs};
use crate::data::fashion_mnist::locate_fashion_mnist;
use crate::data::DataConfig;
use crate::data::Split;
use crate::device::Device;
use crate::error::Result;
use crate::models::ModelKind;

/// Options of `balgan demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoArgs {
    pub budget_minutes: Option<f64>,
    pub out: Option<PathBuf>,
    /// Where Fashion-MNIST is (default: the Debian package's place or `BALGAN_DATA`).
    pub data: Option<PathBuf>,
    pub quiet: bool,
}

/// The first of `runs/demo`, `runs/demo-2`, … that does not exist yet.
fn fresh_dir() -> PathBuf {
    let base = PathBuf::from("runs");
    let mut dir = base.join("demo");
    let mut n = 2;
    while dir.exists() {
        dir = base.join(format!("demo-{n}"));
        n += 1;
    }
    dir
}

/// Run the demo; returns the run directory.
pub fn demo(dev: &Device, args: &DemoArgs) -> Result<RunDir> {
    // Fail early, with the install hint, when the dataset is missing.
    locate_fashion_mnist(Split::Train, args.data.as_deref())?;
    let software = dev.is_software();
    let (size, batch, budget) = if software { (32, 32, 8.0) } else { (64, 128, 15.0) };
    let budget = args.budget_minutes.unwrap_or(budget);
    if !args.quiet {
        println!(
            "balgan demo: SGBGAN on Fashion-MNIST at IR 100, {size}×{size}, batch {batch}, training budget {budget:.1} min{}",
            if software {
                " (CPU adapter: smaller images and batch, see `balgan demo --help`)"
            } else {
                ""
            }
        );
    }
    let out = args.out.clone().unwrap_or_else(fresh_dir);
    let targs = TrainArgs {
        model: ModelKind::Sgbgan,
        preset: None,
        data: DataConfig {
            dataset: "fashion-mnist".into(),
            path: args.data.clone(),
            imbalance: Some("ir:100".into()),
            image_size: size,
            seed: 0,
            holdout: DataConfig::DEFAULT_HOLDOUT,
        },
        epochs: None,
        ae_epochs: None,
        batch: Some(batch),
        seed: 0,
        out: Some(out),
        checkpoint_every: 50,
        budget_minutes: Some(budget),
        pretrain_share: if software { 0.6 } else { 0.3 },
        quiet: args.quiet,
        set: Vec::new(),
    };
    let run = train(dev, &targs)?;
    let eargs = if software {
        EvalArgs {
            run: run.root.clone(),
            per_class: Some(100),
            extractor_per_class: 100,
            extractor_epochs: 5,
            downstream: false,
            quiet: args.quiet,
            ..EvalArgs::default()
        }
    } else {
        EvalArgs {
            run: run.root.clone(),
            quiet: args.quiet,
            ..EvalArgs::default()
        }
    };
    eval(dev, &eargs)?;
    report(dev, &run.root, args.quiet)?;
    Ok(run)
}
