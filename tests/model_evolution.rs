//! src/models/evolutionary.rs and offspring.rs: E-GAN's fitness against an
//! f64 computation on a critic whose gradient is known in closed form, the
//! Metropolis criterion's acceptance frequency, an offspring's independence
//! from its parent (Adam moments included), AGGAN's rejection leaving the
//! parent in place, training without NaN, and the settings' errors.

use balgan::models::evolutionary::{
    acceptance_probability, fitness, metropolis_accepts, mutation_loss, real_gradient, uniform, Mutation, Selection,
};
use balgan::models::offspring::PlayerState;
use balgan::models::{build, BalancingModel, ModelConfig, ModelKind};
use balgan::nn::{Checkpoint, CheckpointWriter, Module};
use balgan::optim::{Adam, AdamConfig, Optimizer};
use balgan::tensor::HostRng;
use balgan::{Generator, Tensor};

use crate::common::{dev, tensor, to_f64, Rng};
use crate::model_acgan::{ctx, levels, step_on, tiny};

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// F_q, F_d and F of a linear critic s(x) = w·x + b, in f64: with BCE's
/// gradients (σ(s) − t)·x and (σ(s) − t), averaged over each batch.
fn fitness_f64(w: &[f64], b: f64, real: &[f64], fake: &[f64], gamma: f64) -> (f64, f64, f64) {
    let d = w.len();
    let logits = |x: &[f64]| -> Vec<f64> {
        x.chunks(d)
            .map(|row| row.iter().zip(w).map(|(a, c)| a * c).sum::<f64>() + b)
            .collect()
    };
    let mut g = vec![0.0; d + 1];
    for (x, target) in [(real, 1.0), (fake, 0.0)] {
        let s = logits(x);
        let n = s.len() as f64;
        for (row, s) in x.chunks(d).zip(&s) {
            let e = sigmoid(*s) - target;
            for j in 0..d {
                g[j] += e * row[j] / n;
            }
            g[d] += e / n;
        }
    }
    let s_fake = logits(fake);
    let quality = s_fake.iter().map(|&s| sigmoid(s)).sum::<f64>() / s_fake.len() as f64;
    let diversity = -g.iter().map(|v| v * v).sum::<f64>().sqrt().ln();
    (quality, diversity, quality + gamma * diversity)
}

#[test]
fn fitness_matches_f64_on_a_critic_with_a_closed_form_gradient() {
    let mut rng = Rng::new(11);
    // 5 real and 7 fake "images" of 2×3 pixels; a critic over all 6.
    let (d, n_real, n_fake) = (6, 5, 7);
    let (w, b) = (rng.uniform(d, -0.8, 0.8), 0.3f32);
    let real = rng.uniform(n_real * d, -1.0, 1.0);
    let fake = rng.uniform(n_fake * d, -1.0, 1.0);
    let wt = tensor(&w, &[d, 1]).requires_grad_();
    let bt = tensor(&[b], &[1]).requires_grad_();
    let params = vec![wt.clone(), bt.clone()];
    let source = |x: &Tensor| x.reshape(&[x.shape()[0], d])?.matmul(&wt)?.add(&bt);
    let real_t = tensor(&real, &[n_real, 1, 2, 3]);
    let fake_t = tensor(&fake, &[n_fake, 1, 2, 3]);
    for gamma in [0.01f32, 0.5] {
        let g = real_gradient(&source, &params, &real_t).unwrap();
        let f = fitness(&source, &params, &g, &fake_t, gamma).unwrap();
        let (q, div, total) = fitness_f64(&to_f64(&w), b as f64, &to_f64(&real), &to_f64(&fake), gamma as f64);
        // f32 sums of a dozen terms of size ≤ 1: agreement to 1e-5 relative.
        for (name, got, want) in [
            ("F_q", f.quality.item().unwrap(), q),
            ("F_d", f.diversity.item().unwrap(), div),
            ("F", f.total.item().unwrap(), total),
        ] {
            assert!(
                (got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                "γ {gamma}: {name} = {got}, f64 {want}"
            );
        }
    }
    // A parameter the source does not reach adds nothing to the norm.
    let unused = tensor(&[5.0, -5.0], &[2]).requires_grad_();
    let with_unused = vec![wt.clone(), bt.clone(), unused];
    let g = real_gradient(&source, &with_unused, &real_t).unwrap();
    let f = fitness(&source, &with_unused, &g, &fake_t, 0.01).unwrap();
    let (_, div, _) = fitness_f64(&to_f64(&w), b as f64, &to_f64(&real), &to_f64(&fake), 0.01);
    assert!((f.diversity.item().unwrap() as f64 - div).abs() <= 1e-5 * div.abs().max(1.0));
}

#[test]
fn mutation_losses_are_the_three_objectives() {
    let s = [-2.0f32, -0.1, 0.0, 0.7, 3.0];
    let st = tensor(&s, &[5, 1]);
    let mean = |f: &dyn Fn(f64) -> f64| s.iter().map(|&x| f(x as f64)).sum::<f64>() / s.len() as f64;
    for (m, want) in [
        (Mutation::Minimax, mean(&|x| (1.0 - sigmoid(x)).ln())),
        (Mutation::NonSaturating, mean(&|x| -sigmoid(x).ln())),
        (Mutation::LeastSquares, mean(&|x| (sigmoid(x) - 1.0).powi(2))),
    ] {
        let got = m.source_loss(&st).unwrap().item().unwrap() as f64;
        assert!((got - want).abs() < 1e-5, "{}: {got} against {want}", m.name());
    }
    let names: Vec<&str> = Mutation::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["minimax", "non-saturating", "least-squares"]);
}

