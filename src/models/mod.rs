//! The published balancing models, built from [`crate::nn`], and the trainer
//! loop they share.
//!
//! Every model implements [`BalancingModel`]: a list of training phases (an
//! autoencoder or VAE pre-training, then the adversarial phase), one
//! optimisation step per mini-batch, class-conditional sampling, and its
//! checkpoint contents. [`trainer`] runs the phases, logs the losses, stops on
//! NaN/Inf and writes resumable checkpoints; [`build`] makes a model from a
//! [`ModelConfig`]. `docs/MODELS.md` lists each model's layers, losses and
//! hyper-parameters with their sources, and the choices the papers leave open.
//!
//! # Example
//!
//! A small conditional DCGAN (16×16 grey images, 3 classes, every layer at
//! width 4 where the papers use 64), untrained, sampling two images of class 2.
//!
//! ```
//! use balgan::models::{build, ModelConfig, ModelKind};
//! use balgan::{Device, Generator};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! let mut cfg = ModelConfig::defaults(ModelKind::Dcgan, 1, 16, 3);
//! cfg.width = 4;
//! cfg.latent = 16;
//! let mut model = build(&dev, &cfg, 0)?;
//! let phases = model.phases();
//! assert_eq!(phases.len(), 1);
//! assert_eq!(phases[0].name, "adversarial");
//!
//! let images = model.sample(&[0, 1, 2, 2], &Generator::new(1))?;
//! assert_eq!(images.shape(), [4, 1, 16, 16]);
//! assert!(images.to_vec()?.iter().all(|v| (-1.0..=1.0).contains(v)));
//! # Ok(()) }
//! ```

pub mod acgan;
pub mod adversarial;
pub mod bagan;
pub mod bagan_gp;
pub mod blocks;
pub mod cvae;
pub mod cwgan_gp;
pub mod dcgan;
pub mod evolutionary;
pub mod gan;
pub mod gp_adversarial;
pub mod offspring;
pub mod pretrained_gan;
mod registry;
pub mod representatives;
pub mod sa_gvae;
pub mod sgbgan;
pub mod trainer;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Checkpoint, CheckpointWriter};
use crate::optim::AdamConfig;
use crate::tensor::{Generator, HostRng, IndexTensor, Tensor, GOLDEN_GAMMA};

pub use blocks::Geometry;
pub use cvae::VaeSampling;
pub use evolutionary::Mutation;
pub use registry::build;

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// SA-GVAE pre-training, weight transfer, then BAGAN-GP's adversarial phase with λ = 5.
    Sgbgan,
    /// Supervised autoencoder pre-training, then the GP adversarial phase with λ = 10.
    BaganGp,
    /// Autoencoder, class-conditional latent Gaussians, a (K+1)-way discriminator.
    Bagan,
    /// Conditional DCGAN (non-saturating loss, no penalty).
    Dcgan,
    /// A conditional WGAN-GP (Wasserstein critic loss + 10·GP) with the
    /// settings of BAGAN-GP's cWGAN-GP script. `cwgan-gp-wasserstein`, its
    /// earlier name, is still accepted.
    #[serde(alias = "cwgan-gp-wasserstein")]
    CwganGp,
    /// The loss BAGAN-GP's code trains its cWGAN-GP baseline with: sigmoid
    /// cross-entropy with a wrong-label term + 10·GP (not a Wasserstein loss).
    CwganGpBce,
    /// ACGAN: a discriminator with a source and a class head.
    Acgan,
    /// CostSensitive-ACGAN: ACGAN with the class terms weighted per class,
    /// the weights the softmax of the class head's per-class errors.
    CsAcgan,
    /// LSGAN with ACGAN's class head (least-squares source loss).
    Lsgan,
    /// WGAN-GP with ACGAN's class head (Wasserstein source loss + λ·GP).
    WganGp,
    /// The original WGAN with ACGAN's class head: Wasserstein source loss,
    /// the critic's weights clipped to ±`weight_clip`, RMSprop.
    Wgan,
    /// E-GAN with ACGAN's class head: each generator update evolves one
    /// offspring per mutation and keeps the fittest.
    Egan,
    /// AGGAN: E-GAN's generations with the Metropolis criterion of simulated
    /// annealing deciding whether the fittest offspring replaces the parent.
    Aggan,
    /// C-VAE: a conditional VAE (the class enters encoder and decoder),
    /// trained on the data, generating from the prior.
    Cvae,
    /// S3VAE: the C-VAE with a Gaussian-noise layer before its heads and
    /// single-sample sampling (it trains on each class's representative).
    S3vae,
}

impl ModelKind {
    /// Every model kind, the values `--model` accepts (besides [`ModelKind::ALIASES`]).
    pub const ALL: [ModelKind; 15] = [
        ModelKind::Sgbgan,
        ModelKind::BaganGp,
        ModelKind::Bagan,
        ModelKind::Dcgan,
        ModelKind::CwganGp,
        ModelKind::CwganGpBce,
        ModelKind::Acgan,
        ModelKind::CsAcgan,
        ModelKind::Lsgan,
        ModelKind::WganGp,
        ModelKind::Wgan,
        ModelKind::Egan,
        ModelKind::Aggan,
        ModelKind::Cvae,
        ModelKind::S3vae,
    ];

