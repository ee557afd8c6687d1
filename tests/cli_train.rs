//! `balgan train`, `eval`, `report` and `train --resume` end to end through the
//! built binary, on a tiny image folder (3 classes of 12×12 grey images), and
//! a training process killed between steps leaving a loadable checkpoint.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use balgan::cli::run::{noise_seed, RunDir};
use balgan::models::{build, trainer};
use balgan::nn::Checkpoint;
use balgan::Generator;

use crate::common::{dev, Rng, TempDir};

const SIDE: u32 = 12;

pub(crate) fn balgan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args(args)
        .output()
        .expect("run balgan");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// 3 classes of 10 images: a class-specific bar position plus noise.
pub(crate) fn image_folder(root: &Path) {
    let mut rng = Rng::new(0xF01D);
    for (k, name) in ["circle", "square", "star"].iter().enumerate() {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..10 {
            let px: Vec<u8> = (0..SIDE * SIDE)
                .map(|p| {
                    let x = p % SIDE;
                    let bar = (x / 4) as usize == k;
                    (if bar { 200 } else { 30 }) + rng.below(40) as u8
                })
                .collect();
            image::save_buffer(d.join(format!("{i}.png")), &px, SIDE, SIDE, image::ColorType::L8).unwrap();
        }
    }
}

pub(crate) fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The tiny SGBGAN run of the command-line tests (on [`image_folder`]): 24 training images of 12×12, batch 4.
pub(crate) fn train_args<'a>(data: &'a Path, run: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    model_args("sgbgan", data, run, extra)
}

/// [`train_args`] for another model.
pub(crate) fn model_args<'a>(model: &'a str, data: &'a Path, run: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "train",
        "--model",
        model,
        "--dataset",
        "folder",
        "--data",
        s(data),
        "--image-size",
        "12",
        "--batch",
        "4",
        "--ae-epochs",
        "1",
        "--epochs",
        "1",
        "--set",
        "latent=8",
        "--out",
        s(run),
        "--quiet",
    ];
    // A flag of `extra` already in the list replaces its value there.
    let mut rest = extra.iter();
    while let Some(&flag) = rest.next() {
        match a.iter().position(|x| *x == flag) {
            Some(i) if flag.starts_with("--") && flag != "--set" => a[i + 1] = rest.next().copied().unwrap_or(""),
            _ => a.push(flag),
        }
    }
    a
}

#[test]
fn train_eval_report_and_resume_work_from_the_command_line() {
    let tmp = TempDir::new("e2e");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let base = train_args(&data, &run, &[]);
    let (ok, _, err) = balgan(&base);
    assert!(ok, "{err}");
    let r = RunDir::open(&run).unwrap();
    let cfg = r.read_config().unwrap();
    assert_eq!(cfg.model.latent, 8, "--set applied");
    assert_eq!(cfg.class_names, ["circle", "square", "star"]);
    // 24 training images (8 per class after the 20 % hold-out), batch 4: 6 steps per phase.
    let csv = std::fs::read_to_string(r.losses_path()).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 12, "{csv}");
    assert!(
        csv.starts_with("step,phase,epoch,loss,kl,bce,mse,d_loss,gp,g_loss"),
        "{csv}"
    );
    assert!(r.checkpoint_path().is_file());
    assert!(r.samples_dir().join("final.png").is_file());
    assert!(r.samples_dir().join("sa-gvae-epoch-001.png").is_file());
    let c = Checkpoint::open(r.checkpoint_path()).unwrap();
    assert_eq!(c.metadata("train.finished"), Some("1"));

    let (ok, _, err) = balgan(&[
        "eval",
        "--run",
        s(&run),
        "--per-class",
        "2",
        "--extractor-per-class",
        "8",
        "--no-downstream",
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let eval = std::fs::read_to_string(r.eval_path()).unwrap();
    assert_eq!(eval.matches("[[classes]]").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nfid = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nssim = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nssim_global = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nkid = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nkid_std = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nwithin_generated = ").count(), 3, "{eval}");
    assert_eq!(eval.matches("\nwithin_real = ").count(), 3, "{eval}");

    let (ok, _, err) = balgan(&["report", "--run", s(&run), "--quiet"]);
    assert!(ok, "{err}");
    let md = std::fs::read_to_string(r.report_path()).unwrap();
    assert!(md.contains("| circle | 8 | 2 | 2 |"), "{md}");
    assert!(md.contains("![samples](samples/final.png)"), "{md}");
    for phase in ["sa-gvae", "adversarial"] {
        assert!(md.contains(&format!("plots/{phase}-losses.png")), "{md}");
        assert!(r.plots_dir().join(format!("{phase}-losses.png")).is_file());
    }

    // A finished run says so; a second train into it is refused with the fix.
    let (ok, out, err) = balgan(&["train", "--resume", s(&run)]);
    assert!(ok, "{err}");
    assert!(out.contains("finished training already"), "{out}");
    let (ok, _, err) = balgan(&base);
    assert!(!ok);
    assert!(err.contains("--resume"), "{err}");
    let (ok, _, err) = balgan(&["eval", "--run", s(&tmp.0)]);
    assert!(!ok);
    assert!(err.contains("not a run directory"), "{err}");
}

#[test]
fn a_killed_training_process_leaves_a_checkpoint_that_resumes() {
    let tmp = TempDir::new("kill");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args([
            "train",
            "--model",
            "cwgan-gp",
            "--dataset",
            "folder",
            "--data",
            s(&data),
            "--image-size",
            "8",
            "--batch",
            "4",
            "--epochs",
            "1000",
            "--checkpoint-every",
            "1",
            "--set",
            "latent=8",
            "--out",
            s(&run),
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let r = RunDir::new(&run);
    let start = Instant::now();
    // Wait for a few checkpoints, then kill the process mid-run.
    loop {
        let rows = std::fs::read_to_string(r.losses_path()).map_or(0, |t| t.lines().count());
        if rows > 5 && r.checkpoint_path().is_file() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "no checkpoint after 300 s");
        assert!(child.try_wait().unwrap().is_none(), "training exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // The last checkpoint loads into a fresh model.
    let cfg = r.read_config().unwrap();
    let mut model = build(dev(), &cfg.model, cfg.train.seed).unwrap();
    let rng = Generator::new(noise_seed(cfg.train.seed));
    let state = trainer::restore(model.as_mut(), &r.checkpoint_path(), cfg.train.seed, &rng).unwrap();
    assert!(state.step >= 1 && !state.finished, "{state:?}");
    // No temporary file is left where the checkpoint lives, or it is a leftover
    // of the killed write that the next checkpoint replaces; either way the
    // file above loaded.
    let (ok, out, err) = balgan(&["train", "--resume", s(&run), "--budget-minutes", "0.02"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("resuming {} at step {}", run.display(), state.step)),
        "{out}"
    );
    let after = Checkpoint::open(r.checkpoint_path()).unwrap();
    let step: u64 = after.metadata("train.step").unwrap().parse().unwrap();
    assert!(step >= state.step, "resumed at {} but saved {step}", state.step);
    // The log has one row per step, without duplicates from the killed run.
    let csv = std::fs::read_to_string(r.losses_path()).unwrap();
    let steps: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(steps, (0..step).collect::<Vec<u64>>());
}
