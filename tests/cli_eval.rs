//! `cli::eval` and `cli::report` on a tiny untrained run (an 8×8 grey image
//! folder of 3 classes): refused settings, the settings and left-out classes
//! recorded in eval.toml and shown in report.md, the feature-extractor cache
//! keyed by what shapes it, and a report refusing an edited config.toml.

use std::path::Path;

use balgan::cli::eval::{eval, extractor_key, f1_5_group, fnv1a64, EvalArgs};
use balgan::cli::report::report;
use balgan::cli::run::RunDir;
use balgan::metrics::classifier::TrainConfig;
use balgan::models::ModelKind;
use balgan::nn::Checkpoint;

use crate::cli_generate::{tiny_run_of, TinyRun};
use crate::common::dev;

/// 6, 5 and 3 images with a third held out: 2, 2 and 1 test images; 4, 3 and 2
/// training images (class 0 the majority).
fn run(tag: &str) -> TinyRun {
    tiny_run_of(tag, 0.34, [6, 5, 3])
}

fn args(r: &TinyRun) -> EvalArgs {
    EvalArgs {
        run: r.run.clone(),
        per_class: Some(2),
        extractor_per_class: 8,
        extractor_epochs: 1,
        downstream: false,
        downstream_epochs: 1,
        downstream_baselines: true,
        seed: 0,
        quiet: true,
        ..EvalArgs::default()
    }
}

