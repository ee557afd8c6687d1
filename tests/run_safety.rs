//! What a careless or hostile user must not be able to do to a run: lose
//! their files, keep a diverged checkpoint, trust a run that never trained
//! its generator, or continue silently on other data or another adapter.
//! Each test reproduces the fault through the built binary.

use std::path::{Path, PathBuf};

use balgan::cli::run::RunDir;
use balgan::cli::train::{History, PhaseRecord};
use balgan::models::{CriticSchedule, ModelConfig, ModelKind};
use balgan::nn::{Checkpoint, CheckpointWriter};
use balgan::{Error, Tensor};

use crate::cli_train::{balgan, image_folder, model_args, s, train_args};
use crate::common::{dev, TempDir};

fn setup(tag: &str) -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new(tag);
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    (tmp, data, run)
}

fn step_of(path: &Path) -> u64 {
    Checkpoint::open(path)
        .unwrap()
        .metadata("train.step")
        .unwrap()
        .parse()
        .unwrap()
}

fn all_finite(path: &Path) -> bool {
    let c = Checkpoint::open(path).unwrap();
    c.keys()
        .iter()
        .all(|k| c.values(k).unwrap().1.iter().all(|v| v.is_finite()))
}

fn set_in_config(run: &Path, key: &str, value: &str) {
    let p = run.join("config.toml");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut found = false;
    let edited: Vec<String> = text
        .lines()
        .map(|l| {
            if l.split('=').next().map(str::trim) == Some(key) {
                found = true;
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "no '{key}' in {text}");
    std::fs::write(&p, edited.join("\n") + "\n").unwrap();
}

#[test]
fn a_diverged_run_keeps_a_healthy_checkpoint_that_resumes() {
    let (_tmp, data, run) = setup("diverge");
    // ae_lr = 1e30: the first update sends the weights to ±1e30 and the loss
    // of step 1 is NaN; with a checkpoint after every step, the step-1
    // checkpoint holds the weights that diverged.
    let (ok, _, err) = balgan(&train_args(
        &data,
        &run,
        &["--set", "ae_lr=1e30", "--checkpoint-every", "1"],
    ));
    assert!(!ok);
    assert!(err.contains("diverged") && err.contains("step 1"), "{err}");
    assert!(err.contains("(step 0)"), "the message names the kept checkpoint: {err}");
    let r = RunDir::new(&run);
    assert_eq!(step_of(&r.checkpoint_path()), 0);
    assert!(all_finite(&r.checkpoint_path()));
    // The step-0 weights are small: the checkpoint is not the diverged one.
    let c = Checkpoint::open(r.checkpoint_path()).unwrap();
    let biggest = c
        .keys()
        .iter()
        .flat_map(|k| c.values(k).unwrap().1)
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(biggest < 1e3, "largest value {biggest}");
    // After lowering the learning rate the run trains to the end.
    set_in_config(&run, "ae_lr", "0.0001");
    let (ok, _, err) = balgan(&["train", "--resume", s(&run), "--quiet"]);
    assert!(ok, "{err}");
    assert_eq!(
        Checkpoint::open(r.checkpoint_path())
            .unwrap()
            .metadata("train.finished"),
        Some("1")
    );
}

#[test]
fn a_run_diverging_at_its_first_step_keeps_the_weights_as_built() {
    let (_tmp, data, run) = setup("diverge0");
    // DCGAN's g_loss of step 0 is computed after the step's critic update.
    let args = model_args(
        "dcgan",
        &data,
        &run,
        &["--set", "d_lr=1e30", "--set", "g_lr=1e30", "--checkpoint-every", "1"],
    );
    let (ok, _, err) = balgan(&args);
    assert!(!ok);
    assert!(err.contains("step 0") && err.contains("is kept"), "{err}");
    let r = RunDir::new(&run);
    assert_eq!(step_of(&r.checkpoint_path()), 0);
    set_in_config(&run, "d_lr", "0.0002");
    set_in_config(&run, "g_lr", "0.0002");
    let (ok, _, err) = balgan(&["train", "--resume", s(&run), "--quiet"]);
    assert!(ok, "{err}");
}

#[test]
fn a_checkpoint_is_never_written_from_non_finite_tensors() {
    let tmp = TempDir::new("nonfinite");
    let path = tmp.0.join("w.safetensors");
    let good = Tensor::from_slice(dev(), &[1.0, 2.0, 3.0], &[3]).unwrap();
    CheckpointWriter::new().add_tensor("w", &good).write(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let t = Tensor::from_slice(dev(), &[1.0, bad, 3.0], &[3]).unwrap();
        match CheckpointWriter::new().add_tensor("w", &t).write(&path) {
            Err(Error::NonFinite { tensor, index, .. }) => {
                assert_eq!((tensor.as_str(), index), ("w", 1));
            }
            other => panic!("{bad}: expected NonFinite, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).unwrap(), before, "the file on disk was replaced");
        // Saving a broken state on purpose is possible.
        let dbg = tmp.0.join("debug.safetensors");
        CheckpointWriter::new()
            .add_tensor("w", &t)
            .allow_non_finite(true)
            .write(&dbg)
            .unwrap();
        let v = Checkpoint::open(&dbg).unwrap().values("w").unwrap().1;
        assert!(v[1].is_nan() == bad.is_nan() && (v[1].is_infinite() == bad.is_infinite()));
    }
}

#[test]
fn out_into_a_folder_of_the_users_is_refused_and_left_untouched() {
    let (tmp, data, _) = setup("out");
    let mine = tmp.0.join("mine");
    std::fs::create_dir_all(mine.join("checkpoints")).unwrap();
    std::fs::write(mine.join("losses.csv"), "epoch,acc\n1,0.5\n").unwrap();
    std::fs::write(mine.join("checkpoints/last.safetensors"), b"my own model").unwrap();
    let (ok, _, err) = balgan(&train_args(&data, &mine, &[]));
    assert!(!ok);
    assert!(err.contains("not empty") && err.contains("losses.csv"), "{err}");
    assert_eq!(
        std::fs::read_to_string(mine.join("losses.csv")).unwrap(),
        "epoch,acc\n1,0.5\n"
    );
    assert_eq!(
        std::fs::read(mine.join("checkpoints/last.safetensors")).unwrap(),
        b"my own model"
    );
    let mut names: Vec<String> = std::fs::read_dir(&mine)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["checkpoints", "losses.csv"]);
    // An empty folder is fine.
    let empty = tmp.0.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, _, err) = balgan(&train_args(&data, &empty, &[]));
    assert!(ok, "{err}");
    assert!(RunDir::new(&empty).checkpoint_path().is_file());
}

#[test]
fn bad_budgets_are_refused_before_anything_is_written() {
    let (_tmp, data, run) = setup("budget");
    for (flag, value) in [
        ("--budget-minutes", "inf"),
        ("--budget-minutes", "1e300"),
        ("--budget-minutes", "nan"),
        ("--budget-minutes", "0"),
        ("--budget-minutes", "-1"),
        ("--pretrain-share", "nan"),
        ("--pretrain-share", "1.5"),
    ] {
        let arg = format!("{flag}={value}");
        let (ok, _, err) = balgan(&train_args(&data, &run, &[&arg]));
        assert!(!ok, "{arg} was accepted");
        assert!(err.contains(flag), "{arg}: {err}");
        assert!(!err.contains("panicked"), "{arg}: {err}");
        assert!(!run.exists(), "{arg} created the run directory");
    }
    // A budget edited into a run's config.toml is checked on resume too.
    let (ok, _, err) = balgan(&train_args(&data, &run, &[]));
    assert!(ok, "{err}");
    set_in_config(&run, "pretrain_share", "nan");
    let (ok, _, err) = balgan(&["train", "--resume", s(&run)]);
    assert!(!ok);
    assert!(err.contains("--pretrain-share") && !err.contains("panicked"), "{err}");
}

#[test]
fn absurd_image_sizes_are_refused_before_allocating() {
    let (_tmp, data, run) = setup("size");
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--image-size", "100000"]));
    assert!(!ok);
    assert!(err.contains("host memory") && err.contains("--image-size"), "{err}");
    assert!(!run.exists());
    let (ok, _, err) = balgan(&[
        "data",
        "summary",
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--size",
        "100000",
    ]);
    assert!(!ok);
    assert!(err.contains("host memory"), "{err}");
    // A model lavapipe cannot hold (a 512 MiB tensor against its 128 MiB
    // binding limit) leaves no run directory behind; a GPU may train it.
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--image-size", "1024"]));
    if ok {
        assert!(RunDir::new(&run).checkpoint_path().is_file());
    } else {
        assert!(err.contains("limit"), "{err}");
        assert!(!run.exists(), "a run that never trained was left behind");
    }
}

#[test]
fn temporary_files_of_killed_writes_are_removed_when_a_run_is_opened() {
    let (_tmp, data, run) = setup("tmp");
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--budget-minutes", "0.0001"]));
    assert!(ok, "{err}");
    // What a kill during a checkpoint write leaves: PID 2^22 + 1 is above
    // Linux's largest PID, so no live process owns it.
    let orphan = run.join("checkpoints/.last.safetensors.tmp-4194305-0");
    std::fs::write(&orphan, vec![0u8; 1000]).unwrap();
    // A write takes seconds: a temporary file that recent may still be in use.
    let young = run.join("checkpoints/.last.safetensors.tmp-4194305-1");
    std::fs::write(&young, vec![0u8; 1000]).unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    let mine = run.join("checkpoints/notes.txt");
    std::fs::write(&mine, "kept").unwrap();
    let (ok, _, err) = balgan(&["train", "--resume", s(&run), "--quiet"]);
    assert!(ok, "{err}");
    assert!(!orphan.exists());
    assert!(young.exists());
    assert!(mine.exists());
}

#[test]
fn checkpoints_are_byte_reproducible_and_a_flipped_byte_is_caught() {
    let (tmp, data, run) = setup("bytes");
    let run2 = tmp.0.join("run2");
    for r in [&run, &run2] {
        let (ok, _, err) = balgan(&train_args(&data, r, &[]));
        assert!(ok, "{err}");
    }
    let a = std::fs::read(RunDir::new(&run).checkpoint_path()).unwrap();
    let b = std::fs::read(RunDir::new(&run2).checkpoint_path()).unwrap();
    assert!(a == b, "two runs of the same seed wrote different checkpoints");
    // Flip one byte in the tensor data, and one in a metadata value.
    let header = u64::from_le_bytes(a[..8].try_into().unwrap()) as usize;
    let text = std::str::from_utf8(&a[8..8 + header]).unwrap();
    let meta_at = 8 + text.find("\"train.step\":\"").unwrap() + "\"train.step\":\"".len();
    for (what, at) in [("data", a.len() - 5), ("metadata", meta_at)] {
        let mut bad = a.clone();
        bad[at] ^= if what == "data" { 0x10 } else { 0x01 };
        let p = tmp.0.join(format!("flipped-{what}.safetensors"));
        std::fs::write(&p, &bad).unwrap();
        let err = Checkpoint::open(&p)
            .err()
            .unwrap_or_else(|| panic!("a flipped {what} byte loaded"));
        let msg = err.to_string();
        assert!(msg.contains("checksum") && msg.contains(s(&p)), "{msg}");
    }
}

#[test]
fn a_corrupt_last_checkpoint_resumes_from_the_previous_one() {
    let (_tmp, data, run) = setup("corrupt");
    let (ok, _, err) = balgan(&train_args(
        &data,
        &run,
        &["--checkpoint-every", "2", "--budget-minutes", "0.0001"],
    ));
    assert!(ok, "{err}");
    let r = RunDir::new(&run);
    let last = r.checkpoint_path();
    let prev = r.previous_checkpoint_path();
    assert!(prev.is_file(), "no previous checkpoint kept");
    let mut bytes = std::fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&last, &bytes).unwrap();
    let prev_step = step_of(&prev);
    let (ok, out, err) = balgan(&["train", "--resume", s(&run)]);
    assert!(ok, "{err}");
    assert!(
        out.contains("checksum") && out.contains(&format!("previous checkpoint (step {prev_step})")),
        "{out}"
    );
    assert!(run.join("checkpoints/last.safetensors.corrupt").is_file());
}

#[test]
fn resuming_on_another_adapter_is_said_and_recorded() {
    let (_tmp, data, run) = setup("adapter");
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--budget-minutes", "0.0001"]));
    assert!(ok, "{err}");
    let r = RunDir::new(&run);
    // As if the run had started on another adapter.
    std::fs::write(r.adapter_path(), "Some GPU (Vulkan, DiscreteGpu)\n").unwrap();
    let hist = std::fs::read_to_string(r.history_path()).unwrap();
    let line = hist.lines().find(|l| l.starts_with("adapter = ")).unwrap().to_string();
    std::fs::write(
        r.history_path(),
        hist.replace(&line, "adapter = \"Some GPU (Vulkan, DiscreteGpu)\""),
    )
    .unwrap();
    let (ok, out, err) = balgan(&["train", "--resume", s(&run), "--budget-minutes", "0.0001"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("trained on Some GPU") && out.contains("bit-identical"),
        "{out}"
    );
    let now = dev().describe();
    let adapters = std::fs::read_to_string(r.adapter_path()).unwrap();
    assert!(
        adapters.starts_with("Some GPU") && adapters.contains(&now),
        "{adapters}"
    );
    let hist = std::fs::read_to_string(r.history_path()).unwrap();
    assert!(hist.contains("adapter changed from Some GPU"), "{hist}");
    assert!(hist.contains(&format!("adapter = \"{now}\"")), "{hist}");
}

#[test]
fn resuming_on_changed_data_is_refused_unless_asked() {
    let (_tmp, data, run) = setup("data");
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--budget-minutes", "0.0001"]));
    assert!(ok, "{err}");
    // Two more images of one class.
    for i in 10..12 {
        std::fs::copy(data.join("star/0.png"), data.join(format!("star/{i}.png"))).unwrap();
    }
    let (ok, _, err) = balgan(&["train", "--resume", s(&run)]);
    assert!(!ok);
    assert!(
        err.contains("changed") && err.contains("'star' had 8 images, now 10"),
        "{err}"
    );
    assert!(err.contains("--allow-data-change"), "{err}");
    let (ok, out, err) = balgan(&[
        "train",
        "--resume",
        s(&run),
        "--allow-data-change",
        "--budget-minutes",
        "0.0001",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("continuing on the new data"), "{out}");
    let hist = std::fs::read_to_string(RunDir::new(&run).history_path()).unwrap();
    assert!(hist.contains("changed training data"), "{hist}");
}

#[test]
fn a_run_whose_generator_is_never_updated_is_refused_or_flagged() {
    let (_tmp, data, run) = setup("ncritic");
    // 24 images in batches of 8: 3 batches of one critic update each on
    // fresh batches, fewer than n_critic = 5.
    let fresh = ["--batch", "8", "--set", "critic_schedule=fresh-batches"];
    let (ok, _, err) = balgan(&train_args(&data, &run, &fresh));
    assert!(!ok);
    assert!(
        err.contains("never be trained") && err.contains("n_critic = 5"),
        "{err}"
    );
    assert!(!run.exists());
    // A budget that stops the adversarial phase at its start is flagged.
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--budget-minutes", "0.0001"]));
    assert!(ok, "{err}");
    assert!(err.contains("generator was never updated"), "{err}");
    let hist = std::fs::read_to_string(RunDir::new(&run).history_path()).unwrap();
    assert!(hist.contains("generator was never updated"), "{hist}");
    // The report says it too.
    let (ok, _, err) = balgan(&["report", "--run", s(&run), "--quiet"]);
    assert!(ok, "{err}");
    let md = std::fs::read_to_string(RunDir::new(&run).report_path()).unwrap();
    assert!(md.contains("⚠ the generator was never updated"), "{md}");
}

#[test]
fn a_second_save_at_the_same_step_keeps_the_older_healthy_checkpoint() {
    let (_tmp, data, run) = setup("samestep");
    // BAGAN: 6 autoencoder steps, then the adversarial phase, whose first
    // step's generator loss (after a critic update with d_lr = 1e30) is NaN.
    // Step 6 is saved twice (periodically, then at the phase change).
    let args = model_args("bagan", &data, &run, &["--set", "d_lr=1e30", "--checkpoint-every", "1"]);
    let (ok, _, err) = balgan(&args);
    assert!(!ok);
    assert!(err.contains("diverged") && err.contains("at step 6"), "{err}");
    assert!(err.contains("(step 5), is kept"), "{err}");
    let r = RunDir::new(&run);
    assert_eq!(step_of(&r.checkpoint_path()), 5);
    assert!(all_finite(&r.checkpoint_path()));
}

#[test]
fn a_missing_last_checkpoint_or_none_at_all_still_resumes() {
    let (_tmp, data, run) = setup("missing");
    let (ok, _, err) = balgan(&train_args(&data, &run, &["--budget-minutes", "0.0001"]));
    assert!(ok, "{err}");
    let r = RunDir::new(&run);
    // Killed between putting `last` aside and writing it again.
    std::fs::remove_file(r.checkpoint_path()).unwrap();
    let (ok, out, err) = balgan(&["train", "--resume", s(&run), "--budget-minutes", "0.0001"]);
    assert!(ok, "{err}");
    assert!(out.contains("previous checkpoint (step 0)"), "{out}");
    assert!(r.checkpoint_path().is_file());
    // Killed before the step-0 checkpoint: no checkpoint, no trained step.
    std::fs::remove_file(r.checkpoint_path()).unwrap();
    std::fs::remove_file(r.previous_checkpoint_path()).unwrap();
    std::fs::remove_file(r.losses_path()).unwrap();
    let (ok, out, err) = balgan(&["train", "--resume", s(&run), "--budget-minutes", "60"]);
    assert!(ok, "{err}");
    assert!(out.contains("starting it from step 0"), "{out}");
    assert_eq!(
        Checkpoint::open(r.checkpoint_path())
            .unwrap()
            .metadata("train.finished"),
        Some("1")
    );
}

#[test]
fn the_generator_warning_counts_the_adversarial_steps() {
    let mut cfg = ModelConfig::defaults(ModelKind::Sgbgan, 1, 12, 3);
    assert_eq!(cfg.n_critic, 5);
    let phase = |name: &str, steps| PhaseRecord {
        name: name.into(),
        steps,
        epochs_completed: 0,
        epochs_planned: 1,
        seconds: 0.0,
        cut_short: None,
        critic_updates: 0,
        generator_updates: 0,
    };
    let mut h = History::default();
    assert!(h.generator_update_warning(&cfg).is_some(), "no adversarial step at all");
    // Per batch (SGBGAN's default), one batch already ends with a generator update.
    h.phases = vec![phase("sa-gvae", 100), phase("adversarial", 0)];
    assert!(h.generator_update_warning(&cfg).unwrap().contains("per-batch"));
    h.phases[1].steps = 1;
    assert_eq!(h.generator_update_warning(&cfg), None);
    // On fresh batches the generator waits for the 5th batch.
    cfg.critic_schedule = CriticSchedule::FreshBatches;
    h.phases[1].steps = 4;
    let msg = h.generator_update_warning(&cfg).unwrap();
    assert!(msg.contains("took 4 batches (4 critic updates)"), "{msg}");
    h.phases[1].steps = 5;
    assert_eq!(h.generator_update_warning(&cfg), None);
}