#[test]
fn metropolis_accepts_worse_offspring_at_the_rate_exp_minus_delta_over_t() {
    // Better (or equal) offspring: always, whatever the draw and temperature.
    for u in [0.0, 0.5, 0.999_999_9] {
        for t in [0.0, 1e-6, 1.0, 1e4] {
            assert!(metropolis_accepts(0.8, 0.7, t, u));
            assert!(metropolis_accepts(0.7, 0.7, t, u));
        }
    }
    // Worse: the frequency over draws within 4.5 standard errors of exp(−Δ/T).
    let n = 40_000;
    for (f_best, f_parent, t) in [
        (0.5f64, 0.6f64, 0.1f64),
        (0.2, 0.9, 1.0),
        (0.0, 3.0, 1.0),
        (0.5, 0.5001, 1000.0),
    ] {
        let p = (-(f_parent - f_best) / t).exp();
        assert!((acceptance_probability(f_best, f_parent, t) - p).abs() < 1e-12);
        let mut r = HostRng::new(7);
        let hits = (0..n)
            .filter(|_| metropolis_accepts(f_best, f_parent, t, uniform(&mut r)))
            .count();
        let freq = hits as f64 / n as f64;
        let se = (p * (1.0 - p) / n as f64).sqrt().max(1.0 / n as f64);
        assert!(
            (freq - p).abs() <= 4.5 * se,
            "Δ {} T {t}: accepted {freq}, expected {p} ± {se}",
            f_parent - f_best
        );
    }
    // At T = 0 a worse offspring never replaces the parent.
    assert_eq!(acceptance_probability(0.1, 0.2, 0.0), 0.0);
    // The temperature cools geometrically.
    let s = Selection::Annealed {
        t0: 1000.0,
        alpha: 0.99,
    };
    assert_eq!(s.temperature(0), Some(1000.0));
    assert!((s.temperature(10).unwrap() - 1000.0 * 0.99f64.powi(10)).abs() < 1e-9);
    assert_eq!(Selection::Fittest.temperature(5), None);
}