    /// Earlier command-line names still accepted, with the model they name now.
    pub const ALIASES: [(&'static str, ModelKind); 1] = [("cwgan-gp-wasserstein", ModelKind::CwganGp)];

    /// The command-line name (`sgbgan`, `bagan-gp`, …).
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sgbgan => "sgbgan",
            ModelKind::BaganGp => "bagan-gp",
            ModelKind::Bagan => "bagan",
            ModelKind::Dcgan => "dcgan",
            ModelKind::CwganGp => "cwgan-gp",
            ModelKind::CwganGpBce => "cwgan-gp-bce",
            ModelKind::Acgan => "acgan",
            ModelKind::CsAcgan => "cs-acgan",
            ModelKind::Lsgan => "lsgan",
            ModelKind::WganGp => "wgan-gp",
            ModelKind::Wgan => "wgan",
            ModelKind::Egan => "egan",
            ModelKind::Aggan => "aggan",
            ModelKind::Cvae => "cvae",
            ModelKind::S3vae => "s3vae",
        }
    }

    /// Whether the model is a GAN (everything but C-VAE and S3VAE).
    pub fn is_gan(self) -> bool {
        !matches!(self, ModelKind::Cvae | ModelKind::S3vae)
    }

    /// Whether the model draws its gradient penalty's α by `gp_alpha`
    /// (SGBGAN, BAGAN-GP and cWGAN-GP; the ACGAN family's WGAN-GP draws
    /// α ~ U(0, 1)).
    pub fn draws_gp_alpha(self) -> bool {
        matches!(
            self,
            ModelKind::Sgbgan | ModelKind::BaganGp | ModelKind::CwganGp | ModelKind::CwganGpBce
        )
    }

    /// Whether the model has a pre-training phase (autoencoder or VAE).
    pub fn pretrains(self) -> bool {
        matches!(self, ModelKind::Sgbgan | ModelKind::BaganGp | ModelKind::Bagan)
    }

    /// The display name (`SGBGAN`, `BAGAN-GP`, …).
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::Sgbgan => "SGBGAN",
            ModelKind::BaganGp => "BAGAN-GP",
            ModelKind::Bagan => "BAGAN",
            ModelKind::Dcgan => "DCGAN",
            ModelKind::CwganGp => "cWGAN-GP",
            ModelKind::CwganGpBce => "cWGAN-GP (cross-entropy)",
            ModelKind::Acgan => "ACGAN",
            ModelKind::CsAcgan => "CostSensitive-ACGAN",
            ModelKind::Lsgan => "LSGAN",
            ModelKind::WganGp => "WGAN-GP",
            ModelKind::Wgan => "WGAN",
            ModelKind::Egan => "E-GAN",
            ModelKind::Aggan => "AGGAN",
            ModelKind::Cvae => "C-VAE",
            ModelKind::S3vae => "S3VAE",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<ModelKind> {
        let s = s.to_ascii_lowercase().replace('_', "-");
        let alias = ModelKind::ALIASES.iter().find(|(a, _)| *a == s).map(|(_, k)| *k);
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .or(alias)
            .ok_or_else(|| {
                let names: Vec<&str> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                Error::invalid(
                    "--model",
                    format!("unknown model '{s}'; use one of {}", names.join(", ")),
                )
            })
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How BAGAN-GP's discriminator body starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticInit {
    /// The trained encoder's convolutions (the paper).
    Encoder,
    /// Fresh weights (the "cWGAN-like" variant the public code instantiates).
    Random,
}

/// How the gradient penalty's interpolation weight α is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlphaDistribution {
    /// α ~ U(0, 1), as WGAN-GP and SGBGAN (the default).
    Uniform,
    /// α ~ N(0, 1), as BAGAN-GP's public code draws it.
    Normal,
}

/// How the critic's updates of the adversarial phase meet the mini-batches.
/// Both make `n_critic` critic updates per generator update; they differ in
/// what an epoch (one pass over the data) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticSchedule {
    /// Every batch: `n_critic` critic updates on that same real batch (fresh
    /// noise and labels for each), then one generator update, as BAGAN-GP's
    /// public code (the Keras WGAN-GP `train_step`) does. An epoch makes
    /// `n_critic` critic updates and one generator update per batch.
    PerBatch,
    /// Every batch one critic update; a generator update after every
    /// `n_critic`-th batch, as WGAN-GP's Algorithm 1 (each critic update on a
    /// new batch). An epoch makes one critic update per batch and a generator
    /// update per `n_critic` batches. The schedule of runs configured before
    /// the setting existed.
    #[default]
    FreshBatches,
}

impl CriticSchedule {
    /// The setting's value in `config.toml` and `--set` (`per-batch`, `fresh-batches`).
    pub fn name(self) -> &'static str {
        match self {
            CriticSchedule::PerBatch => "per-batch",
            CriticSchedule::FreshBatches => "fresh-batches",
        }
    }
}

/// Which labels the fakes of the gradient-penalty models (SGBGAN, BAGAN-GP,
/// cWGAN-GP) are conditioned on in the critic and generator updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FakeLabels {
    /// Drawn uniformly over the classes (BAGAN-GP's code); the setting of
    /// runs configured before it existed.
    #[default]
    Uniform,
    /// The real batch's labels (BAGAN-GP's cWGAN-GP script).
    Real,
}

/// A named set of settings applied over a model's defaults (before
/// `--epochs`, `--batch` and `--set`, which still override it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// SGBGAN's comparison protocol (§4.4: "the same setting of
    /// hyperparameters is also used in the comparison experiment"): every
    /// model of its Table 3 gets SGBGAN's Table 2 settings — latent 128,
    /// batch 128, SGBGAN's Adam settings and epochs, and for the models with
    /// a gradient penalty λ = 5 with SGBGAN's critic schedule.
    SgbganPaper,
    /// A model sized for a CPU adapter (lavapipe, no GPU), where the paper's
    /// 64×64 model trains a few hundred steps an hour: the same architecture
    /// at a width of 8 (SGBGAN at 28×28: GLU stages of 16 and 32 channels, a
    /// critic head of 64), no self-attention, latent 32, batch 32, 1 critic
    /// update per batch, Adam at 5·10⁻⁴ for both players (the top of SGBGAN's
    /// learning-rate grid), 5 pre-training epochs and 20 adversarial ones,
    /// on Fashion-MNIST's native 28×28 unless `--image-size` says otherwise.
    /// What `balgan demo` trains on a CPU adapter.
    Cpu,
}

