//! E-GAN (Wang et al. 2019) and AGGAN (Hao et al.): the generator evolves.
//! Both train ACGAN's two-headed players ([`AcganPlayers`]; AGGAN gives every
//! baseline the class head), and the discriminator's update is ACGAN's
//! (L_S + L_C). Each generator update is a generation:
//!
//! 1. The parent (the generator and its Adam state) is copied
//!    ([`PlayerState`], on the device).
//! 2. One offspring per [`Mutation`] in the config's list: a copy of the
//!    parent takes one Adam step on the mutation's source loss + the class
//!    loss, on fresh noise and labels.
//! 3. Each offspring is scored, F = F_q + γ·F_d ([`fitness`]), on the real
//!    batch and one noise-and-label draw shared by every candidate (common
//!    random numbers: the candidates differ in their weights alone), with
//!    the discriminator in evaluation mode (no dropout).
//! 4. [`Selection`]: E-GAN keeps the fittest offspring. AGGAN keeps it when
//!    it beats the parent (scored on the same draw) and otherwise with
//!    probability exp(−(F_parent − F_best)/T), T = T₀·αᵗ at generation t
//!    ([`acceptance_probability`]); a rejected offspring leaves the parent
//!    (weights and Adam state) in place. The paper prints
//!    Δ = F_best − F_parent, with which a worse offspring would always be
//!    accepted (exp of a positive number ≥ 1); the sign here makes a worse
//!    offspring's chance below 1 and falling with how much worse it is.
//!
//! The selection reads the candidates' fitness back: one transfer per
//! generation. The copies are made once and reused. A checkpoint holds the
//! generator that won and its Adam state; the offspring live only within a
//! generation, so a run resumed from any checkpoint repeats the generations
//! of the uninterrupted one bit for bit (the noise, labels and the Metropolis
//! draw are functions of the seed and the step).

use serde::{Deserialize, Serialize};

use super::acgan::AcganPlayers;
use super::adversarial::{Adversarial, CriticStep, PlayerOptimizer};
use super::offspring::PlayerState;
use super::{latent_noise, Batch, ModelConfig, ModelKind, StepContext};
use crate::autograd::{grad, no_grad};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::bce_with_logits_scalar;
use crate::nn::{evaluation_mode, Module};
use crate::optim::Optimizer;
use crate::tensor::{Generator, HostRng, IndexTensor, Tensor, GOLDEN_GAMMA};

/// Host stream of the fitness draw's labels.
const SALT_FITNESS: u64 = 41;
/// Host streams of the offspring's labels (one per offspring, from here).
const SALT_MUTATION: u64 = 43;
/// Host stream of the Metropolis draw.
const SALT_METROPOLIS: u64 = 47;
/// Dropout streams of the offspring's updates (one per offspring, from here).
const DROPOUT_MUTATION: u64 = 16;

/// An offspring's source objective (E-GAN's three mutations), with s the
/// discriminator's source logit of a fake and D = sigmoid(s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    /// Minimise E log(1 − D(G(z))): the original minimax game's.
    Minimax,
    /// Minimise −E log D(G(z)): the non-saturating ("heuristic") loss.
    NonSaturating,
    /// Minimise E (D(G(z)) − 1)²: least squares on the probability, as
    /// E-GAN's code.
    LeastSquares,
}

impl Mutation {
    /// Every mutation, in the order of the `winner` log column (E-GAN's default set).
    pub const ALL: [Mutation; 3] = [Mutation::Minimax, Mutation::NonSaturating, Mutation::LeastSquares];

    /// The name in `mutations` settings (`minimax`, `non-saturating`, `least-squares`).
    pub fn name(self) -> &'static str {
        match self {
            Mutation::Minimax => "minimax",
            Mutation::NonSaturating => "non-saturating",
            Mutation::LeastSquares => "least-squares",
        }
    }

    /// Its position in [`Mutation::ALL`] (the `winner` column of the logs).
    pub fn index(self) -> usize {
        Mutation::ALL.iter().position(|&m| m == self).unwrap_or(0)
    }

    /// The source loss of fakes with source logits `s` [B, 1].
    pub fn source_loss(self, s: &Tensor) -> Result<Tensor> {
        match self {
            // E log(1 − σ(s)) = −BCE(s, 0).
            Mutation::Minimax => bce_with_logits_scalar(s, 0.0)?.neg(),
            Mutation::NonSaturating => bce_with_logits_scalar(s, 1.0),
            Mutation::LeastSquares => s.sigmoid()?.add_scalar(-1.0)?.square()?.mean_all(),
        }
    }
}