fn values(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter()
        .map(|t| t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn adam_values(opt: &Adam) -> Vec<Vec<u32>> {
    let (m, v) = opt.moments().unwrap();
    values(&m).into_iter().chain(values(&v)).collect()
}

#[test]
fn an_offspring_is_independent_of_its_parent() {
    let cfg = tiny(ModelKind::Aggan, 8, 3);
    let players = balgan::models::acgan::AcganPlayers::new(dev(), &Generator::new(3), &cfg).unwrap();
    let data = levels(12, 3, 8, 2);
    let x = data.to_tensor(dev(), &[0, 1, 2, 3, 4, 5]).unwrap();
    let host: Vec<u32> = (0..6).map(|i| data.labels()[i]).collect();
    let y = balgan::IndexTensor::new(dev(), &host).unwrap();
    let batch = balgan::models::Batch {
        images: &x,
        labels: &y,
        host_labels: &host,
    };
    let g = &players.generator;
    let mut opt = Adam::new(&g.parameter_tensors(), AdamConfig::default()).unwrap();
    let noise = Generator::new(9);
    let step = |opt: &mut Adam, i: u64| {
        let loss = mutation_loss(&players, Mutation::NonSaturating, &batch, &ctx(&noise, i), 0).unwrap();
        opt.minimize_own(&loss).unwrap();
    };
    // A parent with non-zero moments.
    step(&mut opt, 0);
    let parent = (values(&g.parameter_tensors()), adam_values(&opt), opt.steps());
    let copy = PlayerState::of(g, &opt).unwrap();
    let copied = |c: &PlayerState| {
        let (t, a) = c.parts();
        let (m, v) = a.moments();
        (values(t), values(&[m.unwrap().clone(), v.unwrap().clone()]), a.steps())
    };
    let copy_then = copied(&copy);
    assert_eq!(copy_then.0, parent.0, "the copy holds the parent's weights");
    // Training the live generator (the offspring) leaves the copy bit for bit.
    step(&mut opt, 1);
    step(&mut opt, 2);
    assert_ne!(values(&g.parameter_tensors()), parent.0, "the offspring moved");
    assert_ne!(adam_values(&opt), parent.1, "its moments moved");
    assert_eq!(
        copied(&copy),
        copy_then,
        "training the offspring changed the parent's copy"
    );
    // Restoring gives back the parent exactly, moments and step counts included.
    copy.restore_to(g, &mut opt).unwrap();
    assert_eq!(values(&g.parameter_tensors()), parent.0);
    assert_eq!(adam_values(&opt), parent.1);
    assert_eq!(opt.steps(), parent.2);
    // And training the restored parent does not reach into the copy.
    step(&mut opt, 3);
    assert_eq!(copied(&copy), copy_then);
    // Refreshing the copy reuses it: it now holds the trained state.
    let mut copy = copy;
    copy.copy_from(g, &opt).unwrap();
    assert_eq!(copied(&copy).0, values(&g.parameter_tensors()));
    // A copy of one module does not restore into another.
    let other =
        balgan::models::acgan::AcganPlayers::new(dev(), &Generator::new(3), &tiny(ModelKind::Aggan, 16, 3)).unwrap();
    let mut other_opt = Adam::new(&other.generator.parameter_tensors(), AdamConfig::default()).unwrap();
    assert!(copy.restore_to(&other.generator, &mut other_opt).is_err());
}

/// The tensors of a model's checkpoint whose names start with one of `prefixes`.
fn saved(model: &dyn BalancingModel, prefixes: &[&str]) -> Vec<(String, Vec<u32>)> {
    let path = std::env::temp_dir().join(format!("balgan-evolution-{}.safetensors", std::process::id()));
    let mut w = CheckpointWriter::new();
    model.save(&mut w).unwrap();
    w.write(&path).unwrap();
    let c = Checkpoint::open(&path).unwrap();
    let mut out: Vec<(String, Vec<u32>)> = c
        .keys()
        .into_iter()
        .filter(|k| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|k| {
            let v = c.values(&k).unwrap().1.iter().map(|x| x.to_bits()).collect();
            (k, v)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn evolving_models_train_and_a_rejected_offspring_leaves_the_parent() {
    let data = levels(12, 3, 8, 3);
    for kind in [ModelKind::Egan, ModelKind::Aggan] {
        let cfg = tiny(kind, 8, 3);
        let mut model = build(dev(), &cfg, 4).unwrap();
        let noise = Generator::new(6);
        model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
        let before = saved(model.as_ref(), &["generator.", "discriminator."]);
        for step in 0..3u64 {
            let idx: Vec<usize> = (0..6).map(|i| (i + step as usize * 6) % 12).collect();
            let losses = step_on(model.as_mut(), &data, &idx, &ctx(&noise, step));
            let names: Vec<&str> = losses.iter().map(|(n, _)| *n).collect();
            for want in ["d_loss", "g_loss", "f_best", "winner", "accepted"] {
                assert!(names.contains(&want), "{kind}: no {want} in {names:?}");
            }
            assert_eq!(
                names.contains(&"temperature"),
                kind == ModelKind::Aggan,
                "{kind}: {names:?}"
            );
            for (name, t) in losses {
                let v = t.item().unwrap();
                assert!(v.is_finite(), "{kind} step {step}: {name} = {v}");
            }
        }
        let after = saved(model.as_ref(), &["generator.", "discriminator."]);
        for part in ["generator.", "discriminator."] {
            let pick = |v: &[(String, Vec<u32>)]| {
                v.iter()
                    .filter(|(k, _)| k.starts_with(part))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_ne!(pick(&before), pick(&after), "{kind}: the {part} did not move");
        }
    }

    // AGGAN near T = 0 with one mutation: an offspring replaces the parent
    // exactly when it is at least as fit, and a rejected one leaves the
    // generator and its Adam state bit for bit.
    let mut cfg = tiny(ModelKind::Aggan, 8, 3);
    cfg.temperature = 1e-30;
    cfg.cooling = 1.0;
    cfg.mutations = vec![Mutation::Minimax];
    // Steps large enough to overshoot, and a fitness led by the critic's
    // gradient norm, so that some offspring come out worse than the parent.
    cfg.g_lr = 0.2;
    cfg.fitness_gamma = 1.0;
    let mut model = build(dev(), &cfg, 4).unwrap();
    let noise = Generator::new(6);
    model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
    let (mut accepted, mut rejected) = (0, 0);
    for step in 0..12u64 {
        let generator = saved(model.as_ref(), &["generator.", "opt_g."]);
        let idx: Vec<usize> = (0..6).map(|i| (i + step as usize * 5) % 12).collect();
        let losses = step_on(model.as_mut(), &data, &idx, &ctx(&noise, step));
        let get = |name: &str| losses.iter().find(|(n, _)| *n == name).unwrap().1.item().unwrap();
        let kept = get("accepted") == 1.0;
        assert_eq!(kept, get("f_best") >= get("f_parent"), "step {step}");
        let now = saved(model.as_ref(), &["generator.", "opt_g."]);
        if kept {
            accepted += 1;
            assert_ne!(now, generator, "step {step}: accepted, yet the generator is the parent");
        } else {
            rejected += 1;
            assert_eq!(now, generator, "step {step}: rejected, yet the generator changed");
        }
    }
    assert!(
        accepted > 0 && rejected > 0,
        "{accepted} accepted, {rejected} rejected: both paths must run"
    );
}

#[test]
fn bad_evolution_settings_are_clear_errors() {
    let check = |cfg: &ModelConfig, needle: &str| {
        let e = build(dev(), cfg, 1)
            .err()
            .unwrap_or_else(|| panic!("{needle}: accepted"))
            .to_string();
        assert!(e.contains(needle), "{e}");
    };
    let mut cfg = tiny(ModelKind::Aggan, 8, 3);
    cfg.mutations.clear();
    check(&cfg, "at least one mutation");
    for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut cfg = tiny(ModelKind::Aggan, 8, 3);
        cfg.temperature = t;
        check(&cfg, "temperature");
    }
    for a in [0.0, -0.5, 1.5, f32::NAN] {
        let mut cfg = tiny(ModelKind::Aggan, 8, 3);
        cfg.cooling = a;
        check(&cfg, "cooling factor");
    }
    // α = 1 (no cooling) is allowed.
    let mut cfg = tiny(ModelKind::Aggan, 8, 3);
    cfg.cooling = 1.0;
    build(dev(), &cfg, 1).unwrap();
    let mut cfg = tiny(ModelKind::Egan, 8, 3);
    cfg.temperature = 100.0;
    check(&cfg, "AGGAN's");
    let mut cfg = tiny(ModelKind::Egan, 8, 3);
    cfg.fitness_gamma = -1.0;
    check(&cfg, "fitness_gamma");
    let mut cfg = tiny(ModelKind::Acgan, 8, 3);
    cfg.mutations = vec![Mutation::Minimax];
    // Steps large enough to overshoot, and a fitness led by the critic's
    // gradient norm, so that some offspring come out worse than the parent.
    cfg.g_lr = 0.2;
    cfg.fitness_gamma = 1.0;
    check(&cfg, "E-GAN and AGGAN");
}
