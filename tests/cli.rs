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
fn data_summary_shows_the_two_classes_of_an_aggan_pair() {
    if !fashion_mnist_or_skip() {
        return;
    }
    let (ok, out, err) = balgan(&["data", "summary", "--imbalance", "aggan-pair:5,7,ir=100"]);
    assert!(ok, "{err}");
    let table = out
        .split("recipe aggan-pair:5,7,ir=100")
        .nth(1)
        .expect("the recipe's table");
    // Sneaker (7) is the negative class 0 with all 6000, Sandal (5) the
    // positive class 1 with ⌊6000 / 100⌋; no other class is listed.
    assert!(table.contains("| 0 | Sneaker | 6000 |"), "{out}");
    assert!(table.contains("| 1 | Sandal | 60 |"), "{out}");
    assert!(!table.contains("| 2 |") && !table.contains("Ankle boot"), "{out}");
    assert!(table.contains("total 6060 images, imbalance ratio 100.00"), "{out}");
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

/// `balgan info`'s adapter type line (`Cpu`, `DiscreteGpu`, ...) in the words of `--backend`.
fn kind_word(full: &str) -> &'static str {
    let ty = full
        .lines()
        .find_map(|l| l.strip_prefix("type"))
        .unwrap_or_else(|| panic!("no type line in:\n{full}"))
        .trim();
    match ty {
        "DiscreteGpu" => "discrete",
        "IntegratedGpu" => "integrated",
        "VirtualGpu" => "virtual",
        "Cpu" => "cpu",
        "Other" => "other",
        other => panic!("unknown adapter type '{other}'"),
    }
}

/// `balgan info`'s backend line, with its reason.
fn backend_reason(full: &str) -> String {
    full.lines()
        .find_map(|l| l.strip_prefix("backend"))
        .unwrap_or_else(|| panic!("no backend line in:\n{full}"))
        .trim()
        .to_string()
}

#[test]
fn info_backend_is_one_line_for_scripts() {
    let (ok, line, err) = balgan(&["info", "--backend"]);
    assert!(ok, "{err}");
    assert_eq!(line.lines().count(), 1, "{line}");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 2, "{line}");
    let api = match words[0] {
        "vulkan" => "Vulkan",
        "metal" => "Metal",
        "dx12" => "DX12",
        "gl" => "GL",
        other => panic!("unknown backend '{other}' in '{line}'"),
    };
    // The same adapter as the full report, which says why its backend.
    let (ok, full, err) = balgan(&["info"]);
    assert!(ok, "{err}");
    assert!(full.contains("self-test    ok"), "{full}");
    assert_eq!(words[1], kind_word(&full), "{full}");
    let reason = backend_reason(&full);
    assert!(reason.starts_with(api), "{line} vs {reason}");
    assert!(reason.contains(": "), "no reason given: {reason}");
    if cfg!(target_os = "linux") {
        // No adapter: nothing on stdout for a script to misread, the fix on stderr.
        let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
            .args(["info", "--backend"])
            .env("BALGAN_BACKEND", "metal")
            .output()
            .expect("run balgan");
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no GPU adapter found for backend 'metal'"), "{err}");
    }
}

/// A machine with Mesa's GL but no Vulkan driver, simulated by pointing the
/// Vulkan loader at no driver: balgan runs on GL and says what to install.
#[test]
fn info_without_vulkan_falls_back_to_gl_and_says_what_to_install() {
    if !cfg!(target_os = "linux") {
        return; // elsewhere Metal or DX12 is there instead
    }
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
            .args(args)
            .env("VK_DRIVER_FILES", "/nonexistent")
            .env("VK_ICD_FILENAMES", "/nonexistent")
            .env_remove("BALGAN_BACKEND")
            .env_remove("BALGAN_ADAPTER")
            .output()
            .expect("run balgan");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, line, err) = run(&["info", "--backend"]);
    if !ok {
        // No GL driver either: the error says what to install and what hid Vulkan.
        assert!(line.is_empty(), "{line}");
        assert!(err.contains("mesa-vulkan-drivers"), "{err}");
        assert!(err.contains("VK_DRIVER_FILES/VK_ICD_FILENAMES is set"), "{err}");
        eprintln!("note: no GL driver here either; the GL fallback was not exercised");
        return;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[0], "gl", "{line}");
    let (ok, full, err) = run(&["info"]);
    assert!(ok, "{err}");
    let reason = backend_reason(&full);
    if words[1] == "cpu" {
        assert!(
            reason.starts_with("GL (software ")
                && reason.contains("no Vulkan driver found; install mesa-vulkan-drivers"),
            "{reason}"
        );
    } else {
        assert!(reason.contains("install the GPU's Vulkan driver"), "{reason}");
    }
    // Commands that open the device say it on stderr too, before their own errors.
    let missing = std::env::temp_dir().join(format!("balgan-cli-no-run-{}", std::process::id()));
    let (ok, _, err) = run(&["eval", "--run", missing.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&reason), "{err}");
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
