//! src/nn/serialize.rs: safetensors round trips (bit-exact), optimizer state
//! that resumes training bit-identically, multi-module checkpoints, every
//! error path (missing and unexpected keys, shapes, dtypes, truncated and
//! corrupt files) and atomic writes.

use std::path::Path;

use crate::common::*;
use balgan::nn::loss;
use balgan::nn::serialize::{Checkpoint, CheckpointWriter};
use balgan::nn::{load, load_with_optimizer, save, save_with_optimizer, Linear, Module, Sequential, Tanh};
use balgan::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use balgan::{Generator, Tensor};

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn snapshot(m: &dyn Module) -> Vec<(String, Vec<u32>)> {
    let mut all = m.parameters();
    all.extend(m.buffers());
    all.into_iter().map(|(n, t)| (n, bits(&t))).collect()
}

/// A layer with a parameter and a non-trainable buffer.
struct Scaled {
    scale: Tensor,
    running: Tensor,
}

impl Module for Scaled {
    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        x.mul(&self.scale)
    }
    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("scale".into(), self.scale.clone())]
    }
    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![("running".into(), self.running.clone())]
    }
}

fn model(seed: u64) -> Sequential {
    let d = dev();
    let g = Generator::new(seed);
    Sequential::new()
        .push(Linear::new(d, &g, 4, 6, true).unwrap())
        .push(Tanh)
        .push_named(
            "head",
            Sequential::new()
                .push(Linear::new(d, &g, 6, 2, true).unwrap())
                .push(Scaled {
                    scale: g.uniform(d, &[2], 0.5, 1.5).unwrap().requires_grad_(),
                    running: g.normal(d, &[3], 0.0, 1.0).unwrap(),
                }),
        )
}