fn extractor_files(run: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(run.join("eval"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("extractor-"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn eval_refuses_settings_that_measure_nothing() {
    let r = run("eval-refuse");
    type Edit = Box<dyn Fn(&mut EvalArgs)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "--downstream-epochs",
            Box::new(|a| {
                a.downstream = true;
                a.downstream_epochs = 0;
            }),
        ),
        ("--per-class", Box::new(|a| a.per_class = Some(0))),
        ("--extractor-per-class", Box::new(|a| a.extractor_per_class = 0)),
        ("--extractor-epochs", Box::new(|a| a.extractor_epochs = 0)),
        ("--extractor-batch", Box::new(|a| a.extractor_batch = 1)),
    ];
    for (flag, set) in cases {
        let mut a = args(&r);
        set(&mut a);
        let err = eval(dev(), &a).unwrap_err().to_string();
        assert!(err.contains(flag), "{flag}: {err}");
    }
    assert!(
        !RunDir::new(&r.run).eval_path().exists(),
        "a refused eval wrote eval.toml"
    );
    // --no-downstream with 0 epochs is fine: nothing is trained downstream.
    let mut a = args(&r);
    a.downstream_epochs = 0;
    eval(dev(), &a).expect("eval without downstream");

    // The same through the command line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args([
            "eval",
            "--run",
            r.run.to_str().unwrap(),
            "--downstream-epochs",
            "0",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--downstream-epochs") && err.contains("--no-downstream"),
        "{err}"
    );
}

#[test]
fn eval_records_its_settings_and_the_classes_left_out_of_the_means() {
    let r = run("eval-settings");
    let mut a = args(&r);
    a.downstream = true;
    a.downstream_epochs = 2;
    a.seed = 9;
    let res = eval(dev(), &a).expect("eval");
    // Class 2 ("cow") has 1 test image: no FID. At 8×8 no class has an SSIM.
    assert!(res.classes[1].fid.is_some() && res.classes[2].fid.is_none());
    assert_eq!(res.minority_fid, res.classes[1].fid, "the mean is bee's alone");
    let left = res.minority_left_out.join("\n");
    assert!(left.contains("cow: FID: 1 test"), "{left}");
    assert!(!left.contains("bee: FID"), "{left}");
    // KID in the same features: bee's 2 test and 2 generated images make
    // subsets of 2; cow's 1 test image gives none.
    assert!(res.classes[1].kid.is_some() && res.classes[1].kid_std.is_some());
    assert_eq!(res.classes[1].kid_subset, Some(2));
    assert!(
        res.classes[2].kid.is_none() && left.contains("cow: KID: 1 test"),
        "{left}"
    );
    assert_eq!(res.minority_kid, res.classes[1].kid, "the KID mean is bee's alone");
    assert!(res.classes.iter().all(|c| c.ssim_global.is_none()), "no SSIM at 8×8");
    assert!(
        left.contains("bee: SSIM") && left.contains("cow: SSIM") && left.contains("11×11"),
        "{left}"
    );
    assert!(!left.contains("ant:"), "the majority class is not a minority: {left}");

    let toml = std::fs::read_to_string(RunDir::new(&r.run).eval_path()).unwrap();
    for want in [
        "[settings]",
        "per_class = 2",
        "extractor_per_class = 8",
        "extractor_epochs = 1",
        "downstream = true",
        "downstream_epochs = 2",
        "seed = 9",
        "step = 0",
        "model = \"cwgan-gp\"",
        "cow: FID",
        "kid_subsets = 100",
        "kid_max_subset = 1000",
        "kid_subset = 2",
    ] {
        assert!(toml.contains(want), "{want} missing from eval.toml:\n{toml}");
    }

    report(dev(), &r.run, true).expect("report");
    let md = std::fs::read_to_string(RunDir::new(&r.run).report_path()).unwrap();
    assert!(md.contains("Left out of the minority means"), "{md}");
    assert!(md.contains("- cow: FID: 1 test"), "{md}");
    assert!(md.contains("test images per class 2"), "{md}");
    assert!(
        md.contains("KID ↓ (mean ± std, subset)") && md.contains("SSIM global (eq. 13)"),
        "{md}"
    );
    assert!(md.contains("KID over 100 subsets of ≤ 1000 images"), "{md}");
    assert!(md.contains("≤ 8 training images per class, 1 epochs"), "{md}");
    assert!(md.contains("downstream classifiers 2 epochs per classifier"), "{md}");
    assert!(md.contains("seed 9"), "{md}");
}

#[test]
fn eval_reports_accuracy_on_generated_images_and_the_f_measures() {
    let r = run("eval-f-measures");
    let mut a = args(&r);
    a.downstream = true;
    a.downstream_epochs = 1;
    let res = eval(dev(), &a).expect("eval");
    let acc = res
        .accuracy_on_generated
        .as_ref()
        .expect("accuracy on generated images");
    let names: Vec<&str> = acc.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ant", "bee", "cow"]);
    // 2, 2 and 1 test images; as many generated images per class as the most (2).
    let in_unit = |v: f64| (0.0..=1.0).contains(&v);
    for c in &acc.classes {
        assert!(
            c.generated.is_some_and(in_unit) && c.classifier_test.is_some_and(in_unit),
            "{c:?}"
        );
        // The images not assigned to the class went somewhere: to another
        // class, which got some and at most all of the rest.
        let missed = 1.0 - c.generated.unwrap();
        match &c.taken_for {
            None => assert!(missed < 1e-12, "{c:?}"),
            Some(t) => assert!(t.class != c.name && t.share > 0.0 && t.share <= missed + 1e-12, "{c:?}"),
        }
    }
    // Overall test accuracy: the per-class ones weighted by the 2, 2 and 1 images.
    let t: Vec<f64> = acc.classes.iter().map(|c| c.classifier_test.unwrap()).collect();
    assert!((acc.classifier_test - (2.0 * t[0] + 2.0 * t[1] + t[2]) / 5.0).abs() < 1e-12);
    let g: Vec<f64> = acc.classes.iter().map(|c| c.generated.unwrap()).collect();
    assert!((acc.generated - g.iter().sum::<f64>() / 3.0).abs() < 1e-12);

    // Training counts 4, 3 and 2 with no recipe naming a class: the grouped
    // F1.5 sets the smallest class, cow, against the others, which for one
    // class is cow's own F1.5.
    let group = res.f1_5_group.as_ref().expect("group");
    assert_eq!(group.classes, ["cow"]);
    assert!(group.chosen_by.contains("fewest training images"), "{group:?}");
    assert_eq!(res.downstream.len(), 3);
    for d in &res.downstream {
        assert_eq!((d.precisions.len(), d.f1.len(), d.f1_5.len()), (3, 3, 3), "{d:?}");
        assert_eq!(d.grouped_f1_5, Some(d.f1_5[2]), "{d:?}");
        let macro_f1_5 = d.macro_f1_5.unwrap();
        let f1: f64 = d.f1.iter().sum::<f64>() / 3.0;
        // Every class has test images, so the macro means run over all three.
        assert!((d.macro_f1 - f1).abs() < 1e-12, "{d:?}");
        assert!((macro_f1_5 - d.f1_5.iter().sum::<f64>() / 3.0).abs() < 1e-12, "{d:?}");
        for c in 0..3 {
            // F_β from P and R, (1 + β²)PR/(β²P + R), 0 when both are 0.
            let (p, r) = (d.precisions[c], d.recalls[c]);
            let f = |b2: f64| {
                if p + r == 0.0 {
                    0.0
                } else {
                    (1.0 + b2) * p * r / (b2 * p + r)
                }
            };
            assert!(
                (d.f1[c] - f(1.0)).abs() < 1e-12 && (d.f1_5[c] - f(2.25)).abs() < 1e-12,
                "{d:?}"
            );
        }
    }

    let toml = std::fs::read_to_string(RunDir::new(&r.run).eval_path()).unwrap();
    for want in [
        "[accuracy_on_generated]",
        "classifier_test = ",
        "[f1_5_group]",
        "classes = [\"cow\"]",
        "macro_f1_5 = ",
        "grouped_f1_5 = ",
        "precisions = [",
        "f1_5 = [",
    ] {
        assert!(toml.contains(want), "{want} missing from eval.toml:\n{toml}");
    }
    report(dev(), &r.run, true).expect("report");
    let md = std::fs::read_to_string(RunDir::new(&r.run).report_path()).unwrap();
    for want in [
        "| class | accuracy on generated ↑ | most often taken for | classifier accuracy on test |",
        "trained on the real, balanced training split",
        "| macro F1.5 | G-mean | F1.5, cow vs rest |",
        "cow (the class with the fewest training images) as one class against all the others",
        "Per class, classifier trained on imbalanced (real only):",
        "| class | precision | recall | F1 | F1.5 |",
        "| class | train images | accuracy on generated ↑ | most often taken for | classifier on real test | FID ↓ \
         | KID ↓ |",
        "| **minority mean** (",
    ] {
        assert!(md.contains(want), "{want} missing from report.md:\n{md}");
    }
    // The report leads with the glance table and the grid, before the training details.
    let at = |h: &str| {
        md.find(h)
            .unwrap_or_else(|| panic!("{h} missing from report.md:\n{md}"))
    };
    assert!(at("## At a glance") < at("Samples from the last checkpoint"));
    assert!(at("Samples from the last checkpoint") < at("## Training"));
}

#[test]
fn the_grouped_f1_5_class_is_the_reduced_one_or_the_smallest() {
    let counts = [50, 40, 5, 30];
    let group = |recipe: Option<&str>| f1_5_group(recipe, &counts).unwrap();
    // S3VAE's discard recipe names its class(es); cs-acgan names one too.
    assert_eq!(group(Some("discard:class=1,rate=0.9")).0, [1]);
    assert_eq!(group(Some("discard:rate=0.9")).0, [0], "discard's default class 0");
    assert_eq!(group(Some("discard:class=3+1,rate=0.9")).0, [1, 3]);
    assert_eq!(group(Some("cs-acgan:class=3,remove=0.8")).0, [3]);
    assert!(group(Some("discard:class=1,rate=0.9")).1.contains("discard"));
    // Otherwise the smallest class, the first of them on a tie.
    assert_eq!(group(None).0, [2]);
    assert_eq!(group(Some("ir:10")).0, [2]);
    assert_eq!(f1_5_group(None, &[5, 3, 3]).unwrap().0, [1]);
    // A discard class the data does not have falls back to the smallest.
    assert_eq!(group(Some("discard:class=7,rate=0.9")).0, [2]);
}

#[test]
fn fnv1a64_matches_the_published_test_vectors() {
    // From the FNV reference (isthe.com/chongo/tech/comp/fnv), 64-bit FNV-1a.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

#[test]
fn the_extractor_cache_is_keyed_by_everything_that_shapes_it() {
    let r = run("eval-cache");
    eval(dev(), &args(&r)).expect("eval");
    let first = extractor_files(&r.run);
    assert_eq!(first.len(), 1, "{first:?}");
    // The same settings reuse it.
    eval(dev(), &args(&r)).expect("eval again");
    assert_eq!(extractor_files(&r.run), first);
    // Another seed, another epoch count: each gets its own extractor.
    let mut a = args(&r);
    a.seed = 1;
    eval(dev(), &a).expect("eval seed 1");
    let mut a = args(&r);
    a.extractor_epochs = 2;
    eval(dev(), &a).expect("eval 2 epochs");
    assert_eq!(extractor_files(&r.run).len(), 3, "{:?}", extractor_files(&r.run));

    // Another data folder with the same classes: another extractor.
    let run_dir = RunDir::new(&r.run);
    let mut cfg = run_dir.read_config().unwrap();
    let moved = r.tmp.0.join("data-copy");
    std::fs::create_dir_all(&moved).unwrap();
    for class in ["ant", "bee", "cow"] {
        let from = r.tmp.0.join("data").join(class);
        std::fs::create_dir_all(moved.join(class)).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), moved.join(class).join(e.file_name())).unwrap();
        }
    }
    cfg.data.path = Some(moved);
    run_dir.write_config(&cfg).unwrap();
    eval(dev(), &args(&r)).expect("eval on the copy");
    let files = extractor_files(&r.run);
    assert_eq!(files.len(), 4, "{files:?}");

    // Each file holds the key it was made under, which names the data path.
    let tc = TrainConfig {
        epochs: 1,
        seed: 0,
        ..TrainConfig::default()
    };
    let key = extractor_key(&cfg, &args(&r), &tc, 32);
    assert!(key.contains("data-copy"), "{key}");
    let name = files
        .iter()
        .find(|f| f.contains(&format!("{:016x}", fnv1a64(key.as_bytes()))))
        .expect("file of the key");
    let path = r.run.join("eval").join(name);
    assert_eq!(
        Checkpoint::open(&path).unwrap().metadata("balgan.extractor_key"),
        Some(key.as_str())
    );

    // A file under the right name but another key is not trusted: replaced.
    let other = r.run.join("eval").join(files.iter().find(|f| *f != name).unwrap());
    std::fs::copy(&other, &path).unwrap();
    eval(dev(), &args(&r)).expect("eval replaces the stale file");
    assert_eq!(
        Checkpoint::open(&path).unwrap().metadata("balgan.extractor_key"),
        Some(key.as_str())
    );
}

