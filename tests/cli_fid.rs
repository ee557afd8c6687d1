//! `balgan fid A B` end to end (the binary cargo built for this test run), on
//! `.npy` features and `.npz` statistics written here.

use std::path::PathBuf;
use std::process::Command;

use balgan::metrics::fid::fid;
use balgan::Tensor;

use crate::common::jacobi::sqrt_ref;
use crate::common::npy_files::{npy_bytes, zip_bytes};
use crate::common::{dev, Rng};

fn balgan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("run balgan");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("balgan-cli-fid-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// n correlated features in d dimensions with a shifted mean.
fn features(rng: &mut Rng, n: usize, d: usize, shift: f32, scale: f32) -> Vec<f32> {
    let z = rng.uniform(n * d, -1.7, 1.7);
    let mut x = vec![0.0; n * d];
    for i in 0..n {
        for j in 0..d {
            // x_j = z_j + 0.5·z_{j-1}: a non-diagonal covariance.
            let prev = if j > 0 { z[i * d + j - 1] } else { 0.0 };
            x[i * d + j] = scale * (z[i * d + j] + 0.5 * prev) + shift * (j as f32 + 1.0) / d as f32;
        }
    }
    x
}

/// (μ, Σ) in f64 with the n − 1 divisor.
fn stats(x: &[f32], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mu = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            mu[j] += x[i * d + j] as f64 / n as f64;
        }
    }
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            for b in 0..d {
                cov[a * d + b] += (x[i * d + a] as f64 - mu[a]) * (x[i * d + b] as f64 - mu[b]) / (n - 1) as f64;
            }
        }
    }
    (mu, cov)
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut c = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            for j in 0..d {
                c[i * d + j] += a[i * d + k] * b[k * d + j];
            }
        }
    }
    c
}

/// FID in f64: ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2·Tr √(Σ₁^½ Σ₂ Σ₁^½), square
/// roots by Jacobi eigendecomposition.
fn fid_f64(s1: &(Vec<f64>, Vec<f64>), s2: &(Vec<f64>, Vec<f64>), d: usize) -> f64 {
    let r = sqrt_ref(&s1.1, d);
    let inner = matmul(&matmul(&r, &s2.1, d), &r, d);
    let sym: Vec<f64> = (0..d * d)
        .map(|k| 0.5 * (inner[k] + inner[(k % d) * d + k / d]))
        .collect();
    let root = sqrt_ref(&sym, d);
    let tr = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let mean: f64 = s1.0.iter().zip(&s2.0).map(|(a, b)| (a - b).powi(2)).sum();
    mean + tr(&s1.1) + tr(&s2.1) - 2.0 * tr(&root)
}

fn value(out: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("FID: "))
        .unwrap_or_else(|| panic!("no FID line in {out}"));
    line["FID: ".len()..].trim().parse().unwrap()
}

const D: usize = 6;

struct Files {
    a: PathBuf,
    b: PathBuf,
    xa: Vec<f32>,
    xb: Vec<f32>,
    na: usize,
    nb: usize,
}

fn two_npy(name: &str) -> Files {
    let mut rng = Rng::new(0xF1D);
    let (na, nb) = (300, 200);
    let xa = features(&mut rng, na, D, 0.0, 1.0);
    let xb = features(&mut rng, nb, D, 1.5, 1.4);
    let d = dir(name);
    let (a, b) = (d.join("a.npy"), d.join("b.npy"));
    std::fs::write(&a, npy_bytes("<f4", false, &format!("({na}, {D})"), &f32_bytes(&xa))).unwrap();
    std::fs::write(&b, npy_bytes("<f4", false, &format!("({nb}, {D})"), &f32_bytes(&xb))).unwrap();
    Files { a, b, xa, xb, na, nb }
}

