//! The `balgan` command end to end (the binary cargo built for this test run).

use std::process::Command;

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
    if !std::path::Path::new("/usr/share/datasets/fashion-mnist").is_dir() {
        eprintln!("note: Fashion-MNIST is not installed (dataset-fashion-mnist); skipping");
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
    let (ok, _, err) = balgan(&["data", "summary", "--imbalance", "ir:0.5"]);
    assert!(!ok);
    assert!(err.to_lowercase().contains("ir"), "{err}");
    let (ok, _, err) = balgan(&["data", "summary", "--dataset", "cifar10"]);
    assert!(!ok);
    assert!(err.contains("--data"), "{err}");
    let (ok, _, err) = balgan(&["data", "summary", "--dataset", "imagenet"]);
    assert!(!ok);
    assert!(err.contains("unknown dataset 'imagenet'"), "{err}");
}

#[test]
fn a_bad_gpu_timeout_is_an_error_naming_the_variable() {
    for bad in ["abc", "0", "-5", "inf", "NaN", ""] {
        let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
            .arg("info")
            .env("BALGAN_TIMEOUT_SECS", bad)
            .output()
            .expect("run balgan");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "BALGAN_TIMEOUT_SECS={bad:?} was accepted");
        assert!(
            err.contains(&format!("BALGAN_TIMEOUT_SECS={bad:?}")) && err.contains("positive number of seconds"),
            "{bad:?}: {err}"
        );
    }
    for good in ["2.5", "3600"] {
        let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
            .arg("info")
            .env("BALGAN_TIMEOUT_SECS", good)
            .output()
            .expect("run balgan");
        assert!(out.status.success(), "{good}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
