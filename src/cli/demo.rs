//! `balgan demo`: the main job on the default data. Fashion-MNIST at IR 100
//! (class 0 whole, the nine others cut to 60 images each), SGBGAN trained
//! (SA-GVAE pre-training, then the adversarial phase), then `eval` and
//! `report`.
//!
//! On a GPU it trains the paper's model at 64×64, batch 128, for 15 minutes
//! by default. On a CPU adapter (lavapipe) that model would need days, and a
//! few minutes of it show one blurry shape in every row; there the demo
//! trains the CPU-sized SGBGAN instead ([`Preset::Cpu`]: the same
//! architecture at width 8, Fashion-MNIST's native 28×28, 5 SA-GVAE epochs
//! then [`CPU_ADVERSARIAL_EPOCHS`] adversarial epochs with one critic update
//! per batch: 3,060 steps, 8–9.5 minutes on a 2-core machine), then a
//! smaller evaluation (a width-8 judge, no downstream classifiers) of about 2
//! minutes: the whole demo in 11–13. `--budget-minutes` sets the training
//! budget on a GPU and caps it on a CPU adapter; the report says which
//! phases were cut and when.

use std::path::PathBuf;

use super::eval::{eval, EvalArgs};
use super::glance::minority_accuracy;
use super::report::report;
use super::run::RunDir;
use super::train::{train, TrainArgs};
use crate::data::fashion_mnist::locate_fashion_mnist;
use crate::data::DataConfig;
use crate::data::Split;
use crate::device::Device;
use crate::error::Result;
use crate::models::{ModelKind, Preset};

/// Adversarial epochs on a CPU adapter (204 steps each at batch 32). A fixed
/// amount of work, not a time budget: training is deterministic, so every
/// machine gets the same model, which a 2-core machine trains in about 9
/// minutes. Under a time budget the model was cut wherever the machine's
/// speed put the end, and at lr 5·10⁻⁴ the samples swing between bright
/// and faint phases: the same trajectory, under the same judge, scored 80 %
/// on average cut at 3,120 steps (a faster day) and 32 % cut at 2,645 (a
/// slower one). The 15th epoch's end (3,060 steps) scores 87 %.
pub const CPU_ADVERSARIAL_EPOCHS: usize = 15;
/// The training time a CPU adapter may take at most (minutes): a cap for a
/// much slower machine (Mesa's GL driver runs the epochs in about twice
/// lavapipe's time), not the plan.
pub const CPU_BUDGET_MINUTES: f64 = 30.0;
/// The evaluation on a CPU adapter: test (and generated) images per class,
/// and the classifier that judges them (images per class, epochs, width).
/// More images for fewer epochs judge better than the reverse at the same
/// cost (80 % test accuracy against 79 % for 500 × 4), and width 8 costs a
/// quarter of width 16 (about 2 minutes in all against 5).
const CPU_EVAL_PER_CLASS: usize = 200;
const CPU_EXTRACTOR_PER_CLASS: usize = 1000;
const CPU_EXTRACTOR_EPOCHS: usize = 2;
/// Batches of 32 give the judge four times the steps of the default 128 in
/// the same time: 84 % on real test images instead of 80 %, and 56.5 %
/// instead of 35 % on real shirts, its hardest class.
const CPU_EXTRACTOR_BATCH: usize = 32;
const CPU_EXTRACTOR_WIDTH: usize = 8;

/// Options of `balgan demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoArgs {
    /// `--budget-minutes`: training budget in minutes (default: 15 on a GPU; on a CPU adapter, which trains
    /// [`CPU_ADVERSARIAL_EPOCHS`] epochs, a cap of [`CPU_BUDGET_MINUTES`]); the evaluation comes after it.
    pub budget_minutes: Option<f64>,
    /// `--out`: the run directory (default: the first of `runs/demo`, `runs/demo-2`, … that does not exist).
    pub out: Option<PathBuf>,
    /// Where Fashion-MNIST is (default: the Debian package's place or `BALGAN_DATA`).
    pub data: Option<PathBuf>,
    /// `--quiet`: print nothing but errors.
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
    let (preset, size, batch, epochs, budget) = if software {
        (
            Some(Preset::Cpu),
            28,
            None,
            Some(CPU_ADVERSARIAL_EPOCHS),
            CPU_BUDGET_MINUTES,
        )
    } else {
        (None, 64, Some(128), None, 15.0)
    };
    let budget = args.budget_minutes.unwrap_or(budget);
    if !args.quiet {
        let plan = match epochs {
            Some(e) => format!("{e} adversarial epochs (at most {budget:.1} min)"),
            None => format!("training budget {budget:.1} min"),
        };
        println!(
            "balgan demo: SGBGAN on Fashion-MNIST at IR 100, {size}×{size}, {plan}{}",
            if software {
                " (CPU adapter: the CPU-sized model of `--preset cpu`, see `balgan demo --help`)"
            } else {
                ""
            }
        );
    }
    let out = args.out.clone().unwrap_or_else(fresh_dir);
    let targs = TrainArgs {
        model: ModelKind::Sgbgan,
        preset,
        data: DataConfig {
            dataset: "fashion-mnist".into(),
            path: args.data.clone(),
            imbalance: Some("ir:100".into()),
            image_size: size,
            seed: 0,
            holdout: DataConfig::DEFAULT_HOLDOUT,
            train_per_class: None,
        },
        epochs,
        ae_epochs: None,
        batch,
        seed: 0,
        out: Some(out),
        checkpoint_every: 50,
        budget_minutes: Some(budget),
        // The CPU model's 5 SA-GVAE epochs take about a seventh of its
        // training: the share cuts them only on a much slower machine.
        pretrain_share: 0.3,
        quiet: args.quiet,
        set: Vec::new(),
    };
    let run = train(dev, &targs)?;
    let eargs = if software {
        EvalArgs {
            run: run.root.clone(),
            per_class: Some(CPU_EVAL_PER_CLASS),
            extractor_per_class: CPU_EXTRACTOR_PER_CLASS,
            extractor_epochs: CPU_EXTRACTOR_EPOCHS,
            extractor_batch: CPU_EXTRACTOR_BATCH,
            extractor_width: CPU_EXTRACTOR_WIDTH,
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
    let results = eval(dev, &eargs)?;
    let path = report(dev, &run.root, args.quiet)?;
    if !args.quiet {
        if let Some(m) = minority_accuracy(&results) {
            println!(
                "\nthe minority classes' generated images are classified as their class {:.0} % of the time on \
                 average (worst: {} {:.0} %; chance 10 %); grid: {}; report: {}",
                100.0 * m.mean,
                m.worst_class,
                100.0 * m.worst,
                run.samples_dir().join("final.png").display(),
                path.display()
            );
        }
    }
    Ok(run)
}