impl Preset {
    /// Every preset, the values `--preset` accepts.
    pub const ALL: [Preset; 2] = [Preset::SgbganPaper, Preset::Cpu];

    /// The `--preset` name (`sgbgan-paper`, `cpu`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::SgbganPaper => "sgbgan-paper",
            Preset::Cpu => "cpu",
        }
    }

    /// The image side the preset is made for, used when `--image-size` is not given.
    pub fn image_size(self) -> Option<usize> {
        match self {
            Preset::SgbganPaper => None,
            Preset::Cpu => Some(28),
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Preset> {
        let s = s.to_ascii_lowercase().replace('_', "-");
        Preset::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            Error::invalid(
                "--preset",
                format!("unknown preset '{s}'; use one of {}", names.join(", ")),
            )
        })
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that fixes a model: its kind, image geometry and
/// hyper-parameters. Serialised into the run directory's `config.toml`, so
/// `generate` rebuilds the same model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Which model.
    pub model: ModelKind,
    /// Image channels C (1 grey, 3 RGB), as in the training data.
    pub channels: usize,
    /// Side in pixels of the square images (SGBGAN and BAGAN-GP: 64; `--image-size`).
    pub image_size: usize,
    /// Number of classes K in the data.
    pub classes: usize,
    /// Size of the latent vector z: 128 (SGBGAN, BAGAN-GP, cWGAN-GP), 100 (BAGAN's code, DCGAN,
    /// the ACGAN family, E-GAN, AGGAN), 64 for C-VAE and S3VAE (not stated by the paper).
    pub latent: usize,
    /// Images per mini-batch: 128 (SGBGAN, BAGAN-GP, BAGAN, DCGAN, cWGAN-GP), 100 (ACGAN's code:
    /// ACGAN, CostSensitive-ACGAN, LSGAN, WGAN-GP, AGGAN), 64 (WGAN, C-VAE, S3VAE), 32 (E-GAN's code).
    pub batch: usize,
    /// Pre-training epochs (autoencoder or VAE); 0 skips the phase.
    pub ae_epochs: usize,
    /// Adversarial epochs.
    pub gan_epochs: usize,
    /// Adam learning rate of the pre-training phase: 2e-4 (BAGAN-GP; SGBGAN's Table 2, first
    /// column), 5e-5 (BAGAN's code).
    pub ae_lr: f32,
    /// Adam β₁ of the pre-training phase: 0.5 (BAGAN-GP, SGBGAN, BAGAN).
    pub ae_beta1: f32,
    /// Adam β₂ of the pre-training phase: 0.9 (BAGAN-GP's, also SGBGAN's), 0.999 (BAGAN's code).
    pub ae_beta2: f32,
    /// Learning rate of the generator (Adam; RMSprop for the WGAN), and of the VAE for C-VAE
    /// and S3VAE: 2e-4 (BAGAN-GP, cWGAN-GP, DCGAN, ACGAN's and E-GAN's code), 1e-4 (SGBGAN's Table 2,
    /// WGAN-GP), 5e-5 (BAGAN, WGAN), 1e-3 (C-VAE, S3VAE).
    pub g_lr: f32,
    /// Learning rate of the critic (discriminator); the same defaults as `g_lr` (0, unused, for
    /// C-VAE and S3VAE).
    pub d_lr: f32,
    /// Adam β₁ of the adversarial players (and of C-VAE's and S3VAE's VAE): 0.5 (BAGAN-GP, DCGAN,
    /// ACGAN and most others), 0 (WGAN-GP), 0.9 (C-VAE, S3VAE); unused by the WGAN's RMSprop.
    pub beta1: f32,
    /// Adam β₂ of the adversarial players (and of the VAE): 0.9 (SGBGAN, BAGAN-GP, cWGAN-GP,
    /// WGAN-GP), 0.999 (BAGAN, DCGAN, ACGAN, CostSensitive-ACGAN, LSGAN, E-GAN, AGGAN, C-VAE,
    /// S3VAE).
    pub beta2: f32,
    /// Gradient-penalty weight λ.
    pub gp_weight: f32,
    /// Critic updates per generator update.
    pub n_critic: usize,
    /// How those updates meet the batches (absent from the config.toml of
    /// runs configured before the setting: `fresh-batches`, what they ran).
    #[serde(default)]
    pub critic_schedule: CriticSchedule,
    /// Labels of the fakes (GP models only; absent from older config.toml
    /// files: `uniform`, what they ran).
    #[serde(default)]
    pub fake_labels: FakeLabels,
    /// How BAGAN-GP's critic body starts after pre-training: `encoder` (the paper) or `random`
    /// (the public code's "cWGAN-like" critic); cWGAN-GP records `random`, its critic is untrained.
    pub critic_init: CriticInit,
    /// How the gradient penalty's α is drawn in SGBGAN's, BAGAN-GP's and cWGAN-GP's critic step:
    /// `uniform` (WGAN-GP, SGBGAN; the default) or `normal` (BAGAN-GP's code).
    pub gp_alpha: AlphaDistribution,
    /// Layer width (first stage of a 64×64 model; see [`Geometry::width`]).
    /// Absent from older config.toml files: 64, the paper's.
    #[serde(default = "paper_width")]
    pub width: usize,
    /// Self-attention blocks in SA-GVAE and SGBGAN (absent from older
    /// config.toml files: on, the paper's architecture).
    #[serde(default = "yes")]
    pub attention: bool,
    /// Decay β of a moving average of the generator's weights, which
    /// sampling uses ([`crate::nn::Ema`]); 0 samples the live generator, as
    /// the papers do (and as runs configured before the setting did).
    #[serde(default)]
    pub g_ema: f32,
    /// The original WGAN's weight clipping c: every critic weight is held
    /// in [−c, c] after each critic update (0 elsewhere; absent from older
    /// config.toml files).
    #[serde(default)]
    pub weight_clip: f32,
    /// CostSensitive-ACGAN: scale the class weights by K, so that they
    /// average 1 and the class terms start at ACGAN's scale (false: eq. 2 as
    /// written, weights summing to 1, class terms 1/K of ACGAN's; absent
    /// from older files).
    #[serde(default)]
    pub mean_one_class_weights: bool,
    /// Class-balanced batches: each image of a batch first draws a class
    /// uniformly, then an image of it ([`crate::data::BatchOptions::balanced`]),
    /// so a class of 60 images is as present in every batch as one of
    /// 6,000 (false: shuffled epochs, as the papers train; absent from
    /// older files).
    #[serde(default)]
    pub balanced_batches: bool,
    /// E-GAN's and AGGAN's mutations: one offspring per entry each
    /// generation (empty for the other models, and in older config.toml files).
    #[serde(default)]
    pub mutations: Vec<Mutation>,
    /// γ of E-GAN's and AGGAN's fitness F = F_q + γ·F_d (0 elsewhere).
    #[serde(default)]
    pub fitness_gamma: f32,
    /// AGGAN's initial temperature T₀ (0 elsewhere).
    #[serde(default)]
    pub temperature: f32,
    /// AGGAN's cooling factor α: the temperature of generation t is T₀·αᵗ
    /// (0 elsewhere).
    #[serde(default)]
    pub cooling: f32,
    /// σ of C-VAE's and S3VAE's Gaussian-noise layer before the μ and
    /// log σ² heads (S3VAE: 0.1; 0 is no layer, and elsewhere).
    #[serde(default)]
    pub noise_std: f32,
    /// What C-VAE and S3VAE train on (`ordinary` elsewhere).
    #[serde(default)]
    pub vae_sampling: VaeSampling,
    /// Representative images per class under single-sample sampling (0 elsewhere).
    #[serde(default)]
    pub representatives: usize,
    /// K of C-VAE's and S3VAE's loss K·reconstruction + KL (0.1, Table 7; 0 elsewhere).
    #[serde(default)]
    pub recon_weight: f32,
}

