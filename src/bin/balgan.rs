//! The `balgan` command.
//!
//! - `balgan info`: the adapter balgan chooses, why its backend, and its
//!   limits (non-zero exit, with the fix, when there is none); `--backend`
//!   prints one line for scripts, e.g. `vulkan cpu`.
//! - `balgan data summary`: a dataset's per-class counts and imbalance rate,
//!   and the counts under each imbalance recipe.
//! - `balgan train`, `generate`, `rebalance`, `eval`, `report`: train a
//!   balancing model into a run directory and use it.
//! - `balgan fid A B`: FID between two .npy/.npz feature files (or mu/sigma)
//!   or image folders (through a saved feature extractor).
//! - `balgan demo`: SGBGAN on Fashion-MNIST at IR 100 (15 minutes on a GPU,
//!   15 adversarial epochs of the CPU-sized model on a CPU adapter),
//!   evaluated and reported.

use std::path::PathBuf;
use std::process::ExitCode;

use balgan::cli::data::{summary, SummaryOptions};
use balgan::cli::demo::{demo, DemoArgs};
use balgan::cli::eval::{eval, EvalArgs};
use balgan::cli::fid::{fid_command, FidArgs};
use balgan::cli::generate::{generate, rebalance, GenerateArgs, RebalanceArgs, RebalanceFormat};
use balgan::cli::info::info;
use balgan::cli::report::report;
use balgan::cli::train::{resume_with, train, validate_budget, ResumeOptions, TrainArgs};
use balgan::data::imbalance::Recipe;
use balgan::data::{DataConfig, DatasetKind, Split};
use balgan::models::{ModelKind, Preset};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "balgan", version, about = "GPU engine for class-rebalancing VAEs and GANs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the adapter balgan chooses (honours BALGAN_BACKEND and BALGAN_ADAPTER), why, and its limits.
    Info {
        /// Print only the backend and adapter type, e.g. `vulkan cpu` or `gl cpu`
        /// (after the self-test; nothing on stdout and a non-zero exit when no adapter works).
        #[arg(long)]
        backend: bool,
    },
    /// Inspect datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Train a balancing model into a run directory (or continue one with --resume).
    Train(Box<TrainCli>),
    /// Per-class FID, KID, SSIM and accuracy on generated images of a run, and the downstream classifier measures.
    Eval {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
        /// Test images per class to compare with (as many are generated).
        #[arg(long, default_value_t = 1000)]
        per_class: usize,
        /// Training images per class for the FID feature extractor.
        #[arg(long, default_value_t = 500)]
        extractor_per_class: usize,
        /// Epochs of the FID feature extractor.
        #[arg(long, default_value_t = 10)]
        extractor_epochs: usize,
        /// Images per training step of the FID feature extractor (at least 2).
        #[arg(long, default_value_t = balgan::cli::eval::EXTRACTOR_BATCH)]
        extractor_batch: usize,
        /// Channels of the feature extractor's first stage (its cost grows with the square).
        #[arg(long, default_value_t = balgan::cli::eval::EXTRACTOR_WIDTH)]
        extractor_width: usize,
        /// Epochs of each downstream classifier (the most, with --downstream-schedule s3vae).
        #[arg(long, default_value_t = 10)]
        downstream_epochs: usize,
        /// The downstream classifiers' network: small (balgan's residual CNN) or
        /// resnet18 (the papers' ResNet-18, CIFAR form; slow on a CPU adapter:
        /// lower --downstream-width).
        #[arg(long, default_value = "small")]
        downstream_classifier: balgan::metrics::classifier::Architecture,
        /// Channels of the downstream classifiers' first stage (ResNet-18's is 64).
        #[arg(long, default_value_t = balgan::cli::eval::DOWNSTREAM_WIDTH)]
        downstream_width: usize,
        /// adam (lr 1e-3, every epoch) or s3vae (SGD lr 1e-4, momentum 0.9,
        /// weight decay 1e-3, batch 64, early stopping on a 10 % validation split).
        #[arg(long, default_value = "adam")]
        downstream_schedule: balgan::cli::eval::DownstreamSchedule,
        /// Skip the downstream classifiers (imbalanced, oversampled, with generated images).
        #[arg(long)]
        no_downstream: bool,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
    /// FID between two sets of features, as `python -m pytorch_fid` computes it.
    ///
    /// Each path is a .npy of features [N, D], or a .npz with `mu` [D] and
    /// `sigma` [D, D] (pytorch_fid's --save-stats) or a features array
    /// (`features`, or its only float [N, D] array); other members (labels,
    /// images) are ignored. Prints `FID: <value>` and, per side, N, D and the
    /// source. An image folder is read through balgan's feature extractor
    /// (--extractor FILE or --run RUN, after `balgan eval --run RUN`), named
    /// with its fingerprint in the output.
    Fid {
        /// First .npy or .npz, or image folder (one sub-folder per class, or flat).
        path_a: PathBuf,
        /// Second .npy or .npz (same D), or image folder.
        path_b: PathBuf,
        /// A saved feature extractor for image folders (as `balgan eval` caches it in RUN/eval/).
        #[arg(long)]
        extractor: Option<PathBuf>,
        /// Read image folders with the extractor `balgan eval --run RUN` cached.
        #[arg(long)]
        run: Option<PathBuf>,
        /// Side images are resized to (default: the run's image size, else 32).
        #[arg(long)]
        image_size: Option<usize>,
        /// Print nothing but the result and errors.
        #[arg(long)]
        quiet: bool,
    },
    /// Generate images of chosen classes from a run: OUT/<class>/syn_<seed>_<i>.png and a manifest.
    Generate {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
        /// A class name or index, or `all` (repeatable).
        #[arg(long = "class", required = true)]
        classes: Vec<String>,
        /// Images per class.
        #[arg(long)]
        count: usize,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        quiet: bool,
    },
    /// Write the run's training set plus generated images so every class reaches the majority count.
    Rebalance {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
        /// Output directory (an image folder under OUT/images and/or IDX files, and manifest.csv).
        #[arg(long)]
        out: PathBuf,
        /// folder, idx or both.
        #[arg(long, default_value = "both")]
        format: RebalanceFormat,
        /// Images per class after rebalancing (default: the largest class's count).
        #[arg(long)]
        target: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        quiet: bool,
    },
    /// Write RUN/report.md: training summary, per-class FID/KID/SSIM, samples and loss plots.
    Report {
        /// The run directory.
        #[arg(long)]
        run: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
    /// A paper's protocol end to end with a verdict per claim: sgbgan-table3,
    /// aggan-multiclass, aggan-pair, cs-acgan-step, s3vae-discard.
    Experiment(Box<ExperimentCli>),
    /// SGBGAN on Fashion-MNIST at IR 100: trained (15 minutes on a GPU; on a CPU adapter the CPU-sized
    /// model for 15 adversarial epochs), then eval and report.
    Demo {
        /// Training budget in minutes (default: 15 on a GPU; on a CPU adapter such as lavapipe, which trains
        /// a fixed 15 adversarial epochs, a cap of 30); evaluation follows.
        #[arg(long)]
        budget_minutes: Option<f64>,
        /// Run directory (default: runs/demo, or runs/demo-N when that exists).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Directory holding Fashion-MNIST (or set BALGAN_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(clap::Args)]
struct ExperimentCli {
    /// The protocol: sgbgan-table3 (FID/KID/SSIM at IR 5–100), aggan-multiclass
    /// (ACSA, F1, G-mean of a classifier on data augmented by each model),
    /// aggan-pair (sandal against sneaker at IR 10–100), cs-acgan-step (class 0
    /// with 60–95 % removed: diversity and accuracy of its generated images),
    /// s3vae-discard (a class loses 60–97.5 % of its images; S3VAE §3.2's four groups).
    protocol: balgan::cli::experiment::Protocol,
    /// The experiment's directory (cells, cached measures, report.md); a re-run continues it.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seeds 0..N (each cell is trained and measured once per seed).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Training time of all model cells together, split evenly among them.
    #[arg(long)]
    budget_minutes: Option<f64>,
    /// A subset of the protocol's models, comma-separated (e.g. s3vae).
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<ModelKind>>,
    /// Discard or removal rates, comma-separated fractions (s3vae-discard:
    /// 0.6,0.8,0.9,0.95,0.975; cs-acgan-step: 0.6,0.8,0.95).
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Imbalance ratios, comma-separated (sgbgan-table3: 5,20,50,100; aggan-pair: 10,50,100).
    #[arg(long, value_delimiter = ',')]
    irs: Option<Vec<f64>>,
    /// aggan-pair's positive (minority) class.
    #[arg(long, default_value_t = 5)]
    positive: u32,
    /// aggan-pair's negative class.
    #[arg(long, default_value_t = 7)]
    negative: u32,
    /// Test images per class the evaluation compares with.
    #[arg(long, default_value_t = 1000)]
    eval_per_class: usize,
    /// The class the protocol reduces.
    #[arg(long, default_value_t = 0)]
    class: u32,
    /// fashion-mnist (default), mnist, cifar10 or folder.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Directory holding the dataset.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Side the images are resized to (default: the preset's, else 28).
    #[arg(long)]
    image_size: Option<usize>,
    /// At most this many training images of each class, before the protocol's
    /// recipe (a seeded choice): sizes the experiment for a CPU adapter.
    #[arg(long)]
    train_per_class: Option<usize>,
    /// Model settings of every cell: a preset (cpu sizes the models for a machine without a GPU).
    #[arg(long)]
    preset: Option<Preset>,
    /// Epochs of every model cell (default: the model's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Pre-training epochs of every cell that pre-trains (default: the model's).
    #[arg(long)]
    ae_epochs: Option<usize>,
    /// Model settings of every cell as key=value.
    #[arg(long)]
    set: Vec<String>,
    /// The downstream classifier: small or resnet18.
    #[arg(long, default_value = "small")]
    classifier: balgan::metrics::classifier::Architecture,
    /// Channels of its first stage.
    #[arg(long, default_value_t = balgan::cli::eval::DOWNSTREAM_WIDTH)]
    classifier_width: usize,
    /// adam, or s3vae (the paper's: SGD, early stopping on a validation split).
    #[arg(long, default_value = "adam")]
    schedule: balgan::cli::eval::DownstreamSchedule,
    /// Most epochs of each downstream classifier.
    #[arg(long, default_value_t = 10)]
    classifier_epochs: usize,
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct TrainCli {
    /// Continue the run in this directory from its last checkpoint (other options are ignored).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// sgbgan, bagan-gp, bagan, dcgan, cwgan-gp (Wasserstein), cwgan-gp-bce
    /// (the cross-entropy loss BAGAN-GP's code trains its baseline with), and
    /// with ACGAN's two-headed discriminator: acgan, cs-acgan
    /// (CostSensitive-ACGAN), lsgan, wgan-gp, wgan (weight clipping, RMSprop),
    /// egan (E-GAN) and aggan (E-GAN with simulated annealing); the
    /// conditional VAEs cvae (C-VAE) and s3vae (S3VAE).
    #[arg(long, default_value = "sgbgan")]
    model: ModelKind,
    /// Start from a named set of settings instead of the model's defaults:
    /// sgbgan-paper gives every model SGBGAN's Table 2 settings (latent 128,
    /// batch 128, SGBGAN's Adam settings and epochs; λ = 5, 5 critic updates
    /// per batch where there is a gradient penalty), its comparison protocol;
    /// cpu sizes a model for a machine without a GPU (width 8, latent 32, no
    /// self-attention, batch 32, 1 critic update, lr 5e-4, 28×28: what
    /// `balgan demo` trains there). --epochs, --ae-epochs, --batch, --image-size
    /// and --set override it.
    #[arg(long)]
    preset: Option<Preset>,
    /// fashion-mnist (default), cifar10 or folder (one sub-folder per class).
    #[arg(long, default_value = "fashion-mnist")]
    dataset: DatasetKind,
    /// Directory holding the dataset (or set BALGAN_DATA for Fashion-MNIST).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Imbalance recipe applied to the training split, e.g. ir:100, bagan-gp:fashion-mnist;
    /// aggan-pair:POS,NEG,ir=R keeps two classes (negative 0, positive 1), in the test split too.
    #[arg(long, value_parser = recipe_arg)]
    imbalance: Option<Recipe>,
    /// At most this many images of each class of the training split, a seeded
    /// choice made before the imbalance recipe (recorded in config.toml).
    #[arg(long)]
    train_per_class: Option<usize>,
    /// Side the images are resized to (BAGAN-GP and SGBGAN use 64; default
    /// 64, or the preset's: 28 for --preset cpu).
    #[arg(long)]
    image_size: Option<usize>,
    /// Adversarial epochs, or the VAE's for cvae and s3vae (default: the model's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Pre-training epochs: autoencoder or SA-GVAE (default: the model's).
    #[arg(long)]
    ae_epochs: Option<usize>,
    /// Batch size (default 128).
    #[arg(long)]
    batch: Option<usize>,
    /// Seed of everything: weights, batches, noise, the imbalance selection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Run directory (default: runs/MODEL-DATASET-RECIPE).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a checkpoint every this many steps.
    #[arg(long, default_value_t = 200)]
    checkpoint_every: u64,
    /// Stop (resumably) after this many minutes.
    #[arg(long)]
    budget_minutes: Option<f64>,
    /// Share of the budget for pre-training.
    #[arg(long, default_value_t = 0.3)]
    pretrain_share: f64,
    /// Any model setting as key=value (e.g. gp_weight=10, n_critic=5,
    /// critic_schedule=per-batch|fresh-batches, critic_init=random, gp_alpha=normal,
    /// fake_labels=real|uniform).
    #[arg(long = "set")]
    set: Vec<String>,
    /// With --resume: continue although the training data changed since the
    /// run started (otherwise refused, with the difference).
    #[arg(long)]
    allow_data_change: bool,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Per-class counts and imbalance rate, then the counts each imbalance recipe keeps.
    Summary {
        /// fashion-mnist (default; found without --data when the Debian package
        /// dataset-fashion-mnist is installed), cifar10, or folder (one sub-folder per class).
        #[arg(long, default_value = "fashion-mnist")]
        dataset: DatasetKind,
        /// Directory holding the dataset (or set BALGAN_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: Split,
        /// Square size images from a folder are resized to.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// An imbalance recipe, e.g. ir:100, bagan-gp:fashion-mnist, aggan:fashion-mnist,
        /// step:mu=0.1,rho=20, discard:class=0,rate=0.95 (repeatable; default: the
        /// published ones for the dataset).
        #[arg(long = "imbalance", value_parser = recipe_arg)]
        recipes: Vec<Recipe>,
        /// Seed of the random selection.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// An imbalance recipe from the command line, its data-independent numbers
/// checked (IR ≥ 1, rates below 1, ...), so that a bad one is reported before
/// any device is opened or dataset looked for.
fn recipe_arg(s: &str) -> balgan::Result<Recipe> {
    let r: Recipe = s.parse()?;
    r.check()?;
    Ok(r)
}

fn experiment_command(e: ExperimentCli) -> balgan::Result<()> {
    let dev = device(e.quiet)?;
    let out = e
        .out
        .unwrap_or_else(|| PathBuf::from("experiments").join(e.protocol.name()));
    let image_size = e.image_size.or(e.preset.and_then(|p| p.image_size())).unwrap_or(28);
    balgan::cli::experiment::experiment(
        &dev,
        &balgan::cli::experiment::ExperimentArgs {
            protocol: e.protocol,
            out,
            seeds: e.seeds,
            budget_minutes: e.budget_minutes,
            models: e.models,
            rates: e.rates,
            irs: e.irs,
            pair: (e.positive, e.negative),
            eval_per_class: e.eval_per_class,
            class: e.class,
            dataset: e.dataset,
            data: e.data,
            image_size,
            preset: e.preset,
            train_per_class: e.train_per_class,
            epochs: e.epochs,
            ae_epochs: e.ae_epochs,
            set: e.set,
            classifier: e.classifier,
            classifier_width: e.classifier_width,
            schedule: e.schedule,
            classifier_epochs: e.classifier_epochs,
            quiet: e.quiet,
        },
    )
    .map(|_| ())
}

fn device(quiet: bool) -> balgan::Result<balgan::Device> {
    balgan::Device::with_options(balgan::DeviceOptions {
        quiet,
        ..balgan::DeviceOptions::from_env()
    })
}

fn train_command(t: TrainCli) -> balgan::Result<()> {
    // Flags first: a bad number costs nothing, not even the device's start.
    validate_budget(t.budget_minutes, t.pretrain_share)?;
    let dev = device(t.quiet)?;
    if let Some(dir) = t.resume {
        resume_with(
            &dev,
            &dir,
            &ResumeOptions {
                budget_minutes: t.budget_minutes,
                quiet: t.quiet,
                allow_data_change: t.allow_data_change,
            },
        )?;
        return Ok(());
    }
    let args = TrainArgs {
        model: t.model,
        preset: t.preset,
        data: DataConfig {
            dataset: t.dataset.name().into(),
            path: t.data,
            imbalance: t.imbalance.map(|r| r.to_string()),
            image_size: t
                .image_size
                .or_else(|| t.preset.and_then(Preset::image_size))
                .unwrap_or(64),
            seed: t.seed,
            holdout: DataConfig::DEFAULT_HOLDOUT,
            train_per_class: t.train_per_class,
        },
        epochs: t.epochs,
        ae_epochs: t.ae_epochs,
        batch: t.batch,
        seed: t.seed,
        out: t.out,
        checkpoint_every: t.checkpoint_every,
        budget_minutes: t.budget_minutes,
        pretrain_share: t.pretrain_share,
        quiet: t.quiet,
        set: t.set,
    };
    train(&dev, &args)?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info { backend } => info(backend),
        Command::Train(t) => train_command(*t),
        Command::Eval {
            run,
            per_class,
            extractor_per_class,
            extractor_epochs,
            extractor_batch,
            extractor_width,
            downstream_epochs,
            downstream_classifier,
            downstream_width,
            downstream_schedule,
            no_downstream,
            seed,
            quiet,
        } => device(quiet).and_then(|dev| {
            eval(
                &dev,
                &EvalArgs {
                    run,
                    per_class: Some(per_class),
                    extractor_per_class,
                    extractor_epochs,
                    extractor_batch,
                    extractor_width,
                    downstream: !no_downstream,
                    downstream_epochs,
                    downstream_baselines: true,
                    downstream_classifier,
                    downstream_width,
                    downstream_schedule,
                    seed,
                    quiet,
                },
            )
            .map(|_| ())
        }),
        Command::Generate {
            run,
            classes,
            count,
            out,
            seed,
            quiet,
        } => device(quiet).and_then(|dev| {
            generate(
                &dev,
                &GenerateArgs {
                    run,
                    classes,
                    count,
                    out,
                    seed,
                    quiet,
                },
            )
        }),
        Command::Rebalance {
            run,
            out,
            format,
            target,
            seed,
            quiet,
        } => device(quiet).and_then(|dev| {
            rebalance(
                &dev,
                &RebalanceArgs {
                    run,
                    out,
                    format,
                    target,
                    seed,
                    quiet,
                },
            )
        }),
        Command::Fid {
            path_a,
            path_b,
            extractor,
            run,
            image_size,
            quiet,
        } => device(quiet).and_then(|dev| {
            fid_command(
                &dev,
                &FidArgs {
                    a: path_a,
                    b: path_b,
                    extractor,
                    run,
                    image_size,
                },
            )
        }),
        Command::Experiment(e) => experiment_command(*e),
        Command::Report { run, quiet } => device(quiet).and_then(|dev| report(&dev, &run, quiet).map(|_| ())),
        Command::Demo {
            budget_minutes,
            out,
            data,
            quiet,
        } => device(quiet).and_then(|dev| {
            demo(
                &dev,
                &DemoArgs {
                    budget_minutes,
                    out,
                    data,
                    quiet,
                },
            )
            .map(|_| ())
        }),
        Command::Data {
            command:
                DataCommand::Summary {
                    dataset,
                    data,
                    split,
                    size,
                    recipes,
                    seed,
                },
        } => summary(&SummaryOptions {
            dataset,
            data,
            split,
            size,
            recipes,
            seed,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("balgan: {e}");
            ExitCode::FAILURE
        }
    }
}