#[test]
fn fid_of_two_npy_files_is_the_library_fid_and_the_f64_one() {
    let f = two_npy("npy");
    let (ok, out, err) = balgan(&["fid", f.a.to_str().unwrap(), f.b.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}\n{err}");
    let got = value(&out);
    let lib = fid(
        &Tensor::from_slice(dev(), &f.xa, &[f.na, D]).unwrap(),
        &Tensor::from_slice(dev(), &f.xb, &[f.nb, D]).unwrap(),
    )
    .unwrap();
    let reference = fid_f64(&stats(&f.xa, f.na, D), &stats(&f.xb, f.nb, D), D);
    assert!(reference > 1.0, "the two sets should differ: {reference}");
    // Printed with 6 decimals; f32 statistics against f64.
    assert!(
        (got - lib).abs() <= 1e-3 * lib.abs().max(1.0),
        "cli {got} vs library {lib}"
    );
    assert!(
        (got - reference).abs() <= 1e-3 * reference,
        "cli {got} vs f64 {reference}"
    );
    assert!(out.contains(&format!("N = {}, D = {D}", f.na)), "{out}");
    assert!(out.contains(&format!("N = {}, D = {D}", f.nb)), "{out}");
    assert!(out.contains("a.npy") && out.contains("b.npy"), "{out}");
    std::fs::remove_dir_all(f.a.parent().unwrap()).ok();
}

#[test]
fn fid_of_npz_stats_with_unused_members_matches_the_features() {
    let f = two_npy("npz");
    let (mu, sigma) = stats(&f.xb, f.nb, D);
    let labels: Vec<u8> = (0..f.nb as i64).flat_map(|v| v.to_le_bytes()).collect();
    let images = f32_bytes(&[0.25; 2 * 3 * 4]);
    let npz = f.b.with_file_name("b_stats.npz");
    std::fs::write(
        &npz,
        zip_bytes(&[
            ("labels.npy", npy_bytes("<i8", false, &format!("({},)", f.nb), &labels)),
            ("mu.npy", npy_bytes("<f8", false, &format!("({D},)"), &f64_bytes(&mu))),
            ("images.npy", npy_bytes("<f4", false, "(2, 3, 4)", &images)),
            (
                "sigma.npy",
                npy_bytes("<f8", false, &format!("({D}, {D})"), &f64_bytes(&sigma)),
            ),
        ]),
    )
    .unwrap();
    let (ok, out, err) = balgan(&["fid", f.a.to_str().unwrap(), f.b.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{err}");
    let from_features = value(&out);
    let (ok, out, err) = balgan(&["fid", f.a.to_str().unwrap(), npz.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{out}\n{err}");
    let from_stats = value(&out);
    let reference = fid_f64(&stats(&f.xa, f.na, D), &(mu, sigma), D);
    assert!(
        (from_stats - from_features).abs() <= 1e-3 * reference,
        "npz {from_stats} vs npy {from_features}"
    );
    assert!(
        (from_stats - reference).abs() <= 1e-3 * reference,
        "npz {from_stats} vs f64 {reference}"
    );
    assert!(out.contains("mu/sigma") && out.contains("statistics"), "{out}");
    std::fs::remove_dir_all(f.a.parent().unwrap()).ok();
}

#[test]
fn fid_of_a_file_with_itself_is_zero() {
    let f = two_npy("same");
    let (ok, out, err) = balgan(&["fid", f.b.to_str().unwrap(), f.b.to_str().unwrap(), "--quiet"]);
    assert!(ok, "{err}");
    let v = value(&out);
    let scale = stats(&f.xb, f.nb, D).1.iter().step_by(D + 1).sum::<f64>();
    assert!(v.abs() <= 1e-4 * scale, "FID of a set with itself {v} (Tr Σ = {scale})");
    std::fs::remove_dir_all(f.a.parent().unwrap()).ok();
}

#[test]
fn fid_bad_inputs_fail_with_a_clear_message() {
    let f = two_npy("bad");
    let a = f.a.to_str().unwrap();
    // A missing file.
    let missing = f.a.with_file_name("missing.npy");
    let (ok, _, err) = balgan(&["fid", a, missing.to_str().unwrap(), "--quiet"]);
    assert!(!ok);
    assert!(err.contains("missing.npy") && err.contains("no such file"), "{err}");
    // Different D.
    let other = f.a.with_file_name("d5.npy");
    let x: Vec<f32> = (0..20).map(|v| (v * v % 7) as f32).collect();
    std::fs::write(&other, npy_bytes("<f4", false, "(4, 5)", &f32_bytes(&x))).unwrap();
    let (ok, _, err) = balgan(&["fid", a, other.to_str().unwrap(), "--quiet"]);
    assert!(!ok);
    assert!(err.contains("D = 6") && err.contains("D = 5"), "{err}");
    // An image folder: says what to pass instead.
    let folder = f.a.parent().unwrap().to_str().unwrap();
    let (ok, _, err) = balgan(&["fid", a, folder, "--quiet"]);
    assert!(!ok);
    assert!(err.contains("image folder") && err.contains(".npy"), "{err}");
    // An npz with neither mu/sigma nor features.
    let npz = f.a.with_file_name("labels.npz");
    let labels: Vec<u8> = (0..4i64).flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(
        &npz,
        zip_bytes(&[("labels.npy", npy_bytes("<i8", false, "(4,)", &labels))]),
    )
    .unwrap();
    let (ok, _, err) = balgan(&["fid", a, npz.to_str().unwrap(), "--quiet"]);
    assert!(!ok);
    assert!(err.contains("labels.npz") && err.contains("mu"), "{err}");
    std::fs::remove_dir_all(f.a.parent().unwrap()).ok();
}

#[test]
fn fid_of_two_image_folders_uses_the_given_extractor() {
    use balgan::data::export::export_image_folder;
    use balgan::data::image_folder;
    use balgan::metrics::classifier::Classifier;
    use balgan::metrics::evaluate::features as extract;
    use balgan::metrics::fid::{feature_stats, fid_from_stats};
    use balgan::nn::{self, Module};
    use balgan::tensor::Generator;

    let root = dir("folders");
    // An untrained extractor (width 4, grey images, 2 classes): deterministic
    // features are all the FID needs.
    let clf = Classifier::new(dev(), &Generator::new(7), 1, 2, 4).unwrap();
    clf.set_training(false);
    let ex = root.join("extractor.safetensors");
    nn::save(&ex, &clf).unwrap();
    let mut rng = Rng::new(0xF01D);
    let side = 8;
    let n = 12;
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let a_px = rng.uniform(n * side * side, -1.0, 1.0);
    let b_px: Vec<f32> = rng.uniform(n * side * side, -1.0, 0.2);
    let (fa, fb) = (root.join("a"), root.join("b"));
    for (dir, px) in [(&fa, &a_px), (&fb, &b_px)] {
        export_image_folder(dir, px, &[n, 1, side, side], &labels, &["x", "y"]).unwrap();
    }
    let (ok, out, err) = balgan(&[
        "fid",
        fa.to_str().unwrap(),
        fb.to_str().unwrap(),
        "--extractor",
        ex.to_str().unwrap(),
        "--image-size",
        "8",
        "--quiet",
    ]);
    assert!(ok, "{out}\n{err}");
    // The same through the library: the folders as read back (PNG-rounded).
    let stats = |d: &PathBuf| {
        let ds = image_folder(d, side).unwrap();
        feature_stats(&extract(dev(), &clf, &ds).unwrap()).unwrap()
    };
    let (sa, sb) = (stats(&fa), stats(&fb));
    let lib = fid_from_stats(&sa.mean, &sa.cov, &sb.mean, &sb.cov).unwrap().value;
    let got = value(&out);
    assert!(lib > 0.0);
    assert!((got - lib).abs() <= 1e-3 * lib.max(1e-3), "cli {got} vs library {lib}");
    assert!(out.contains(&format!("N = {n}, D = 16")), "{out}");
    assert!(out.contains("extractor: ") && out.contains("fingerprint"), "{out}");

    // A folder with neither --extractor nor --run: says how to get one.
    let (ok, _, err) = balgan(&["fid", fa.to_str().unwrap(), fb.to_str().unwrap(), "--quiet"]);
    assert!(!ok);
    assert!(
        err.contains("--run") && err.contains("--extractor") && err.contains("balgan eval"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).ok();
}