fn paper_width() -> usize {
    Geometry::PAPER_WIDTH
}

fn yes() -> bool {
    true
}

impl ModelConfig {
    /// The published hyper-parameters of `model` (see `docs/MODELS.md`) for
    /// images of `channels`×`size`×`size` in `classes` classes.
    pub fn defaults(model: ModelKind, channels: usize, image_size: usize, classes: usize) -> ModelConfig {
        let mut c = ModelConfig {
            model,
            channels,
            image_size,
            classes,
            latent: 128,
            batch: 128,
            ae_epochs: 30,
            gan_epochs: 100,
            ae_lr: 2e-4,
            ae_beta1: 0.5,
            ae_beta2: 0.9,
            g_lr: 2e-4,
            d_lr: 2e-4,
            beta1: 0.5,
            beta2: 0.9,
            gp_weight: 10.0,
            n_critic: 5,
            critic_schedule: CriticSchedule::PerBatch,
            fake_labels: FakeLabels::Uniform,
            critic_init: CriticInit::Encoder,
            gp_alpha: AlphaDistribution::Uniform,
            width: Geometry::PAPER_WIDTH,
            attention: true,
            g_ema: 0.0,
            weight_clip: 0.0,
            mean_one_class_weights: false,
            balanced_batches: false,
            mutations: Vec::new(),
            fitness_gamma: 0.0,
            temperature: 0.0,
            cooling: 0.0,
            noise_std: 0.0,
            vae_sampling: VaeSampling::Ordinary,
            representatives: 0,
            recon_weight: 0.0,
        };
        match model {
            ModelKind::Sgbgan => {
                // Table 2's first column: SA-GVAE lr 2e-4, 15 epochs, β₁ 0.5;
                // G lr 1e-4; D lr 1e-4 (docs/MODELS.md says why this cell).
                c.ae_epochs = 15;
                c.g_lr = 1e-4;
                c.d_lr = 1e-4;
                c.gp_weight = 5.0;
            }
            ModelKind::BaganGp => {}
            ModelKind::CwganGp | ModelKind::CwganGpBce => {
                // BAGAN-GP's cWGAN-GP script: 3 critic updates per batch.
                c.ae_epochs = 0;
                c.critic_init = CriticInit::Random;
                c.n_critic = 3;
                c.fake_labels = FakeLabels::Real;
            }
            ModelKind::Bagan => {
                c.latent = 100;
                c.ae_epochs = 50;
                c.gan_epochs = 50;
                c.ae_lr = 5e-5;
                c.ae_beta1 = 0.5;
                c.ae_beta2 = 0.999;
                c.g_lr = 5e-5;
                c.d_lr = 5e-5;
                c.beta2 = 0.999;
                c.n_critic = 1;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
            }
            ModelKind::Dcgan => {
                c.latent = 100;
                c.ae_epochs = 0;
                c.beta2 = 0.999;
                c.n_critic = 1;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
            }
            ModelKind::Acgan | ModelKind::CsAcgan | ModelKind::Lsgan => {
                // ACGAN's Keras example: z 100, batch 100, Adam 2e-4 (0.5,
                // 0.999), one D and one G update per batch (AGGAN gives its
                // baselines ACGAN's settings).
                c.latent = 100;
                c.batch = 100;
                c.ae_epochs = 0;
                c.beta2 = 0.999;
                c.n_critic = 1;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
            }
            ModelKind::Egan => {
                // E-GAN's code: z 100, batch 32, Adam 2e-4 (0.5, 0.999), 3
                // discriminator updates (each on a new batch) per
                // generation, γ 0.01 (its PyTorch CIFAR script).
                c.latent = 100;
                c.batch = 32;
                c.ae_epochs = 0;
                c.beta2 = 0.999;
                c.n_critic = 3;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
                c.mutations = Mutation::ALL.to_vec();
                c.fitness_gamma = 0.01;
            }
            ModelKind::Aggan => {
                // AGGAN states no optimiser settings: ACGAN's (those of its
                // baselines), one D update per generation, E-GAN's γ, and
                // the paper's default T₀ = 1000, α = 0.99.
                c.latent = 100;
                c.batch = 100;
                c.ae_epochs = 0;
                c.beta2 = 0.999;
                c.n_critic = 1;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
                c.mutations = Mutation::ALL.to_vec();
                c.fitness_gamma = 0.01;
                c.temperature = 1000.0;
                c.cooling = 0.99;
            }
            ModelKind::Cvae | ModelKind::S3vae => {
                // Not stated by S3VAE beyond L = 5 and K = 0.1: Adam 1e-3
                // (0.9, 0.999), batch 64, latent 64, 30 epochs (docs/MODELS.md).
                c.latent = 64;
                c.batch = 64;
                c.ae_epochs = 0;
                c.gan_epochs = 30;
                c.g_lr = 1e-3;
                c.d_lr = 0.0;
                c.beta1 = 0.9;
                c.beta2 = 0.999;
                c.n_critic = 1;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
                c.recon_weight = 0.1;
                if model == ModelKind::S3vae {
                    c.noise_std = 0.1;
                    c.vae_sampling = VaeSampling::SingleSample;
                    c.representatives = 1;
                }
            }
            ModelKind::Wgan => {
                // WGAN's Algorithm 1: RMSprop 5e-5, c = 0.01, 5 critic
                // updates (each on a new batch) per generator update, batch 64.
                c.latent = 100;
                c.batch = 64;
                c.ae_epochs = 0;
                c.g_lr = 5e-5;
                c.d_lr = 5e-5;
                c.n_critic = 5;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 0.0;
                c.weight_clip = 0.01;
            }
            ModelKind::WganGp => {
                // WGAN-GP's Algorithm 1: λ 10, 5 critic updates (each on a new
                // batch) per generator update, Adam 1e-4 (0, 0.9).
                c.latent = 100;
                c.batch = 100;
                c.ae_epochs = 0;
                c.g_lr = 1e-4;
                c.d_lr = 1e-4;
                c.beta1 = 0.0;
                c.beta2 = 0.9;
                c.n_critic = 5;
                c.critic_schedule = CriticSchedule::FreshBatches;
                c.gp_weight = 10.0;
            }
        }
        c
    }