#[test]
fn report_refuses_a_config_edited_after_training() {
    let r = run("report-edited");
    let run_dir = RunDir::new(&r.run);
    report(dev(), &r.run, true).expect("report of the run as trained");
    let original = run_dir.read_config().unwrap();

    let mut other_model = original.clone();
    other_model.model.model = ModelKind::Dcgan;
    let mut other_size = original.clone();
    other_size.model.image_size = 16;
    other_size.data.image_size = 16;
    for (what, cfg) in [("model", other_model), ("image size", other_size)] {
        run_dir.write_config(&cfg).unwrap();
        let err = report(dev(), &r.run, true).unwrap_err().to_string();
        assert!(
            err.contains("does not describe the checkpoint") && err.contains("edited"),
            "{what}: {err}"
        );
    }
    // Through the command line: a failure, not a report of the edited config.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args(["report", "--run", r.run.to_str().unwrap(), "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not describe the checkpoint"));
}

#[test]
fn the_glance_summary_averages_the_minority_and_names_its_worst_class() {
    use balgan::cli::eval::{ClassAccuracy, ClassEval, EvalResults, GeneratedAccuracyEval, TakenFor};
    use balgan::cli::glance::{glance_table, minority_accuracy};
    // Class "b" has the most training images: the minority is a, c, d.
    let classes: Vec<ClassEval> = [("a", 60), ("b", 6000), ("c", 60), ("d", 60)]
        .iter()
        .map(|&(name, n)| ClassEval {
            name: name.into(),
            train_images: n,
            ..ClassEval::default()
        })
        .collect();
    let generated = [Some(0.5), Some(0.995), Some(0.25), None];
    let r = EvalResults {
        step: 1,
        features: String::new(),
        classes,
        minority_fid: None,
        minority_kid: None,
        minority_ssim: None,
        minority_ssim_global: None,
        downstream: Vec::new(),
        seconds: 0.0,
        minority_left_out: Vec::new(),
        settings: None,
        accuracy_on_generated: Some(GeneratedAccuracyEval {
            generated: 0.0,
            classifier_test: 0.0,
            classes: ["a", "b", "c", "d"]
                .iter()
                .zip(generated)
                .map(|(n, g)| ClassAccuracy {
                    name: n.to_string(),
                    generated: g,
                    classifier_test: Some(0.9),
                    // c's images that did not come out as c look like a.
                    taken_for: match *n {
                        "c" => Some(TakenFor {
                            class: "a".into(),
                            share: 0.6,
                        }),
                        // 1 image in 200 went elsewhere: not "0 %".
                        "b" => Some(TakenFor {
                            class: "c".into(),
                            share: 0.005,
                        }),
                        _ => None,
                    },
                })
                .collect(),
        }),
        f1_5_group: None,
    };
    let m = minority_accuracy(&r).expect("two minority classes measured");
    // d has no measure: the mean of a and c only.
    assert!((m.mean - 0.375).abs() < 1e-12, "{m:?}");
    assert_eq!((m.worst_class.as_str(), m.classes), ("c", 2));
    let md = glance_table(&r);
    assert!(
        md.contains("| **minority mean** (2 classes) | | **38 %** (worst: c 25 %)"),
        "{md}"
    );
    assert!(md.contains("chance is 25 %"), "{md}");
    assert!(md.contains("| c | 60 | 25 % | a 60 % | 90 % |"), "{md}");
    assert!(md.contains("| a | 60 | 50 % | – | 90 % |"), "{md}");
    assert!(md.contains("| b | 6000 | > 99 % | c < 1 % | 90 % |"), "{md}");
    assert!(minority_accuracy(&EvalResults {
        accuracy_on_generated: None,
        ..r
    })
    .is_none());
}

