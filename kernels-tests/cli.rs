//! The `balgan` command end to end (the binary cargo built for this test run).

use std::process::Command;

use crate::common::fashion_mnist_or_skip;

fn balgan(args: &[&str]) -> (bool, String, String) {
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

#[test]
fn data_summary_prints_fashion_mnist_under_a_recipe() {
    if !fashion_mnist_or_skip() {
        return;
    }
    let (ok, out, err) = balgan(&[
        "data",
        "summary",
        "--imbalance",
        "ir:100",
        "--imbalance",
        "bagan-gp:fashion-mnist",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("60000 images, 10 classes, 1 x 28 x 28"), "{out}");
    // IR 100: class 0 whole (6000), the nine others 60 each.
    assert!(out.contains("recipe ir:100 (seed 0): 6540 images"), "{out}");
    assert_eq!(out.matches("| 60 | 0.92 % |").count(), 9, "{out}");
    // The BAGAN-GP table's smallest class.
    assert!(out.contains("| 1 | Trouser | 73 |"), "{out}");
}

#[test]
fn bad_arguments_are_explained() {
    // A bad recipe is named before any dataset is looked for, so a machine
    // without Fashion-MNIST gets the same error (--data names a missing folder).
    let missing = std::env::temp_dir().join(format!("balgan-cli-no-data-{}", std::process::id()));
    let missing = missing.to_str().unwrap();
    for (args, want) in [
        (
            &["data", "summary", "--imbalance", "ir:0.5"][..],
            "IR must be at least 1, got 0.5",
        ),
        (
            &["data", "summary", "--imbalance", "ir:0.5", "--data", missing],
            "IR must be at least 1, got 0.5",
        ),
        (
            &[
                "data",
                "summary",
                "--imbalance",
                "discard:class=0,rate=1.5",
                "--data",
                missing,
            ],
            "rate must lie in [0, 1), got 1.5",
        ),
        (
            &["train", "--imbalance", "step:mu=0,rho=10", "--data", missing],
            "μ must lie in (0, 1], got 0",
        ),
    ] {
        let (ok, _, err) = balgan(args);
        assert!(!ok, "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("not found"), "{args:?} looked for the data first: {err}");
    }
    let (ok, _, err) = balgan(&["data", "summary", "--dataset", "cifar10"]);
    assert!(!ok);
    assert!(err.contains("--data"), "{err}");
    let (ok, _, err) = balgan(&["data", "summary", "--dataset", "imagenet"]);
    assert!(!ok);
    assert!(err.contains("unknown dataset 'imagenet'"), "{err}");
}