    /// The defaults of `model` with `preset` applied (see [`Preset`]).
    pub fn with_preset(
        model: ModelKind,
        channels: usize,
        image_size: usize,
        classes: usize,
        preset: Preset,
    ) -> ModelConfig {
        let mut c = ModelConfig::defaults(model, channels, image_size, classes);
        match preset {
            Preset::SgbganPaper => {
                let s = ModelConfig::defaults(ModelKind::Sgbgan, channels, image_size, classes);
                c.latent = s.latent;
                c.batch = s.batch;
                c.gan_epochs = s.gan_epochs;
                c.g_lr = s.g_lr;
                c.d_lr = s.d_lr;
                c.beta1 = s.beta1;
                c.beta2 = s.beta2;
                if model.pretrains() {
                    c.ae_epochs = s.ae_epochs;
                    c.ae_lr = s.ae_lr;
                    c.ae_beta1 = s.ae_beta1;
                    c.ae_beta2 = s.ae_beta2;
                }
                if c.gp_weight > 0.0 {
                    c.gp_weight = s.gp_weight;
                    c.n_critic = s.n_critic;
                    c.critic_schedule = s.critic_schedule;
                }
            }
            Preset::Cpu => {
                c.width = 8;
                c.attention = false;
                c.latent = 32;
                // At this width a step costs about its images: batch 32
                // makes 1.7 times the steps of batch 64 in the same time,
                // and the demo's minutes go to steps (see docs/MODELS.md).
                c.batch = 32;
                c.n_critic = 1;
                c.g_lr = 5e-4;
                c.d_lr = 5e-4;
                c.gan_epochs = 20;
                // A few thousand steps at lr 5e-4: the live generator's
                // classes drift from step to step; sampling the average of
                // the last ~500 keeps each class's shape (docs/MODELS.md).
                if model.is_gan() && model != ModelKind::Bagan {
                    c.g_ema = 0.998;
                }
                if model.pretrains() {
                    c.ae_epochs = 5;
                }
                // At width 8 the class terms of eq. 2 as written (1/K of
                // ACGAN's) leave the generator to the source term alone, and
                // it collapses to one grey image within 200 steps; weights
                // averaging 1 train as ACGAN does (docs/MODELS.md).
                if model == ModelKind::CsAcgan {
                    c.mean_one_class_weights = true;
                }
            }
        }
        c
    }