/// Which offspring replaces the parent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// E-GAN: the fittest offspring, always.
    Fittest,
    /// AGGAN: the fittest offspring when it beats the parent, otherwise with
    /// the Metropolis probability at temperature T₀·αᵗ.
    Annealed {
        /// Initial temperature T₀ (`temperature`; the paper's default 1000).
        t0: f64,
        /// Cooling factor α per generation (`cooling`; the paper's default 0.99).
        alpha: f64,
    },
}

impl Selection {
    /// The selection of `cfg`'s model: annealed with `temperature` and `cooling` for AGGAN,
    /// the fittest for any other.
    pub fn of(cfg: &ModelConfig) -> Selection {
        match cfg.model {
            ModelKind::Aggan => Selection::Annealed {
                t0: cfg.temperature as f64,
                alpha: cfg.cooling as f64,
            },
            _ => Selection::Fittest,
        }
    }

    /// The temperature at generation `t` (0-based), `None` for E-GAN.
    pub fn temperature(self, t: u64) -> Option<f64> {
        match self {
            Selection::Fittest => None,
            Selection::Annealed { t0, alpha } => Some(t0 * alpha.powf(t as f64)),
        }
    }
}

/// The probability that an offspring of fitness `f_best` replaces a parent
/// of fitness `f_parent` at temperature `t`: 1 when it is at least as fit,
/// exp(−(f_parent − f_best)/t) otherwise (0 at t = 0).
pub fn acceptance_probability(f_best: f64, f_parent: f64, t: f64) -> f64 {
    if f_best >= f_parent {
        1.0
    } else if t > 0.0 {
        (-(f_parent - f_best) / t).exp()
    } else {
        0.0
    }
}

/// The Metropolis criterion with a uniform draw `u` in [0, 1).
pub fn metropolis_accepts(f_best: f64, f_parent: f64, t: f64, u: f64) -> bool {
    u < acceptance_probability(f_best, f_parent, t)
}

