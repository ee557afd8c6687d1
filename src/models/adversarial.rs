//! The adversarial phase every GAN here shares: the critic and generator
//! updates of each mini-batch as the config's
//! [`CriticSchedule`](super::CriticSchedule) lays them
//! out (`per-batch`: `n_critic` critic updates on the batch, then one
//! generator update; `fresh-batches`: one critic update, and a generator
//! update after every `n_critic`-th batch), sampling in evaluation mode, and
//! the players' checkpoint entries. A model supplies
//! only its networks and losses ([`Adversarial`]); [`AdversarialTraining`]
//! runs them, and [`super::gan::Gan`] makes a one-phase model of them.
//! `docs/ADDING-A-MODEL.md` walks through a complete example.

use super::{Batch, ModelConfig, StepContext};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::Result;
use crate::nn::serialize::OptimizerState;
use crate::nn::{evaluating, Checkpoint, CheckpointWriter, Ema, Module};
use crate::optim::{Adam, Optimizer, RmsProp, RmsPropConfig};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// One critic step's loss, the terms it reports beside it, and what the
/// generator step of the same batch may reuse.
pub struct CriticStep<C> {
    /// The loss the critic's optimizer minimises (reported as `d_loss`).
    pub loss: Tensor,
    /// Further terms to report (e.g. `("gp", penalty)`), in [`Adversarial::LOSSES`] order.
    pub terms: Vec<(&'static str, Tensor)>,
    /// Handed to [`Adversarial::generator_loss`] when the generator steps on
    /// this batch (DCGAN scores its fake batch again), `()` for most.
    pub carry: C,
}

/// A GAN's networks and losses: everything an adversarial model writes.
pub trait Adversarial: Send + Sync {
    /// What a critic step hands to the generator step of the same batch.
    type Carry;

    /// The losses a step reports: `d_loss`, the critic's further terms, `g_loss`.
    const LOSSES: &'static [&'static str];
    /// Checkpoint prefix of the generator's tensors.
    const GENERATOR: &'static str = "generator";
    /// Checkpoint prefix of the critic's (discriminator's) tensors.
    const CRITIC: &'static str = "critic";

    /// The generator, as a module (its parameters, mode and checkpoint entries).
    fn generator(&self) -> &dyn Module;
    /// The critic (discriminator), as a module.
    fn critic(&self) -> &dyn Module;

    /// The critic's loss on one batch (on the tape). `generator_turn` says
    /// whether the generator steps right after this critic update. Under the
    /// `per-batch` schedule it is called `n_critic` times per batch, each with
    /// its own [`StepContext::critic_update`] context.
    fn critic_loss(&self, batch: &Batch, ctx: &StepContext, generator_turn: bool) -> Result<CriticStep<Self::Carry>>;

    /// The generator's loss (on the tape), after the critic's step.
    fn generator_loss(&self, batch: &Batch, ctx: &StepContext, carry: Self::Carry) -> Result<Tensor>;

    /// Images of the given classes with noise from `rng` (called without a
    /// graph and with the generator in evaluation mode).
    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor>;

    /// The generator's update, when the model makes it itself instead of
    /// minimising [`Adversarial::generator_loss`] with the generator's
    /// optimizer (E-GAN and AGGAN evolve offspring, see
    /// [`super::evolutionary`]): returns the values to report, `g_loss`
    /// among them. `None` (the default) asks for the ordinary update.
    fn update_generator(
        &mut self,
        _opt: &mut PlayerOptimizer,
        _batch: &Batch,
        _ctx: &StepContext,
    ) -> Result<Option<Vec<(&'static str, Tensor)>>> {
        Ok(None)
    }

    /// After each critic update (the original WGAN clips the critic's
    /// weights here). Nothing by default.
    fn after_critic_update(&self) -> Result<()> {
        Ok(())
    }

    /// What a model does at the end of each adversarial epoch, with the
    /// training data (CostSensitive-ACGAN updates its class weights), and the
    /// values it logs for the epoch, by name. Nothing by default.
    fn end_epoch(&self, _dev: &Device, _data: &Dataset) -> Result<Vec<(String, f64)>> {
        Ok(Vec::new())
    }
}

/// A player's optimizer: Adam, or RMSprop for the original WGAN.
pub enum PlayerOptimizer {
    /// Adam with the config's adversarial β (every model but the original WGAN).
    Adam(Adam),
    /// RMSprop at the player's learning rate, PyTorch's α 0.99 and ε 1e-8 (the original WGAN).
    RmsProp(RmsProp),
}

impl PlayerOptimizer {
    /// The config's optimizer for a player with learning rate `lr`.
    fn new(params: &[Tensor], cfg: &ModelConfig, lr: f32) -> Result<PlayerOptimizer> {
        Ok(if cfg.uses_rmsprop() {
            PlayerOptimizer::RmsProp(RmsProp::new(
                params,
                RmsPropConfig {
                    lr,
                    ..Default::default()
                },
            )?)
        } else {
            PlayerOptimizer::Adam(Adam::new(params, cfg.adversarial_adam(lr))?)
        })
    }

    fn optimizer(&mut self) -> &mut dyn Optimizer {
        match self {
            PlayerOptimizer::Adam(a) => a,
            PlayerOptimizer::RmsProp(r) => r,
        }
    }

    fn state(&self) -> &dyn OptimizerState {
        match self {
            PlayerOptimizer::Adam(a) => a,
            PlayerOptimizer::RmsProp(r) => r,
        }
    }