    /// For one batch of the adversarial phase: how many critic updates it
    /// makes, and whether a generator update follows them.
    pub fn batch_updates(&self, ctx: &StepContext) -> (usize, bool) {
        match self.critic_schedule {
            CriticSchedule::PerBatch => (self.n_critic.max(1), true),
            CriticSchedule::FreshBatches => (1, ctx.generator_turn(self.n_critic)),
        }
    }

    /// The (critic, generator) updates the first `batches` batches of the
    /// adversarial phase make.
    pub fn adversarial_updates(&self, batches: u64) -> (u64, u64) {
        let n = self.n_critic.max(1) as u64;
        match self.critic_schedule {
            CriticSchedule::PerBatch => (batches.saturating_mul(n), batches),
            CriticSchedule::FreshBatches => (batches, batches / n),
        }
    }

    /// Adam for the pre-training phase (autoencoder or VAE).
    pub fn pretraining_adam(&self) -> AdamConfig {
        AdamConfig {
            lr: self.ae_lr,
            beta1: self.ae_beta1,
            beta2: self.ae_beta2,
            ..Default::default()
        }
    }

    /// Whether the adversarial players train with RMSprop (the original
    /// WGAN) rather than Adam.
    pub fn uses_rmsprop(&self) -> bool {
        self.model == ModelKind::Wgan
    }