/// A uniform number in [0, 1) from a host stream.
pub fn uniform(r: &mut HostRng) -> f64 {
    (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// One candidate's fitness, scalars on the device.
pub struct Fitness {
    /// F = F_q + γ·F_d.
    pub total: Tensor,
    /// F_q = mean sigmoid(s(G(z))): how real the critic finds the fakes.
    pub quality: Tensor,
    /// F_d = −log ‖∇_θD L_D‖₂, L_D = BCE(s(x), 1) + BCE(s(G(z)), 0), over
    /// all of the critic's parameters: a small gradient means the critic is
    /// not pushed to change, i.e. the fakes do not collapse where it can
    /// easily separate them.
    pub diversity: Tensor,
}

/// The gradients of `loss` over `params`, flattened into one vector.
fn flat_gradient(loss: &Tensor, params: &[Tensor]) -> Result<Tensor> {
    let refs: Vec<&Tensor> = params.iter().collect();
    let flat: Vec<Tensor> = grad(&[loss], &refs, false)?
        .iter()
        .map(|g| g.reshape(&[g.numel()]))
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = flat.iter().collect();
    Tensor::concat(&refs, 0)
}

/// ∇_θ BCE(s(x), 1) over `params` (flat) for the real images `real`: the
/// real half of L_D's gradient, the same for every candidate of a
/// generation, so it is computed once. `source` gives the source logits
/// [B, 1] of images; `params` are the critic's parameters.
pub fn real_gradient(source: &dyn Fn(&Tensor) -> Result<Tensor>, params: &[Tensor], real: &Tensor) -> Result<Tensor> {
    flat_gradient(&bce_with_logits_scalar(&source(real)?, 1.0)?, params)
}

/// The fitness of a candidate whose samples are `fakes` (made without a
/// graph), with [`real_gradient`]'s `real_gradient` of the same critic.
pub fn fitness(
    source: &dyn Fn(&Tensor) -> Result<Tensor>,
    params: &[Tensor],
    real_gradient: &Tensor,
    fakes: &Tensor,
    gamma: f32,
) -> Result<Fitness> {
    let s = source(fakes)?;
    let quality = s.detach().sigmoid()?.mean_all()?;
    let g = flat_gradient(&bce_with_logits_scalar(&s, 0.0)?, params)?.add(real_gradient)?;
    // −log ‖g‖ = −½·log ‖g‖²; the 1e-30 keeps a vanishing gradient finite.
    let diversity = g.square()?.sum_all()?.add_scalar(1e-30)?.log()?.mul_scalar(-0.5)?;
    Ok(Fitness {
        total: quality.add(&diversity.mul_scalar(gamma)?)?,
        quality,
        diversity,
    })
}

/// An offspring's loss under `m`: its source loss + the class loss, on
/// fakes of fresh noise and labels (streams `child`), the discriminator's
/// dropout on as in its other updates.
pub fn mutation_loss(
    players: &AcganPlayers,
    m: Mutation,
    batch: &Batch,
    ctx: &StepContext,
    child: usize,
) -> Result<Tensor> {
    let d = &players.discriminator;
    d.seek(ctx, DROPOUT_MUTATION + child as u64);
    let (fake, labels) = players.fakes(batch, ctx, SALT_MUTATION + child as u64)?;
    let (s, c) = d.heads(&fake)?;
    m.source_loss(&s)?.add(&players.class_loss(&c, &labels)?)
}

/// The parent's copy and one per offspring, made at the first generation.
struct Copies {
    parent: PlayerState,
    offspring: Vec<PlayerState>,
}

/// ACGAN's players with an evolving generator (E-GAN, AGGAN).
pub struct Evolving {
    /// ACGAN's generator and two-headed discriminator, with the discriminator's objective.
    pub players: AcganPlayers,
    mutations: Vec<Mutation>,
    selection: Selection,
    gamma: f32,
    cfg: ModelConfig,
    copies: Option<Copies>,
}

impl Evolving {
    /// Fresh players for `cfg` (E-GAN or AGGAN only) with its mutations, selection and γ
    /// (`fitness_gamma`); validates `cfg`.
    pub fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<Evolving> {
        if !matches!(cfg.model, ModelKind::Egan | ModelKind::Aggan) {
            return Err(Error::invalid(
                "evolution",
                format!("{} does not evolve its generator", cfg.model.title()),
            ));
        }
        cfg.validate()?;
        Ok(Evolving {
            players: AcganPlayers::new(dev, rng, cfg)?,
            mutations: cfg.mutations.clone(),
            selection: Selection::of(cfg),
            gamma: cfg.fitness_gamma,
            cfg: cfg.clone(),
            copies: None,
        })
    }

    /// One generation (see the module's documentation).
    fn generation(
        &mut self,
        opt: &mut PlayerOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<Vec<(&'static str, Tensor)>> {
        let PlayerOptimizer::Adam(opt) = opt else {
            return Err(Error::invalid(
                "evolution",
                "the offspring clone Adam's state; the generator must train with Adam",
            ));
        };
        let dev = batch.images.device().clone();
        let b = batch.images.shape()[0];
        let (classes, latent) = (self.cfg.classes, self.cfg.latent);
        let gen = &self.players.generator;
        let d = &self.players.discriminator;
        let source = |x: &Tensor| Ok(d.heads(x)?.0);
        let params = d.parameter_tensors();

        // The draw every candidate is scored on.
        let labels = IndexTensor::new(&dev, &ctx.uniform_labels(b, classes, SALT_FITNESS))?;
        let z = latent_noise(&dev, ctx.rng, b, latent)?;
        let real = evaluation_mode(d, || real_gradient(&source, &params, batch.images))?;
        let gamma = self.gamma;
        let score = || -> Result<Fitness> {
            let fakes = no_grad(|| gen.generate(&z, &labels))?;
            evaluation_mode(d, || fitness(&source, &params, &real, &fakes, gamma))
        };

        if self.copies.is_none() {
            self.copies = Some(Copies {
                parent: PlayerState::of(gen, opt)?,
                offspring: self
                    .mutations
                    .iter()
                    .map(|_| PlayerState::of(gen, opt))
                    .collect::<Result<_>>()?,
            });
        }
        let copies = self.copies.as_mut().expect("made above");
        copies.parent.copy_from(gen, opt)?;
        let temperature = self
            .selection
            .temperature(self.cfg.adversarial_updates(ctx.phase_step).1);
        let parent = match temperature {
            Some(_) => Some(score()?),
            None => None,
        };
        let mut children = Vec::with_capacity(self.mutations.len());
        for (i, &m) in self.mutations.iter().enumerate() {
            if i > 0 {
                copies.parent.restore_to(gen, opt)?;
            }
            let loss = mutation_loss(&self.players, m, batch, ctx, i)?;
            opt.minimize_own(&loss)?;
            let f = score()?;
            copies.offspring[i].copy_from(gen, opt)?;
            children.push((loss.detach(), f));
        }

        // One transfer: every candidate's F, the parent's last.
        let totals: Vec<Tensor> = children
            .iter()
            .map(|(_, f)| &f.total)
            .chain(parent.as_ref().map(|f| &f.total))
            .map(|t| t.reshape(&[1]))
            .collect::<Result<_>>()?;
        let refs: Vec<&Tensor> = totals.iter().collect();
        let values = Tensor::concat(&refs, 0)?.to_vec()?;
        let mut best = 0;
        for (i, v) in values.iter().enumerate().take(children.len()) {
            if *v > values[best] {
                best = i;
            }
        }
        let f_best = values[best] as f64;
        let accepted = match (temperature, values.get(children.len())) {
            (Some(t), Some(&f_parent)) => {
                let mut r = HostRng::for_epoch(ctx.seed ^ SALT_METROPOLIS.wrapping_mul(GOLDEN_GAMMA), ctx.step);
                metropolis_accepts(f_best, f_parent as f64, t, uniform(&mut r))
            }
            _ => true,
        };
        if !accepted {
            copies.parent.restore_to(gen, opt)?;
        } else if best + 1 != children.len() {
            copies.offspring[best].restore_to(gen, opt)?;
        }

        let (loss, f) = &children[best];
        let mut out = vec![
            ("g_loss", loss.clone()),
            ("f_best", f.total.detach()),
            ("f_quality", f.quality.detach()),
            ("f_diversity", f.diversity.detach()),
            ("winner", Tensor::scalar(&dev, self.mutations[best].index() as f32)?),
            ("accepted", Tensor::scalar(&dev, accepted as u8 as f32)?),
        ];
        if let (Some(t), Some(p)) = (temperature, &parent) {
            out.push(("f_parent", p.total.detach()));
            out.push(("temperature", Tensor::scalar(&dev, t as f32)?));
        }
        Ok(out)
    }
}

impl Adversarial for Evolving {
    type Carry = ();

    const LOSSES: &'static [&'static str] = &[
        "d_loss",
        "d_class",
        "g_loss",
        "f_best",
        "f_quality",
        "f_diversity",
        "f_parent",
        "winner",
        "accepted",
        "temperature",
    ];
    const GENERATOR: &'static str = "generator";
    const CRITIC: &'static str = "discriminator";

    fn generator(&self) -> &dyn Module {
        &self.players.generator
    }

    fn critic(&self) -> &dyn Module {
        &self.players.discriminator
    }

    fn critic_loss(&self, batch: &Batch, ctx: &StepContext, generator_turn: bool) -> Result<CriticStep<()>> {
        self.players.critic_loss(batch, ctx, generator_turn)
    }

    /// Not called: the generator's update is [`Adversarial::update_generator`]'s
    /// generation. The non-saturating offspring's loss, should a caller ask.
    fn generator_loss(&self, batch: &Batch, ctx: &StepContext, _carry: ()) -> Result<Tensor> {
        mutation_loss(&self.players, Mutation::NonSaturating, batch, ctx, 0)
    }

    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        self.players.generate(dev, labels, rng)
    }

    fn update_generator(
        &mut self,
        opt: &mut PlayerOptimizer,
        batch: &Batch,
        ctx: &StepContext,
    ) -> Result<Option<Vec<(&'static str, Tensor)>>> {
        self.generation(opt, batch, ctx).map(Some)
    }

    fn end_epoch(&self, dev: &Device, data: &Dataset) -> Result<Vec<(String, f64)>> {
        self.players.end_epoch(dev, data)
    }
}
