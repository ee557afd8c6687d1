//! `balgan experiment`: the verdict rule on hand-made numbers, and the
//! s3vae-discard protocol end to end on a tiny image folder: a complete
//! report with verdict lines, the four groups' per-class image counts, and
//! a cached re-run that trains nothing.

use std::path::Path;

use balgan::cli::experiment::verdict::{compare, Spread, Verdict};
use balgan::cli::experiment::Measures;

use crate::cli_train::{balgan as run_balgan, image_folder, s};

fn spread(v: &[f64]) -> Spread {
    Spread::of(v).unwrap()
}

#[test]
fn verdicts_on_hand_made_tables() {
    // Apart and better: holds; apart and worse: does not hold.
    let (high, low) = (spread(&[0.90, 0.92, 0.91]), spread(&[0.80, 0.81, 0.79]));
    assert_eq!(compare(high, low, true), Verdict::Holds);
    assert_eq!(compare(low, high, true), Verdict::DoesNotHold);
    // Lower is better (FID): the same numbers read the other way.
    assert_eq!(compare(low, high, false), Verdict::Holds);
    // Overlapping spreads: inconclusive, whichever mean is larger.
    let (a, b) = (spread(&[0.80, 0.90]), spread(&[0.82, 0.86]));
    assert_eq!(compare(a, b, true), Verdict::Inconclusive);
    assert_eq!(compare(b, a, true), Verdict::Inconclusive);
    // One seed: no spread, the numbers decide; equal numbers do not hold.
    assert_eq!(compare(spread(&[0.5]), spread(&[0.4]), true), Verdict::Holds);
    assert_eq!(compare(spread(&[0.4]), spread(&[0.4]), true), Verdict::DoesNotHold);
    // Numbers equal but for f32 rounding are a tie either way round.
    let (a, b) = (spread(&[0.9999992]), spread(&[0.9999995]));
    assert_eq!(compare(a, b, false), Verdict::DoesNotHold);
    assert_eq!(compare(b, a, true), Verdict::DoesNotHold);
    assert_eq!(compare(spread(&[0.9999]), spread(&[0.9990]), true), Verdict::Holds);
    // The spread is the sample standard deviation.
    let s = spread(&[1.0, 2.0, 3.0, 4.0]);
    assert!((s.mean - 2.5).abs() < 1e-12 && (s.std - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!(s.n, 4);
    assert!(Spread::of(&[]).is_none());
}

fn measures(dir: &Path, name: &str) -> Measures {
    let text = std::fs::read_to_string(dir.join("results").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    toml::from_str(&text).unwrap()
}

#[test]
fn s3vae_discard_runs_end_to_end_and_a_rerun_trains_nothing() {
    let root = std::env::temp_dir().join(format!("balgan-experiment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    image_folder(&data);
    let out = root.join("exp");
    let args = [
        "experiment",
        "s3vae-discard",
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--image-size",
        "12",
        "--rates",
        "0.5",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--set",
        "batch=4",
        "--set",
        "latent=4",
        "--set",
        "width=4",
        "--classifier-width",
        "2",
        "--classifier-epochs",
        "1",
        "--out",
        s(&out),
    ];
    let (ok, stdout, stderr) = run_balgan(&args);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("(4 cells trained in this call)"), "{stdout}");
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for want in [
        "## Accuracy",
        "## Grouped F1.5",
        "| 1 full data |",
        "| 2 discarded |",
        "| 3 discarded + C-VAE images |",
        "| 3 discarded + S3VAE images |",
        "| 4 discarded + leftover ×2 |",
        "## Verdicts",
        "plots/accuracy.png",
    ] {
        assert!(report.contains(want), "no {want} in\n{report}");
    }
    // Three claims × one rate × two measures, each with a verdict and the seeds.
    let verdicts: Vec<&str> = report.lines().filter(|l| l.starts_with("- S3VAE's images")).collect();
    assert_eq!(verdicts.len(), 6, "{report}");
    for v in &verdicts {
        assert!(
            ["**holds**", "**does not hold**", "**inconclusive"]
                .iter()
                .any(|w| v.contains(w))
                && v.contains("seeds 0, 1"),
            "{v}"
        );
    }
    assert!(out.join("plots/accuracy.png").is_file());
    // The groups' images (the folder keeps 8 of each class's 10 for training;
    // half of class 0's go): full 8/8/8, discarded 4/8/8, leftover ×2 and
    // generated 8/8/8 (the generated images replace the discarded ones).
    for seed in 0..2 {
        assert_eq!(measures(&out, &format!("full-s{seed}.toml")).counts, vec![8, 8, 8]);
        assert_eq!(
            measures(&out, &format!("discarded-r50-s{seed}.toml")).counts,
            vec![4, 8, 8]
        );
        assert_eq!(
            measures(&out, &format!("replicated-r50-s{seed}.toml")).counts,
            vec![8, 8, 8]
        );
        for m in ["cvae", "s3vae"] {
            let g = measures(&out, &format!("generated-{m}-r50-s{seed}.toml"));
            assert_eq!(g.counts, vec![8, 8, 8], "{m}");
            assert!(g.accuracy.is_finite() && (0.0..=1.0).contains(&g.accuracy));
            assert!(out
                .join(format!("cells/{m}-r50-s{seed}/checkpoints/last.safetensors"))
                .is_file());
        }
    }
    // A re-run reads the cache: nothing trained, the same report.
    let (ok, stdout, stderr) = run_balgan(&args);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("(0 cells trained in this call)"), "{stdout}");
    assert_eq!(std::fs::read_to_string(out.join("report.md")).unwrap(), report);
    // Bad settings are clear errors.
    let mut bad = args.to_vec();
    bad[9] = "1.5";
    let (ok, _, stderr) = run_balgan(&bad);
    assert!(!ok && stderr.contains("discard rate must be in (0, 1)"), "{stderr}");
    let (ok, _, stderr) = run_balgan(&["experiment", "nope"]);
    assert!(!ok && stderr.contains("s3vae-discard"), "{stderr}");
    std::fs::remove_dir_all(&root).ok();
}

/// A protocol's arguments, the tables and rows its report must have, and
/// its number of verdict lines.
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    usize,
);

/// The four protocols measured by `balgan eval`, each on the tiny folder:
/// a report with a table per measure, the baselines where the protocol has
/// them, a verdict per (other row, measure, level), and a re-run that
/// neither trains nor evaluates.
#[test]
fn eval_measured_protocols_run_end_to_end_and_rerun_from_the_cache() {
    let root = std::env::temp_dir().join(format!("balgan-experiment-gan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("data");
    image_folder(&data);
    let common = [
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--image-size",
        "12",
        "--epochs",
        "1",
        "--ae-epochs",
        "1",
        "--set",
        "batch=4",
        "--set",
        "latent=4",
        "--set",
        "width=4",
        "--set",
        "n_critic=1",
        "--classifier-width",
        "2",
        "--classifier-epochs",
        "1",
        "--eval-per-class",
        "2",
        "--quiet",
    ];
    // (protocol, its levels, tables it must have, rows, verdict lines).
    let cases: [Case; 4] = [
        (
            "sgbgan-table3",
            &["--irs", "2", "--models", "dcgan,sgbgan"],
            &[
                "## Mean minority-class FID",
                "## Majority-class KID",
                "## Mean minority-class SSIM",
            ],
            &["| DCGAN |", "| SGBGAN |"],
            5,
        ),
        (
            "aggan-multiclass",
            &["--irs", "2", "--models", "acgan,aggan"],
            &["## ACSA", "## Macro F1", "## G-mean"],
            &[
                "| ACGAN |",
                "| AGGAN |",
                "| CN (imbalanced data) |",
                "| duplicated (oversampled) |",
            ],
            9,
        ),
        (
            "aggan-pair",
            &[
                "--irs",
                "2,3",
                "--positive",
                "0",
                "--negative",
                "1",
                "--models",
                "egan,aggan",
            ],
            &["## Accuracy"],
            &["| E-GAN |", "| AGGAN |", "| CN (imbalanced data) |"],
            4,
        ),
        (
            "cs-acgan-step",
            &["--rates", "0.5", "--models", "acgan,cs-acgan"],
            &[
                "## SSIM among the class's generated images",
                "## Accuracy on the class's generated images",
            ],
            &["| ACGAN |", "| CostSensitive-ACGAN |"],
            2,
        ),
    ];
    for (protocol, levels, tables, rows, verdicts) in cases {
        let out = root.join(protocol);
        let mut args = vec!["experiment", protocol, "--out", s(&out)];
        args.extend_from_slice(levels);
        args.extend_from_slice(&common);
        let (ok, stdout, stderr) = run_balgan(&args);
        assert!(ok, "{protocol}: {stdout}\n{stderr}");
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        for want in tables
            .iter()
            .chain(rows)
            .chain(&["## Verdicts", "plots/measure.png", "## Cells"])
        {
            assert!(report.contains(want), "{protocol}: no {want} in\n{report}");
        }
        // The header names the downstream classifier only where a measure uses one.
        let uses_classifier = matches!(protocol, "aggan-multiclass" | "aggan-pair");
        assert_eq!(
            report.contains("downstream classifier small (width 2), schedule adam, at most 1 epochs"),
            uses_classifier,
            "{protocol}:\n{report}"
        );
        assert_eq!(
            report.contains("no downstream classifier"),
            !uses_classifier,
            "{protocol}:\n{report}"
        );
        let lines: Vec<&str> = report.lines().filter(|l| l.contains(": **")).collect();
        assert_eq!(lines.len(), verdicts, "{protocol}:\n{report}");
        assert!(
            lines.iter().all(|l| l.contains("seeds 0") && l.contains("one seed")),
            "{protocol}: {lines:?}"
        );
        // The feature extractor was trained once and shared.
        let shared: Vec<_> = std::fs::read_dir(out.join("extractor")).unwrap().collect();
        assert_eq!(shared.len(), 1, "{protocol}");
        // Re-run: everything from the cache.
        args.retain(|a| *a != "--quiet");
        let (ok, stdout, stderr) = run_balgan(&args);
        assert!(ok, "{protocol}: {stderr}");
        assert!(
            stdout.contains("(0 cells trained and 0 evaluated in this call)"),
            "{protocol}: {stdout}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("report.md")).unwrap(),
            report,
            "{protocol}"
        );
        if protocol == "aggan-multiclass" {
            // The baselines are trained in the first model's cell only.
            let rows = |model: &str| {
                let cell = out.join("cells").join(format!("{model}-ir-2-s0"));
                let text = std::fs::read_to_string(cell.join("eval.toml")).unwrap();
                text.matches("[[downstream]]").count()
            };
            assert_eq!((rows("acgan"), rows("aggan")), (3, 1), "{protocol}");
        }
        if protocol == "cs-acgan-step" {
            // Other measuring settings: the cells are measured again, not
            // read from an eval.toml made another way.
            let at = args.iter().position(|a| *a == "--eval-per-class").unwrap();
            args[at + 1] = "3";
            let (ok, stdout, stderr) = run_balgan(&args);
            assert!(ok, "{protocol}: {stderr}");
            assert!(
                stdout.contains("(0 cells trained and 2 evaluated in this call)"),
                "{protocol}: {stdout}"
            );
        }
    }
    // A model outside the protocol is refused by name.
    let (ok, _, stderr) = run_balgan(&[
        "experiment",
        "aggan-pair",
        "--models",
        "sgbgan",
        "--out",
        s(&root.join("x")),
    ]);
    assert!(!ok && stderr.contains("sgbgan is not one of them"), "{stderr}");
    std::fs::remove_dir_all(&root).ok();
}