    /// Adam for one adversarial player with learning rate `lr` (`g_lr` or `d_lr`).
    pub fn adversarial_adam(&self, lr: f32) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: self.beta1,
            beta2: self.beta2,
            ..Default::default()
        }
    }

    /// The image geometry and stage plan of this config, checked by [`Geometry::new`] and
    /// [`Geometry::with_width`].
    pub fn geometry(&self) -> Result<Geometry> {
        Ok(
            Geometry::new(self.channels, self.image_size, self.classes, self.latent)?
                .with_width(self.width)?
                .with_attention(self.attention),
        )
    }

    /// Checks E-GAN's and AGGAN's settings, and that the other models leave
    /// them unset.
    fn validate_evolution(&self) -> Result<()> {
        let evolves = matches!(self.model, ModelKind::Egan | ModelKind::Aggan);
        let title = self.model.title();
        if !evolves {
            if !self.mutations.is_empty() || self.fitness_gamma != 0.0 || self.temperature != 0.0 || self.cooling != 0.0
            {
                return Err(Error::invalid(
                    "mutations",
                    format!(
                        "mutations, fitness_gamma, temperature and cooling are settings of E-GAN and AGGAN (--model egan, aggan); {title} takes none of them"
                    ),
                ));
            }
            return Ok(());
        }
        if self.mutations.is_empty() {
            let names: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
            return Err(Error::invalid(
                "mutations",
                format!(
                    "{title} needs at least one mutation to make offspring; use some of {} (e.g. --set 'mutations=[\"{}\"]')",
                    names.join(", "),
                    names[0]
                ),
            ));
        }
        if !(self.fitness_gamma.is_finite() && self.fitness_gamma >= 0.0) {
            return Err(Error::invalid(
                "fitness_gamma",
                format!(
                    "fitness_gamma = {} must be finite and ≥ 0 (E-GAN's is 0.01)",
                    self.fitness_gamma
                ),
            ));
        }
        if self.model == ModelKind::Egan {
            if self.temperature != 0.0 || self.cooling != 0.0 {
                return Err(Error::invalid(
                    "temperature",
                    "E-GAN always keeps the fittest offspring; temperature and cooling are AGGAN's (--model aggan)",
                ));
            }
            return Ok(());
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(Error::invalid(
                "temperature",
                format!(
                    "AGGAN's initial temperature T₀ must be finite and > 0 (got {}; the paper uses 100, 1000 or 10000)",
                    self.temperature
                ),
            ));
        }
        if !(self.cooling > 0.0 && self.cooling <= 1.0) {
            return Err(Error::invalid(
                "cooling",
                format!(
                    "AGGAN's cooling factor α must be in (0, 1] (got {}; the paper uses 0.99 or 0.999, 1 keeps T₀)",
                    self.cooling
                ),
            ));
        }
        Ok(())
    }

    /// Checks C-VAE's and S3VAE's settings, and that the other models leave
    /// them unset.
    fn validate_vae(&self) -> Result<()> {
        let title = self.model.title();
        if !matches!(self.model, ModelKind::Cvae | ModelKind::S3vae) {
            if self.noise_std != 0.0
                || self.vae_sampling != VaeSampling::Ordinary
                || self.representatives != 0
                || self.recon_weight != 0.0
            {
                return Err(Error::invalid(
                    "noise_std",
                    format!(
                        "noise_std, vae_sampling, representatives and recon_weight are settings of C-VAE and S3VAE (--model cvae, s3vae); {title} takes none of them"
                    ),
                ));
            }
            return Ok(());
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return Err(Error::invalid(
                "noise_std",
                format!(
                    "noise_std = {} must be finite and ≥ 0 (S3VAE's is 0.1; 0 removes the layer)",
                    self.noise_std
                ),
            ));
        }
        if !(self.recon_weight.is_finite() && self.recon_weight > 0.0) {
            return Err(Error::invalid(
                "recon_weight",
                format!(
                    "recon_weight (K) = {} must be finite and > 0 (S3VAE's Table 7: 0.1)",
                    self.recon_weight
                ),
            ));
        }
        match (self.vae_sampling, self.representatives) {
            (VaeSampling::SingleSample, 0) => Err(Error::invalid(
                "representatives",
                "single-sample sampling trains on representatives: set representatives to at least 1",
            )),
            (VaeSampling::Ordinary, r) if r > 0 => Err(Error::invalid(
                "representatives",
                format!("representatives = {r} is a setting of single-sample sampling (vae_sampling = single-sample); ordinary sampling trains on all images"),
            )),
            _ => Ok(()),
        }
    }

    /// Put `gp_alpha` and `critic_init` back to the model's defaults where
    /// the model does not read them (what it trained with), so that a run
    /// made before [`ModelConfig::validate`] refused them still loads.
    /// Returns whether anything changed.
    pub fn reset_ignored_settings(&mut self) -> bool {
        let default = ModelConfig::defaults(self.model, self.channels, self.image_size, self.classes);
        let mut changed = false;
        if !self.model.draws_gp_alpha() && self.gp_alpha != default.gp_alpha {
            self.gp_alpha = default.gp_alpha;
            changed = true;
        }
        if self.model != ModelKind::BaganGp && self.critic_init != default.critic_init {
            self.critic_init = default.critic_init;
            changed = true;
        }
        changed
    }

    /// Checks the numbers a user can set.
    pub fn validate(&self) -> Result<()> {
        self.validate_vae()?;
        self.geometry()?;
        if self.batch < 2 {
            return Err(Error::invalid(
                "--batch",
                format!("batch {} is too small: batch norm needs at least 2 images", self.batch),
            ));
        }
        if self.ae_epochs == 0 && self.gan_epochs == 0 {
            return Err(Error::invalid(
                "--epochs",
                "every phase has 0 epochs: nothing would be trained",
            ));
        }
        for (name, b) in [
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("ae_beta1", self.ae_beta1),
            ("ae_beta2", self.ae_beta2),
        ] {
            if !(0.0..1.0).contains(&b) {
                return Err(Error::invalid("config", format!("{name} = {b} must be in [0, 1)")));
            }
        }
        if self.latent == 0 {
            return Err(Error::invalid("latent", "the latent size must be at least 1"));
        }
        if self.fake_labels == FakeLabels::Real
            && !matches!(
                self.model,
                ModelKind::Sgbgan | ModelKind::BaganGp | ModelKind::CwganGp | ModelKind::CwganGpBce
            )
        {
            return Err(Error::invalid(
                "fake_labels",
                format!(
                    "{} draws its fake labels uniformly; fake_labels = real is a setting of the gradient-penalty models",
                    self.model.title()
                ),
            ));
        }
        if self.gp_alpha != AlphaDistribution::Uniform && !self.model.draws_gp_alpha() {
            return Err(Error::invalid(
                "gp_alpha",
                format!(
                    "{} draws the penalty's α ~ U(0, 1) (or has no penalty); gp_alpha = normal is a setting of SGBGAN, \
                     BAGAN-GP and cWGAN-GP",
                    self.model.title()
                ),
            ));
        }
        let default_init = ModelConfig::defaults(self.model, self.channels, self.image_size, self.classes).critic_init;
        if self.model != ModelKind::BaganGp && self.critic_init != default_init {
            return Err(Error::invalid(
                "critic_init",
                format!(
                    "critic_init chooses BAGAN-GP's critic start (the encoder or fresh weights); {} takes no \
                     critic_init setting",
                    self.model.title()
                ),
            ));
        }
        if self.n_critic == 0 {
            return Err(Error::invalid(
                "n_critic",
                "at least one critic step per generator step",
            ));
        }
        match self.model {
            ModelKind::Wgan if !(self.weight_clip.is_finite() && self.weight_clip > 0.0) => {
                return Err(Error::invalid(
                    "weight_clip",
                    format!(
                        "the WGAN clips its critic's weights to ±weight_clip, which must be finite and > 0 (got {}; the paper's is 0.01)",
                        self.weight_clip
                    ),
                ))
            }
            ModelKind::Wgan => {}
            _ if self.weight_clip != 0.0 => {
                return Err(Error::invalid(
                    "weight_clip",
                    format!("weight clipping is the WGAN's (--model wgan); {} takes weight_clip = 0", self.model.title()),
                ))
            }
            _ => {}
        }
        self.validate_evolution()?;
        if self.mean_one_class_weights && self.model != ModelKind::CsAcgan {
            return Err(Error::invalid(
                "mean_one_class_weights",
                format!(
                    "class weights are CostSensitive-ACGAN's (--model cs-acgan); {} has none",
                    self.model.title()
                ),
            ));
        }
        if self.g_ema > 0.0 && !self.model.is_gan() {
            return Err(Error::invalid(
                "g_ema",
                format!(
                    "g_ema averages a GAN's generator; {} has none (leave it at 0)",
                    self.model.title()
                ),
            ));
        }
        if self.g_ema > 0.0 && self.model == ModelKind::Bagan {
            return Err(Error::invalid(
                "g_ema",
                "BAGAN samples its live generator; g_ema is a setting of the other models (leave it at 0)",
            ));
        }
        if !(0.0..1.0).contains(&self.g_ema) {
            return Err(Error::invalid(
                "g_ema",
                format!(
                    "g_ema = {} must be in [0, 1): 0 samples the live generator, 0.999 the average of about the last 1000 steps",
                    self.g_ema
                ),
            ));
        }
        for (name, v) in [
            ("ae_lr", self.ae_lr),
            ("g_lr", self.g_lr),
            ("d_lr", self.d_lr),
            ("gp_weight", self.gp_weight),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(Error::invalid("config", format!("{name} = {v} must be finite and ≥ 0")));
            }
        }
        Ok(())
    }
}