/// Training the feature extractor takes minutes on a CPU adapter: `balgan
/// eval` says how far it is (on a terminal in its spinner, otherwise a line
/// each time the classifier reports), epoch by epoch.
#[test]
fn eval_reports_the_feature_extractor_training_epoch_by_epoch() {
    let r = run("extractor-progress");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args([
            "eval",
            "--run",
            r.run.to_str().unwrap(),
            "--per-class",
            "2",
            "--extractor-per-class",
            "8",
            "--extractor-epochs",
            "2",
            "--no-downstream",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = |s: &str| {
        stdout
            .find(s)
            .unwrap_or_else(|| panic!("'{s}' missing from:\n{stdout}"))
    };
    let stage = at("training the feature extractor");
    let (first, second) = (at("  epoch 1/2, step "), at("  epoch 2/2, step "));
    assert!(stage < first && first < second, "{stdout}");
    assert!(stdout[second..].lines().next().unwrap().contains(": loss "), "{stdout}");
}

/// The class the minority means leave out: the most training images, the
/// first on a tie (discard recipes leave several classes tied at the top);
/// the glance's minority accuracy and the experiments' tables use the same.
#[test]
fn the_majority_class_is_the_first_of_the_largest() {
    use balgan::cli::eval::majority_class;
    assert_eq!(majority_class(&[5, 9, 9, 2]), Some(1));
    assert_eq!(majority_class(&[9, 9]), Some(0));
    assert_eq!(majority_class(&[1, 2, 3]), Some(2));
    assert_eq!(majority_class(&[]), None);
}

/// A cached eval.toml counts as the experiment's numbers only when it was
/// measured the same way; files written before the newer fields read as
/// the settings of their time (small classifier of width 32, Adam, baselines).
#[test]
fn an_eval_is_reused_only_when_made_with_the_same_settings() {
    use balgan::cli::eval::{DownstreamSchedule, EvalSettings, DOWNSTREAM_WIDTH, EXTRACTOR_WIDTH};
    use balgan::metrics::classifier::Architecture;
    let args = EvalArgs {
        per_class: Some(200),
        downstream: true,
        downstream_epochs: 3,
        ..EvalArgs::default()
    };
    let old = EvalSettings {
        checkpoint: "last.safetensors".into(),
        model: "acgan".into(),
        step: 10,
        per_class: 200,
        extractor_per_class: args.extractor_per_class,
        extractor_epochs: args.extractor_epochs,
        extractor_batch: None,
        extractor_file: "extractor-x.safetensors".into(),
        extractor_key: format!("v1;dataset=fashion-mnist;lr=0.001;width={EXTRACTOR_WIDTH}"),
        downstream: true,
        downstream_epochs: 3,
        downstream_baselines: None,
        downstream_classifier: None,
        downstream_width: None,
        downstream_schedule: None,
        seed: 0,
        kid_subsets: 100,
        kid_max_subset: 1000,
    };
    assert_eq!(args.downstream_width, DOWNSTREAM_WIDTH);
    assert!(old.made_with(&args), "an older file of the same settings");
    let differs = |f: &dyn Fn(&mut EvalArgs)| {
        let mut a = args.clone();
        f(&mut a);
        !old.made_with(&a)
    };
    assert!(differs(&|a| a.per_class = Some(100)));
    assert!(differs(&|a| a.extractor_width = EXTRACTOR_WIDTH * 2));
    assert!(differs(&|a| a.extractor_batch = 32));
    assert!(differs(&|a| a.downstream_epochs = 2));
    assert!(differs(&|a| a.downstream_width = 8));
    assert!(differs(&|a| a.downstream_classifier = Architecture::ResNet18));
    assert!(differs(&|a| a.downstream_schedule = DownstreamSchedule::S3vae));
    assert!(differs(&|a| a.seed = 1));
    // Fewer classifiers than measured is the same numbers; more is not.
    let mut without = old.clone();
    without.downstream_baselines = Some(false);
    assert!(!without.made_with(&args), "the baselines were not trained");
    assert!(without.made_with(&EvalArgs {
        downstream_baselines: false,
        ..args.clone()
    }));
    assert!(old.made_with(&EvalArgs {
        downstream: false,
        ..args.clone()
    }));
}