#[test]
fn round_trip_is_bit_exact() {
    let tmp = TempDir::new("serialize-round-trip");
    let dir = tmp.path().to_path_buf();
    let path = dir.join("model.safetensors");
    let a = model(1);
    // Values that a lossy path would change: −0, subnormals, ±∞, NaN, extremes.
    let special = [-0.0f32, 1e-40, f32::INFINITY, f32::NEG_INFINITY, f32::NAN, f32::MAX];
    let w = &a.parameters()[0].1;
    let mut v = w.to_vec().unwrap();
    v[..special.len()].copy_from_slice(&special);
    w.assign_slice_(&v).unwrap();
    // A plain save refuses non-finite values (a diverged model); asked for, they round-trip.
    assert!(matches!(save(&path, &a), Err(balgan::Error::NonFinite { .. })));
    balgan::nn::CheckpointWriter::new()
        .add_module("", &a)
        .allow_non_finite(true)
        .write(&path)
        .unwrap();
    assert_eq!(listing(&dir), vec!["model.safetensors"], "no temporary file is left");

    let b = model(2);
    let handles = b.parameter_tensors();
    assert_ne!(snapshot(&a), snapshot(&b));
    let report = load(&path, &b, true).unwrap();
    assert_eq!(snapshot(&a), snapshot(&b), "every parameter and buffer, bit for bit");
    let names: Vec<String> = snapshot(&a).into_iter().map(|(n, _)| n).collect();
    assert_eq!(report.loaded, names);
    assert!(report.missing.is_empty() && report.unexpected.is_empty());
    assert_eq!(
        names,
        vec![
            "0.weight",
            "0.bias",
            "head.0.weight",
            "head.0.bias",
            "head.1.scale",
            "head.1.running"
        ]
    );
    // Loaded in place: handles taken before the load see the new values.
    assert_eq!(bits(&handles[0]), snapshot(&a)[0].1);

    // The file is plain safetensors: F32 tensors under the module's names.
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("head.1.running").unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::F32);
    assert_eq!(t.shape(), [3]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One training step; every third step only the first layer gets a gradient,
/// so the per-parameter step counts differ.
fn train_step(m: &Sequential, step: &mut dyn FnMut() -> balgan::Result<()>, s: usize) {
    let mut rng = Rng::new(300 + s as u64);
    let x = tensor(&rng.uniform(8 * 4, -1.0, 1.0), &[8, 4]);
    let loss = if s % 3 == 1 {
        m.get(0)
            .unwrap()
            .forward(&x)
            .unwrap()
            .square()
            .unwrap()
            .mean_all()
            .unwrap()
    } else {
        let y = tensor(&rng.uniform(8 * 2, -1.0, 1.0), &[8, 2]);
        loss::mse(&m.forward(&x).unwrap(), &y).unwrap()
    };
    for p in m.parameter_tensors() {
        p.zero_grad();
    }
    loss.backward().unwrap();
    step().unwrap();
}

fn params_bits(m: &dyn Module) -> Vec<Vec<u32>> {
    m.parameter_tensors().iter().map(bits).collect()
}

#[test]
fn adam_state_resumes_training_bit_identically() {
    let tmp = TempDir::new("serialize-adam");
    let dir = tmp.path().to_path_buf();
    let path = dir.join("ck.safetensors");
    let config = AdamConfig {
        lr: 0.01,
        beta1: 0.5,
        beta2: 0.9,
        ..Default::default()
    };
    let a = model(3);
    let mut opt_a = Adam::new(&a.parameter_tensors(), config).unwrap();
    for s in 0..5 {
        train_step(&a, &mut || opt_a.step(), s);
    }
    save_with_optimizer(&path, &a, &opt_a).unwrap();
    let saved = params_bits(&a);
    for s in 5..9 {
        train_step(&a, &mut || opt_a.step(), s);
    }
    let uninterrupted = params_bits(&a);

    let b = model(4);
    let mut opt_b = Adam::new(&b.parameter_tensors(), config).unwrap();
    load_with_optimizer(&path, &b, &mut opt_b, true).unwrap();
    assert_eq!(params_bits(&b), saved);
    assert_eq!(opt_b.steps(), 5);
    assert_eq!(
        opt_b.param_steps(),
        [5, 5, 3, 3, 3],
        "layer 0 stepped every time, the head 3 of 5"
    );
    for s in 5..9 {
        train_step(&b, &mut || opt_b.step(), s);
    }
    assert_eq!(
        params_bits(&b),
        uninterrupted,
        "resumed run = uninterrupted run, bit for bit"
    );

    // Control: the same weights with a fresh optimizer take another path.
    let c = model(5);
    load(&path, &c, false).unwrap();
    let mut opt_c = Adam::new(&c.parameter_tensors(), config).unwrap();
    for s in 5..9 {
        train_step(&c, &mut || opt_c.step(), s);
    }
    assert_ne!(params_bits(&c), uninterrupted, "optimizer state must matter");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sgd_state_resumes_training_bit_identically() {
    let tmp = TempDir::new("serialize-sgd");
    let dir = tmp.path().to_path_buf();
    let path = dir.join("ck.safetensors");
    // Dampening ≠ 0 makes the started flags matter: a started buffer becomes
    // μ·buf + (1 − d)·g, a fresh one g.
    let config = SgdConfig {
        lr: 0.05,
        momentum: 0.9,
        dampening: 0.1,
        weight_decay: 1e-3,
        nesterov: false,
    };
    let a = model(6);
    let mut opt_a = Sgd::new(&a.parameter_tensors(), config).unwrap();
    // Steps 1 only: layer 0 started, the head not yet.
    train_step(&a, &mut || opt_a.step(), 1);
    save_with_optimizer(&path, &a, &opt_a).unwrap();
    for s in 2..6 {
        train_step(&a, &mut || opt_a.step(), s);
    }
    let uninterrupted = params_bits(&a);

    let b = model(7);
    let mut opt_b = Sgd::new(&b.parameter_tensors(), config).unwrap();
    load_with_optimizer(&path, &b, &mut opt_b, true).unwrap();
    assert_eq!(opt_b.started(), [true, true, false, false, false]);
    for s in 2..6 {
        train_step(&b, &mut || opt_b.step(), s);
    }
    assert_eq!(params_bits(&b), uninterrupted);

    let c = model(8);
    let mut opt_c = Sgd::new(&c.parameter_tensors(), config).unwrap();
    load(&path, &c, false).unwrap();
    for s in 2..6 {
        train_step(&c, &mut || opt_c.step(), s);
    }
    assert_ne!(params_bits(&c), uninterrupted, "momentum state must matter");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoints_hold_several_modules_and_optimizers() {
    let tmp = TempDir::new("serialize-multi");
    let dir = tmp.path().to_path_buf();
    let path = dir.join("gan.safetensors");
    let (g, d) = (model(10), model(11));
    let og = Adam::new(&g.parameter_tensors(), AdamConfig::default()).unwrap();
    let od = Sgd::new(&d.parameter_tensors(), SgdConfig::default()).unwrap();
    CheckpointWriter::new()
        .add_module("generator", &g)
        .add_module("critic", &d)
        .add_optimizer("optim_g", &g, &og)
        .unwrap()
        .add_optimizer("optim_d", &d, &od)
        .unwrap()
        .set_metadata("epoch", "12")
        .write(&path)
        .unwrap();

    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.metadata("epoch"), Some("12"));
    assert_eq!(ck.metadata("optim_g.kind"), Some("adam"));
    assert!(ck.contains("generator.head.1.running") && ck.contains("optim_d.0.weight.momentum"));
    assert!(ck.contains("optim_g.head.0.bias.v"));
    let (g2, d2) = (model(12), model(13));
    let mut og2 = Adam::new(&g2.parameter_tensors(), AdamConfig::default()).unwrap();
    ck.load_module("generator", &g2, true).unwrap();
    ck.load_optimizer("optim_g", &g2, &mut og2).unwrap();
    let unused = ck.unused_keys();
    assert!(
        !unused.is_empty()
            && unused
                .iter()
                .all(|k| k.starts_with("critic.") || k.starts_with("optim_d."))
    );
    let e = ck.finish(true).unwrap_err().to_string();
    assert!(e.contains("unexpected keys") && e.contains("critic.0.weight"), "{e}");
    ck.load_module("critic.", &d2, true).unwrap();
    let mut od2 = Sgd::new(&d2.parameter_tensors(), SgdConfig::default()).unwrap();
    ck.load_optimizer("optim_d", &d2, &mut od2).unwrap();
    assert_eq!(ck.finish(true).unwrap(), Vec::<String>::new());
    assert_eq!(snapshot(&g2), snapshot(&g));
    assert_eq!(snapshot(&d2), snapshot(&d));

    // An optimizer must be saved with the module that owns its parameters.
    let e = CheckpointWriter::new()
        .add_optimizer("optim", &d, &og)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a parameter of the module"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_and_shape_errors_name_the_key_and_write_nothing() {
    let tmp = TempDir::new("serialize-keys");
    let dir = tmp.path().to_path_buf();
    let d = dev();
    let g = Generator::new(20);
    let with_bias = Linear::new(d, &g, 3, 2, true).unwrap();
    let no_bias = Linear::new(d, &g, 3, 2, false).unwrap();
    let wide = Linear::new(d, &g, 3, 5, true).unwrap();
    let p_bias = dir.join("bias.safetensors");
    let p_nobias = dir.join("nobias.safetensors");
    save(&p_bias, &with_bias).unwrap();
    save(&p_nobias, &no_bias).unwrap();

    // Missing key: strict fails and names it; lenient loads the rest.
    let target = Linear::new(d, &g, 3, 2, true).unwrap();
    let before = snapshot(&target);
    let e = load(&p_nobias, &target, true).unwrap_err().to_string();
    assert!(
        e.contains("missing keys") && e.contains("\"bias\"") && e.contains("nobias.safetensors"),
        "{e}"
    );
    assert_eq!(snapshot(&target), before, "a failed load writes nothing");
    let r = load(&p_nobias, &target, false).unwrap();
    assert_eq!(
        (r.loaded, r.missing),
        (vec!["weight".to_string()], vec!["bias".to_string()])
    );
    assert_eq!(bits(&target.weight), bits(&no_bias.weight));
    assert_eq!(snapshot(&target)[1], before[1], "the missing bias keeps its value");

    // Unexpected key.
    let small = Linear::new(d, &g, 3, 2, false).unwrap();
    let e = load(&p_bias, &small, true).unwrap_err().to_string();
    assert!(e.contains("unexpected keys") && e.contains("\"bias\""), "{e}");
    let r = load(&p_bias, &small, false).unwrap();
    assert_eq!(r.unexpected, vec!["bias".to_string()]);
    assert_eq!(bits(&small.weight), bits(&with_bias.weight));

    // Shape mismatch: names the key and both shapes, even leniently.
    let before = snapshot(&wide);
    for strict in [true, false] {
        let e = load(&p_bias, &wide, strict).unwrap_err().to_string();
        assert!(
            e.contains("'weight'") && e.contains("[3, 2]") && e.contains("[3, 5]"),
            "{e}"
        );
    }
    assert_eq!(snapshot(&wide), before);

    // Optimizer state absent, or of another kind: errors, and nothing written.
    let m = model(21);
    let before = snapshot(&m);
    let p_model = dir.join("model.safetensors");
    save(&p_model, &model(22)).unwrap();
    let mut adam = Adam::new(&m.parameter_tensors(), AdamConfig::default()).unwrap();
    let e = load_with_optimizer(&p_model, &m, &mut adam, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("optim.kind"), "{e}");
    assert_eq!(
        snapshot(&m),
        before,
        "the module is untouched when the optimizer part fails"
    );
    let p_sgd = dir.join("sgd.safetensors");
    let other = model(23);
    save_with_optimizer(
        &p_sgd,
        &other,
        &Sgd::new(&other.parameter_tensors(), SgdConfig::default()).unwrap(),
    )
    .unwrap();
    let e = load_with_optimizer(&p_sgd, &m, &mut adam, true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sgd") && e.contains("adam"), "{e}");
    assert_eq!(snapshot(&m), before);

    // Corrupt counters: rejected before anything is written.
    let p_bad = dir.join("bad-counters.safetensors");
    let sgd = Sgd::new(&other.parameter_tensors(), SgdConfig::default()).unwrap();
    for (key, value, want) in [
        ("optim.steps", "abc", "not a whole number"),
        ("optim.0.weight.started", "2", "0 or 1"),
    ] {
        CheckpointWriter::new()
            .add_module("", &other)
            .add_optimizer("optim", &other, &sgd)
            .unwrap()
            .set_metadata(key, value)
            .write(&p_bad)
            .unwrap();
        let mut sgd_m = Sgd::new(&m.parameter_tensors(), SgdConfig::default()).unwrap();
        let e = load_with_optimizer(&p_bad, &m, &mut sgd_m, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{key}: {e}");
        assert_eq!(snapshot(&m), before, "{key}: nothing written");
        assert_eq!(sgd_m.steps(), 0);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_truncated_and_foreign_files_give_clear_errors() {
    let tmp = TempDir::new("serialize-corrupt");
    let dir = tmp.path().to_path_buf();
    let m = model(30);
    let good = dir.join("good.safetensors");
    save(&good, &m).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let target = model(31);
    let before = snapshot(&target);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() - 5].to_vec()),
        ("header-cut", bytes[..20].to_vec()),
        ("tiny", bytes[..3].to_vec()),
        ("empty", Vec::new()),
        ("garbage-header", {
            let mut b = bytes.clone();
            b[8..16].copy_from_slice(b"@@@@@@@@");
            b
        }),
        ("huge-length", {
            let mut b = bytes.clone();
            b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
        ("extra-bytes", {
            let mut b = bytes.clone();
            b.extend_from_slice(&[0; 4]);
            b
        }),
    ];
    for (name, data) in cases {
        let p = dir.join(format!("{name}.safetensors"));
        std::fs::write(&p, &data).unwrap();
        let e = load(&p, &target, true).unwrap_err().to_string();
        assert!(
            e.contains(&format!("{name}.safetensors")) && e.contains("truncated or corrupt"),
            "{name}: {e}"
        );
    }
    assert_eq!(snapshot(&target), before);

    let missing = dir.join("absent.safetensors");
    let e = load(&missing, &target, true).unwrap_err().to_string();
    assert!(e.contains("absent.safetensors"), "{e}");

    // A valid safetensors file with F64 tensors: names the key and the dtype.
    let lin = Linear::new(dev(), &Generator::new(1), 2, 2, false).unwrap();
    let data: Vec<u8> = [0.5f64, 1.0, -1.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2, 2], &data).unwrap();
    let encoded = safetensors::serialize([("weight", view)], None).unwrap();
    let p64 = dir.join("f64.safetensors");
    std::fs::write(&p64, encoded).unwrap();
    let e = load(&p64, &lin, true).unwrap_err().to_string();
    assert!(e.contains("'weight'") && e.contains("F64") && e.contains("F32"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writes_are_atomic() {
    let tmp = TempDir::new("serialize-atomic");
    let dir = tmp.path().to_path_buf();
    let m = model(40);
    let path = dir.join("ck.safetensors");
    save(&path, &m).unwrap();
    let original = std::fs::read(&path).unwrap();

    // An error before writing (duplicate names) leaves the old file intact.
    let e = CheckpointWriter::new()
        .add_module("", &model(41))
        .add_module("", &model(42))
        .write(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate tensor names") && e.contains("0.weight"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), original);

    // An error at the rename (the target is a directory): the temporary file
    // is removed and nothing else changes.
    let blocked = dir.join("blocked.safetensors");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("keep"), b"x").unwrap();
    let e = save(&blocked, &m).unwrap_err().to_string();
    assert!(e.contains("blocked.safetensors"), "{e}");
    assert_eq!(
        listing(&dir),
        vec!["blocked.safetensors", "ck.safetensors"],
        "no partial file left"
    );
    assert_eq!(listing(&blocked), vec!["keep"]);

    // A missing directory: a clear I/O error naming the path.
    let e = save(dir.join("no/such/dir/ck.safetensors"), &m)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir/ck.safetensors"), "{e}");

    // Overwriting replaces the file whole.
    let other = model(43);
    save(&path, &other).unwrap();
    let fresh = model(44);
    load(&path, &fresh, true).unwrap();
    assert_eq!(snapshot(&fresh), snapshot(&other));
    assert_eq!(listing(&dir), vec!["blocked.safetensors", "ck.safetensors"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