    fn state_mut(&mut self) -> &mut dyn OptimizerState {
        match self {
            PlayerOptimizer::Adam(a) => a,
            PlayerOptimizer::RmsProp(r) => r,
        }
    }

    /// Updates made so far.
    pub fn steps(&self) -> u64 {
        match self {
            PlayerOptimizer::Adam(a) => a.steps(),
            PlayerOptimizer::RmsProp(r) => r.steps(),
        }
    }
}

/// Checkpoint prefix of the generator's moving average.
const EMA: &str = "ema_generator";

/// The players of an [`Adversarial`] with their optimizers.
pub struct AdversarialTraining<A: Adversarial> {
    /// The model's networks and losses.
    pub players: A,
    opt_g: PlayerOptimizer,
    opt_d: PlayerOptimizer,
    /// The generator's moving average, which sampling uses (when
    /// [`ModelConfig::g_ema`] > 0).
    ema: Option<Ema>,
    cfg: ModelConfig,
    dev: Device,
}

impl<A: Adversarial> AdversarialTraining<A> {
    /// An optimizer for each player with the config's adversarial settings
    /// (Adam, or RMSprop for the original WGAN: [`PlayerOptimizer`]), and the
    /// generator's moving average (starting at its current weights) when the
    /// config asks for one.
    pub fn new(dev: &Device, cfg: &ModelConfig, players: A) -> Result<AdversarialTraining<A>> {
        let ema = match cfg.g_ema {
            d if d > 0.0 => Some(Ema::new(players.generator(), d)?),
            _ => None,
        };
        Ok(AdversarialTraining {
            opt_g: PlayerOptimizer::new(&players.generator().parameter_tensors(), cfg, cfg.g_lr)?,
            opt_d: PlayerOptimizer::new(&players.critic().parameter_tensors(), cfg, cfg.d_lr)?,
            ema,
            players,
            cfg: cfg.clone(),
            dev: dev.clone(),
        })
    }

    /// The critic updates of one batch and, when its turn comes, a generator
    /// update ([`ModelConfig::batch_updates`]). The reported critic loss and
    /// terms are the last critic update's (as the Keras `train_step`
    /// reports). The generator's gradient is taken for its own parameters
    /// only, so its step neither pays for nor disturbs the critic's gradients.
    pub fn step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        let (critic_updates, generator_turn) = self.cfg.batch_updates(ctx);
        let turn = |i: usize| generator_turn && i + 1 == critic_updates;
        let mut critic = self.players.critic_loss(batch, &ctx.critic_update(0), turn(0))?;
        self.opt_d.optimizer().minimize(&critic.loss)?;
        self.players.after_critic_update()?;
        for i in 1..critic_updates {
            critic = self.players.critic_loss(batch, &ctx.critic_update(i), turn(i))?;
            self.opt_d.optimizer().minimize(&critic.loss)?;
            self.players.after_critic_update()?;
        }
        let mut out = vec![("d_loss", critic.loss.detach())];
        out.extend(critic.terms.iter().map(|(n, t)| (*n, t.detach())));
        if generator_turn {
            match self.players.update_generator(&mut self.opt_g, batch, ctx)? {
                Some(values) => out.extend(values),
                None => {
                    let g_loss = self.players.generator_loss(batch, ctx, critic.carry)?;
                    self.opt_g.optimizer().minimize_own(&g_loss)?;
                    out.push(("g_loss", g_loss.detach()));
                }
            }
            if let Some(ema) = &self.ema {
                ema.update()?;
            }
        }
        Ok(out)
    }

    /// The players' epoch end ([`Adversarial::end_epoch`]).
    pub fn end_epoch(&self, data: &Dataset) -> Result<Vec<(String, f64)>> {
        self.players.end_epoch(&self.dev, data)
    }

    /// The (critic, generator) optimizer updates made so far (restored with
    /// a checkpoint).
    pub fn updates(&self) -> (u64, u64) {
        (self.opt_d.steps(), self.opt_g.steps())
    }

    /// Images [N, C, S, S] in [−1, 1] of the given classes, the generator in
    /// evaluation mode (batch norm on running statistics) and with its
    /// moving-average weights when it has them, without a graph.
    pub fn sample(&self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let generate = || {
            evaluating(self.players.generator(), || {
                self.players
                    .generate(&self.dev, &IndexTensor::new(&self.dev, labels)?, rng)
            })
        };
        match &self.ema {
            Some(ema) => ema.with_shadow(generate),
            None => generate(),
        }
    }

    /// Writes both players, their optimizers (`opt_g`, `opt_d`) and the generator's moving
    /// average when there is one.
    pub fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        let (g, d) = (self.players.generator(), self.players.critic());
        w.add_module(A::GENERATOR, g)
            .add_module(A::CRITIC, d)
            .add_optimizer("opt_g", g, self.opt_g.state())?
            .add_optimizer("opt_d", d, self.opt_d.state())?;
        if let Some(ema) = &self.ema {
            ema.save(EMA, w);
        }
        Ok(())
    }

    /// Restores what [`AdversarialTraining::save`] wrote; every tensor of the players must be in `c`.
    pub fn load(&mut self, c: &Checkpoint) -> Result<()> {
        let (g, d) = (self.players.generator(), self.players.critic());
        c.load_module(A::GENERATOR, g, true)?;
        c.load_module(A::CRITIC, d, true)?;
        c.load_optimizer("opt_g", g, self.opt_g.state_mut())?;
        c.load_optimizer("opt_d", d, self.opt_d.state_mut())?;
        if let Some(ema) = &self.ema {
            ema.load(EMA, c)?;
        }
        Ok(())
    }
}