/// One training phase: a name for logs and files, and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// Name of the phase in logs and files (`autoencoder`, `vae`, `adversarial`, …).
    pub name: &'static str,
    /// Passes over the training data; 0 skips the phase.
    pub epochs: usize,
    /// Names of the losses a step of this phase reports (the CSV columns).
    pub losses: Vec<&'static str>,
}

/// One mini-batch of real images with their labels (on the device and on
/// the host: the host copy draws the wrong labels without a readback).
pub struct Batch<'a> {
    /// [B, C, S, S] in [−1, 1].
    pub images: &'a Tensor,
    /// The class of each image, on the device.
    pub labels: &'a IndexTensor,
    /// The same labels on the host.
    pub host_labels: &'a [u32],
}

/// What a step may draw randomness from. Both streams are functions of the
/// run's seed and the step number, so a resumed run draws exactly what the
/// uninterrupted one would have.
pub struct StepContext<'a> {
    /// Device noise (Philox); its offset is saved in checkpoints.
    pub rng: &'a Generator,
    /// Global step number (0-based, across phases).
    pub step: u64,
    /// Step number within the current phase.
    pub phase_step: u64,
    /// The run's seed, which keys the host label streams together with the step.
    pub seed: u64,
}

impl<'a> StepContext<'a> {
    /// Whether the generator steps after this batch's critic step under the
    /// `fresh-batches` schedule: after every `n_critic`-th batch of the phase
    /// (every batch is a critic step). [`ModelConfig::batch_updates`] answers
    /// for either schedule.
    pub fn generator_turn(&self, n_critic: usize) -> bool {
        (self.phase_step + 1).is_multiple_of(n_critic.max(1) as u64)
    }

    /// The context of critic update `i` on one batch (the `per-batch`
    /// schedule): the same step and device stream (which advances with every
    /// draw, so noise and α differ), and host label streams of its own for
    /// `i > 0`; update 0 draws what a single update would.
    pub fn critic_update(&self, i: usize) -> StepContext<'a> {
        let seed = if i == 0 {
            self.seed
        } else {
            self.seed ^ (i as u64).wrapping_mul(CRITIC_UPDATE_GAMMA)
        };
        StepContext {
            rng: self.rng,
            step: self.step,
            phase_step: self.phase_step,
            seed,
        }
    }

    /// `n` labels uniform on `0..classes` from a host stream keyed by
    /// (seed, step, salt).
    pub fn uniform_labels(&self, n: usize, classes: usize, salt: u64) -> Vec<u32> {
        let mut r = HostRng::for_epoch(self.seed ^ salt.wrapping_mul(GOLDEN_GAMMA), self.step);
        (0..n).map(|_| r.below(classes) as u32).collect()
    }

    /// For each label, a different label drawn uniformly from the other classes.
    pub fn wrong_labels(&self, labels: &[u32], classes: usize, salt: u64) -> Vec<u32> {
        let mut r = HostRng::for_epoch(self.seed ^ salt.wrapping_mul(GOLDEN_GAMMA), self.step);
        labels
            .iter()
            .map(|&l| ((l as usize + 1 + r.below(classes - 1)) % classes) as u32)
            .collect()
    }
}

/// Spreads the host label streams of a batch's critic updates apart (an odd
/// constant unrelated to the salts' [`GOLDEN_GAMMA`]).
const CRITIC_UPDATE_GAMMA: u64 = 0xD1B5_4A32_D192_ED03;

/// A balancing model: phases of training, then class-conditional sampling.
pub trait BalancingModel {
    /// The configuration the model was built from.
    fn config(&self) -> &ModelConfig;

    /// The phases in order (pre-training phases with 0 epochs are listed too;
    /// the trainer skips them).
    fn phases(&self) -> Vec<Phase>;

    /// The phase the model is in (the one sampling uses).
    fn phase(&self) -> usize;

    /// Enter `phase`. `data` is `Some` when the phase begins in this run (a
    /// model may use it, e.g. BAGAN fits its class latents, SGBGAN transfers
    /// the VAE's weights), `None` when resuming from a checkpoint (the state
    /// is loaded next).
    fn enter_phase(&mut self, phase: usize, data: Option<&Dataset>, ctx: &StepContext) -> Result<()>;

    /// One optimisation step of the current phase. Returns the losses it
    /// computed, named as in [`Phase::losses`] (a step may report a subset:
    /// a critic-only step has no generator loss). Nothing is read back.
    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>>;

    /// At the end of each epoch (after its last step, before the epoch's
    /// checkpoint): a model's per-epoch update, with the training data
    /// (CostSensitive-ACGAN's class weights), and the values it logs for the
    /// epoch, by name (`epochs.csv` in a run directory). Nothing by default.
    fn end_epoch(&mut self, _data: &Dataset) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }

    /// Images [N, C, S, S] in [−1, 1] of the given classes, in evaluation
    /// mode, without a graph.
    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor>;

    /// Write the model's tensors and optimizer states (everything the current
    /// phase needs to resume).
    fn save(&self, w: &mut CheckpointWriter) -> Result<()>;

    /// Restore what [`BalancingModel::save`] wrote for the current phase.
    fn load(&mut self, c: &Checkpoint) -> Result<()>;
}

/// The stream the adversarial players of an autoencoder-initialised model
/// are drawn from (their weights are then transferred or loaded over them).
pub fn adversarial_stream(seed: u64) -> Generator {
    Generator::new(seed ^ 0x5EED_0000_0000_0001)
}

/// Gaussian noise [n, latent] from the device stream.
pub fn latent_noise(dev: &Device, rng: &Generator, n: usize, latent: usize) -> Result<Tensor> {
    rng.normal(dev, &[n, latent], 0.0, 1.0)
}
