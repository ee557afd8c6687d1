//! Dataset loaders, the dataset summary and batching, on small files each test
//! writes itself, plus the real Fashion-MNIST where the Debian package is installed.

use std::io::Write;
use std::path::Path;

use balgan::data::batch::{BatchOptions, Batcher};
use balgan::data::cifar::{cifar10, CIFAR10_CLASSES};
use balgan::data::dataset::{Dataset, Split};
use balgan::data::fashion_mnist::{fashion_mnist, locate_fashion_mnist, FASHION_MNIST_DEBIAN_DIR};
use balgan::data::folder::image_folder;
use balgan::data::idx::load_idx;
use balgan::Tensor;

use crate::common::{ci_from, data_or_skip, dev, fashion_mnist_or_skip, Rng, TempDir};

fn scaled(b: u8) -> f32 {
    (b as f32 - 127.5) / 127.5
}

fn idx_images_bytes(n: usize, h: usize, w: usize, pixels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend_from_slice(pixels);
    v
}

fn idx_labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, 1];
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

fn err_text<T: std::fmt::Debug>(r: balgan::Result<T>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error message {msg:?} should mention {p:?}");
    }
}

struct IdxCase {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    n: usize,
    h: usize,
    w: usize,
}

fn idx_case(salt: u64) -> IdxCase {
    let mut rng = Rng::new(salt);
    let (n, h, w) = (7, 5, 4);
    let pixels = (0..n * h * w).map(|_| rng.below(256) as u8).collect();
    let mut labels: Vec<u8> = (0..n).map(|_| rng.below(3) as u8).collect();
    labels[0] = 2;
    IdxCase {
        pixels,
        labels,
        n,
        h,
        w,
    }
}

fn check_idx_dataset(d: &Dataset, c: &IdxCase) {
    assert_eq!(d.shape(), [c.n, 1, c.h, c.w]);
    let want: Vec<u32> = c.labels.iter().map(|&l| l as u32).collect();
    assert_eq!(d.labels(), &want[..]);
    for (i, (&g, &b)) in d.images().iter().zip(&c.pixels).enumerate() {
        assert!((g - scaled(b)).abs() < 1e-6, "pixel {i}: {g} vs {}", scaled(b));
    }
    assert!(d.images().iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn idx_plain_and_gzip_detected_by_content() {
    let t = TempDir::new("idx");
    let c = idx_case(1);
    let img = idx_images_bytes(c.n, c.h, c.w, &c.pixels);
    let lab = idx_labels_bytes(&c.labels);
    write(&t.path().join("img"), &img);
    write(&t.path().join("lab"), &lab);
    // Gzipped files under names that do not say so, and a plain file named .gz.
    write(&t.path().join("img.bin"), &gzip(&img));
    write(&t.path().join("lab.gz"), &lab);

    let plain = load_idx(&t.path().join("img"), &t.path().join("lab"), None).unwrap();
    check_idx_dataset(&plain, &c);
    assert_eq!(plain.class_names(), &["0", "1", "2"]);

    let gz = load_idx(
        &t.path().join("img.bin"),
        &t.path().join("lab.gz"),
        Some(&["a", "b", "c", "d"]),
    )
    .unwrap();
    check_idx_dataset(&gz, &c);
    assert_eq!(gz.num_classes(), 4);
    assert_eq!(gz.class_counts().iter().sum::<usize>(), c.n);
    assert_eq!(gz.class_counts()[3], 0);
}

#[test]
fn idx_truncated_and_oversized_files_name_sizes() {
    let t = TempDir::new("idx-trunc");
    let c = idx_case(2);
    let img = idx_images_bytes(c.n, c.h, c.w, &c.pixels);
    let lab_path = t.path().join("labels");
    write(&lab_path, &idx_labels_bytes(&c.labels));
    let expected = 16 + c.n * c.h * c.w;
    assert_eq!(img.len(), expected);

    let short = t.path().join("short-images");
    write(&short, &img[..expected - 9]);
    let msg = err_text(load_idx(&short, &lab_path, None));
    assert_mentions(
        &msg,
        &[
            "short-images",
            &expected.to_string(),
            &(expected - 9).to_string(),
            "truncated",
        ],
    );

    let short_gz = t.path().join("short-gz");
    write(&short_gz, &gzip(&img[..expected - 9]));
    let msg = err_text(load_idx(&short_gz, &lab_path, None));
    assert_mentions(&msg, &["short-gz", &expected.to_string(), &(expected - 9).to_string()]);

    // A gzip stream cut in the middle.
    let cut = t.path().join("cut-gz");
    let z = gzip(&img);
    write(&cut, &z[..z.len() / 2]);
    let msg = err_text(load_idx(&cut, &lab_path, None));
    assert_mentions(&msg, &["cut-gz"]);

    let long = t.path().join("long-images");
    let mut extra = img.clone();
    extra.extend_from_slice(&[1, 2, 3]);
    write(&long, &extra);
    let msg = err_text(load_idx(&long, &lab_path, None));
    assert_mentions(
        &msg,
        &["long-images", &expected.to_string(), &(expected + 3).to_string()],
    );

    let tiny = t.path().join("tiny");
    write(&tiny, &[0, 0]);
    let msg = err_text(load_idx(&tiny, &lab_path, None));
    assert_mentions(&msg, &["tiny"]);
}

#[test]
fn idx_wrong_magic_mismatch_and_bad_labels() {
    let t = TempDir::new("idx-bad");
    let c = idx_case(3);
    let img_path = t.path().join("images-ok");
    let lab_path = t.path().join("labels-ok");
    write(&img_path, &idx_images_bytes(c.n, c.h, c.w, &c.pixels));
    write(&lab_path, &idx_labels_bytes(&c.labels));

    // Swapped files: each has the other's magic number.
    let msg = err_text(load_idx(&lab_path, &img_path, None));
    assert_mentions(&msg, &["labels-ok", "magic", "0x00000801", "0x00000803"]);

    let corrupt = t.path().join("corrupt");
    let mut bytes = idx_images_bytes(c.n, c.h, c.w, &c.pixels);
    bytes[2] = 0x0d;
    write(&corrupt, &gzip(&bytes));
    let msg = err_text(load_idx(&corrupt, &lab_path, None));
    assert_mentions(&msg, &["corrupt", "magic"]);

    let fewer = t.path().join("fewer-labels");
    write(&fewer, &idx_labels_bytes(&c.labels[..c.n - 1]));
    let msg = err_text(load_idx(&img_path, &fewer, None));
    assert_mentions(
        &msg,
        &[
            "fewer-labels",
            &format!("{} labels", c.n - 1),
            &format!("{} images", c.n),
        ],
    );

    // Label 2 is present, so two class names are too few.
    let msg = err_text(load_idx(&img_path, &lab_path, Some(&["x", "y"])));
    assert_mentions(&msg, &["labels-ok", "label 2"]);
}

fn cifar_record(rng: &mut Rng, label: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072).map(|_| rng.below(256) as u8));
    r
}

#[test]
fn cifar10_batches_layout_names_and_errors() {
    let t = TempDir::new("cifar");
    let mut rng = Rng::new(4);
    let mut records = Vec::new();
    for b in 1..=5 {
        let recs: Vec<Vec<u8>> = (0..b).map(|i| cifar_record(&mut rng, ((b + i) % 10) as u8)).collect();
        write(&t.path().join(format!("data_batch_{b}.bin")), &recs.concat());
        records.extend(recs);
    }
    let test_recs: Vec<Vec<u8>> = (0..2).map(|i| cifar_record(&mut rng, 9 - i)).collect();
    write(&t.path().join("test_batch.bin"), &test_recs.concat());

    let train = cifar10(t.path(), Split::Train).unwrap();
    assert_eq!(train.shape(), [15, 3, 32, 32]);
    assert_eq!(train.class_names(), &CIFAR10_CLASSES.map(String::from));
    for (i, rec) in records.iter().enumerate() {
        assert_eq!(train.labels()[i], rec[0] as u32);
        let img = train.image(i);
        // Channel c, row y, column x is byte 1 + c·1024 + y·32 + x of the record.
        for (c, y, x) in [(0, 0, 0), (1, 5, 7), (2, 31, 31), (2, 0, 17)] {
            assert_eq!(img[c * 1024 + y * 32 + x], scaled(rec[1 + c * 1024 + y * 32 + x]));
        }
    }

    let names: Vec<String> = (0..10).map(|k| format!("class {k}")).collect();
    write(
        &t.path().join("batches.meta.txt"),
        format!("{}\n\n", names.join("\n")).as_bytes(),
    );
    let test = cifar10(t.path(), Split::Test).unwrap();
    assert_eq!(test.len(), 2);
    assert_eq!(test.labels(), &[9, 8]);
    assert_eq!(test.class_names(), &names[..]);

    let mut bad = test_recs.concat();
    bad.pop();
    write(&t.path().join("test_batch.bin"), &bad);
    let msg = err_text(cifar10(t.path(), Split::Test));
    assert_mentions(&msg, &["test_batch.bin", "3073", &(2 * 3073 - 1).to_string()]);

    let mut bad_label = cifar_record(&mut rng, 0);
    bad_label[0] = 10;
    write(&t.path().join("test_batch.bin"), &bad_label);
    let msg = err_text(cifar10(t.path(), Split::Test));
    assert_mentions(&msg, &["test_batch.bin", "label 10"]);

    std::fs::remove_file(t.path().join("data_batch_3.bin")).unwrap();
    let msg = err_text(cifar10(t.path(), Split::Train));
    assert_mentions(&msg, &["data_batch_3.bin", "missing"]);
}

/// cv2.INTER_LINEAR weights for a 2 → 4 upsampling: output d samples source
/// (d + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
fn up2to4(a: f64, b: f64) -> [f64; 4] {
    [a, 0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b, b]
}

#[test]
fn image_folder_classes_channels_and_bilinear_resize() {
    let t = TempDir::new("folder");
    let root = t.path().join("grey");
    std::fs::create_dir_all(root.join("b_second")).unwrap();
    std::fs::create_dir_all(root.join("a_first")).unwrap();
    // A 2×2 grey PNG and a 4×4 grey BMP.
    let g = [0u8, 200, 100, 40];
    image::GrayImage::from_raw(2, 2, g.to_vec())
        .unwrap()
        .save(root.join("a_first/img.png"))
        .unwrap();
    let big: Vec<u8> = (0..16).map(|i| (i * 13) as u8).collect();
    image::GrayImage::from_raw(4, 4, big.clone())
        .unwrap()
        .save(root.join("b_second/x.bmp"))
        .unwrap();
    write(&root.join("b_second/notes.txt"), b"not an image");

    let d = image_folder(&root, 4).unwrap();
    assert_eq!(d.class_names(), &["a_first", "b_second"]);
    assert_eq!(d.shape(), [2, 1, 4, 4]);
    assert_eq!(d.labels(), &[0, 1]);
    let s = |v: u8| (v as f64 - 127.5) / 127.5;
    let rows = [up2to4(s(g[0]), s(g[1])), up2to4(s(g[2]), s(g[3]))];
    // Interpolate each row along x, then each column of that along y.
    let cols: Vec<[f64; 4]> = (0..4).map(|x| up2to4(rows[0][x], rows[1][x])).collect();
    let want: Vec<f64> = (0..4).flat_map(|y| cols.iter().map(move |c| c[y])).collect();
    crate::common::assert_close("upsampled 2x2", d.image(0), &want, 1e-6, 1e-6);
    // Same size: the image passes through unchanged.
    let same: Vec<f64> = big.iter().map(|&v| s(v)).collect();
    crate::common::assert_close("4x4 at size 4", d.image(1), &same, 1e-6, 1e-6);

    // Downsampling 4 → 2 samples source 0.5 and 2.5: means of pixel pairs.
    let d2 = image_folder(&root, 2).unwrap();
    let px = |y: usize, x: usize| s(big[y * 4 + x]);
    let mut want2 = Vec::new();
    for y in [0, 2] {
        for x in [0, 2] {
            want2.push((px(y, x) + px(y, x + 1) + px(y + 1, x) + px(y + 1, x + 1)) / 4.0);
        }
    }
    crate::common::assert_close("downsampled 4x4", d2.image(1), &want2, 1e-6, 1e-6);

    // One colour image makes the whole dataset RGB; grey images repeat into 3 planes.
    let rgb_root = t.path().join("rgb");
    std::fs::create_dir_all(rgb_root.join("c")).unwrap();
    std::fs::create_dir_all(rgb_root.join("g")).unwrap();
    let rgb: Vec<u8> = (0..3 * 3 * 3).map(|i| (i * 9) as u8).collect();
    image::RgbImage::from_raw(3, 3, rgb.clone())
        .unwrap()
        .save(rgb_root.join("c/p.png"))
        .unwrap();
    image::GrayImage::from_raw(3, 3, vec![77; 9])
        .unwrap()
        .save(rgb_root.join("g/q.PNG"))
        .unwrap();
    image::RgbImage::from_raw(3, 3, vec![10; 27])
        .unwrap()
        .save(rgb_root.join("g/r.jpg"))
        .unwrap();
    let d = image_folder(&rgb_root, 3).unwrap();
    assert_eq!(d.shape(), [3, 3, 3, 3]);
    assert_eq!(d.labels(), &[0, 1, 1]);
    let img = d.image(0);
    for p in 0..9 {
        for c in 0..3 {
            assert!(
                (img[c * 9 + p] as f64 - s(rgb[p * 3 + c])).abs() < 1e-6,
                "pixel {p} channel {c}"
            );
        }
    }
    assert!(d.image(1).iter().all(|&v| (v as f64 - s(77)).abs() < 1e-6));
    // JPEG is lossy; a flat image stays close to flat.
    assert!(d.image(2).iter().all(|&v| (v as f64 - s(10)).abs() < 0.05));
}

#[test]
fn image_folder_errors_name_the_path() {
    let t = TempDir::new("folder-bad");
    let msg = err_text(image_folder(t.path(), 8));
    assert_mentions(&msg, &[&t.path().display().to_string(), "no class folders"]);

    std::fs::create_dir_all(t.path().join("full")).unwrap();
    std::fs::create_dir_all(t.path().join("hollow")).unwrap();
    image::GrayImage::from_raw(2, 2, vec![1, 2, 3, 4])
        .unwrap()
        .save(t.path().join("full/a.png"))
        .unwrap();
    write(&t.path().join("hollow/readme.txt"), b"nothing");
    let msg = err_text(image_folder(t.path(), 8));
    assert_mentions(&msg, &["hollow", "empty class folder"]);

    image::GrayImage::from_raw(2, 2, vec![1, 2, 3, 4])
        .unwrap()
        .save(t.path().join("hollow/b.png"))
        .unwrap();
    assert_eq!(image_folder(t.path(), 8).unwrap().len(), 2);
    write(
        &t.path().join("full/broken.png"),
        b"\x89PNG\r\n\x1a\n garbage that is no png",
    );
    let msg = err_text(image_folder(t.path(), 8));
    assert_mentions(&msg, &["broken.png", "unreadable image"]);
}

#[test]
fn fashion_mnist_from_explicit_folder_and_missing() {
    let t = TempDir::new("fmnist");
    let sub = t.path().join("fashion-mnist");
    std::fs::create_dir_all(&sub).unwrap();
    let mut rng = Rng::new(5);
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|_| rng.below(256) as u8).collect();
    write(
        &sub.join("t10k-images-idx3-ubyte.gz"),
        &gzip(&idx_images_bytes(3, 28, 28, &pixels)),
    );
    write(&sub.join("t10k-labels-idx1-ubyte"), &idx_labels_bytes(&[9, 0, 5]));
    // The folder or its fashion-mnist sub-folder may be named.
    for p in [t.path(), sub.as_path()] {
        let d = fashion_mnist(Split::Test, Some(p)).unwrap();
        assert_eq!(d.shape(), [3, 1, 28, 28]);
        assert_eq!(d.labels(), &[9, 0, 5]);
        assert_eq!(d.class_names()[9], "Ankle boot");
        assert_eq!(d.class_names()[0], "T-shirt/top");
    }
    // The training files are not there, and an explicit folder is not second-guessed.
    let msg = err_text(fashion_mnist(Split::Train, Some(t.path())));
    assert_mentions(
        &msg,
        &[
            &t.path().display().to_string(),
            "train-images-idx3-ubyte",
            "apt-get install dataset-fashion-mnist",
            "BALGAN_DATA",
            "--data",
        ],
    );
}

/// MNIST from the user's folder (or its `mnist` sub-folder), through
/// `--dataset mnist`'s loader: digit class names, and a clear error (naming
/// the files and `--data`) where they are missing or no folder is given.
#[test]
fn mnist_from_a_user_folder() {
    use balgan::data::config::{load, DatasetKind};
    let t = TempDir::new("mnist");
    let sub = t.path().join("mnist");
    std::fs::create_dir_all(&sub).unwrap();
    let mut rng = Rng::new(6);
    let pixels: Vec<u8> = (0..4 * 28 * 28).map(|_| rng.below(256) as u8).collect();
    write(
        &sub.join("train-images-idx3-ubyte"),
        &idx_images_bytes(4, 28, 28, &pixels),
    );
    write(
        &sub.join("train-labels-idx1-ubyte.gz"),
        &gzip(&idx_labels_bytes(&[7, 0, 7, 3])),
    );
    for p in [t.path(), sub.as_path()] {
        let d = load(DatasetKind::Mnist, Some(p), Split::Train, 28).unwrap();
        assert_eq!(d.shape(), [4, 1, 28, 28]);
        assert_eq!(d.labels(), &[7, 0, 7, 3]);
        assert_eq!(d.class_names()[7], "7");
        assert_eq!(d.image(1)[5], balgan::data::dataset::scale_pixel(pixels[28 * 28 + 5]));
    }
    assert_mentions(
        &err_text(load(DatasetKind::Mnist, Some(t.path()), Split::Test, 28)),
        &["t10k-images-idx3-ubyte", "--data"],
    );
    assert_mentions(&err_text(load(DatasetKind::Mnist, None, Split::Train, 28)), &["--data"]);
    assert_eq!("mnist".parse::<DatasetKind>().unwrap(), DatasetKind::Mnist);
}

/// `BALGAN_DATA` is read by a child process of this test binary, so the
/// variable is never changed under the other tests' threads.
#[test]
fn fashion_mnist_from_balgan_data_variable() {
    if let Some(dir) = std::env::var_os("BALGAN_DATA_TEST_CHILD") {
        assert_eq!(std::env::var_os("BALGAN_DATA"), Some(dir));
        let d = fashion_mnist(Split::Test, None).unwrap();
        assert_eq!(d.shape(), [2, 1, 28, 28]);
        assert_eq!(d.labels(), &[3, 8]);
        println!("child: loaded from BALGAN_DATA");
        return;
    }
    let t = TempDir::new("fmnist-env");
    let sub = t.path().join("fashion-mnist");
    std::fs::create_dir_all(&sub).unwrap();
    write(
        &sub.join("t10k-images-idx3-ubyte"),
        &idx_images_bytes(2, 28, 28, &[7; 2 * 28 * 28]),
    );
    write(
        &sub.join("t10k-labels-idx1-ubyte.gz"),
        &gzip(&idx_labels_bytes(&[3, 8])),
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "data::fashion_mnist_from_balgan_data_variable",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("BALGAN_DATA", t.path())
        .env("BALGAN_DATA_TEST_CHILD", t.path())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(
        text.contains("child: loaded from BALGAN_DATA"),
        "the child test did not run:\n{text}"
    );
}

#[test]
fn fashion_mnist_debian_package() {
    if !fashion_mnist_or_skip() {
        return;
    }
    let dir = Path::new(FASHION_MNIST_DEBIAN_DIR);
    let (img, _) = locate_fashion_mnist(Split::Train, Some(dir)).unwrap();
    assert!(img.starts_with(dir));
    for (split, n) in [(Split::Train, 60_000), (Split::Test, 10_000)] {
        let d = fashion_mnist(split, Some(dir)).unwrap();
        assert_eq!(d.shape(), [n, 1, 28, 28]);
        assert_eq!(d.class_counts(), vec![n / 10; 10]);
        assert_eq!(d.imbalance_rate(), 1.0);
        let (lo, hi) = d
            .images()
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        assert_eq!((lo, hi), (-1.0, 1.0), "{split}: pixel range");
        let s = d.summary();
        assert_mentions(&s, &["Ankle boot", &(n / 10).to_string(), "1.00"]);
    }
}

#[test]
fn ci_is_read_from_the_ci_variable() {
    for on in ["true", "1", "yes", "TRUE"] {
        assert!(ci_from(Some(on)), "CI={on}");
    }
    for off in [None, Some(""), Some("0"), Some("false"), Some(" False ")] {
        assert!(!ci_from(off), "CI={off:?}");
    }
}

#[test]
fn missing_test_data_skips_locally() {
    let t = TempDir::new("present");
    assert!(data_or_skip(t.path(), "present data", true));
    assert!(data_or_skip(t.path(), "present data", false));
    assert!(!data_or_skip(&t.path().join("absent"), "absent data", false));
}

#[test]
#[should_panic(expected = "absent data is missing")]
fn missing_test_data_fails_under_ci() {
    let t = TempDir::new("absent");
    data_or_skip(&t.path().join("absent"), "absent data", true);
}

fn toy(counts: &[usize], names: &[&str]) -> Dataset {
    // Image i is 1×1×2 with values encoding i, so a batch shows which images it holds.
    let mut labels = Vec::new();
    for (k, &c) in counts.iter().enumerate() {
        labels.extend(std::iter::repeat_n(k as u32, c));
    }
    let n = labels.len();
    let images: Vec<f32> = (0..n).flat_map(|i| [i as f32, -(i as f32)]).collect();
    Dataset::new(
        images,
        [n, 1, 1, 2],
        labels,
        names.iter().map(|s| s.to_string()).collect(),
    )
    .unwrap()
}

#[test]
fn dataset_counts_subset_summary_and_upload() {
    let d = toy(&[4, 2, 0], &["big", "small", "none"]).with_name("toy");
    assert_eq!(d.len(), 6);
    assert_eq!(d.class_counts(), vec![4, 2, 0]);
    assert!(d.imbalance_rate().is_infinite());
    let s = d.summary();
    assert_mentions(&s, &["toy", "6 images", "big", "small", "none", "infinite"]);

    let sub = d.subset(&[5, 0, 4, 1, 1]);
    assert_eq!(sub.labels(), &[1, 0, 1, 0, 0]);
    assert_eq!(sub.image(0), &[5.0, -5.0]);
    assert_eq!(sub.class_counts(), vec![3, 2, 0]);
    assert!(sub.imbalance_rate().is_infinite());
    let two = toy(&[6, 2], &["a", "b"]);
    assert_eq!(two.imbalance_rate(), 3.0);
    assert_mentions(&two.summary(), &["3.00", "75.00%", "25.00%"]);
    let msg = err_text(d.try_subset(&[6]));
    assert_mentions(&msg, &["index 6", "6 images"]);

    let x = d.to_tensor(dev(), &[3, 1]).unwrap();
    assert_eq!(x.shape(), &[2, 1, 1, 2]);
    assert_eq!(x.to_vec().unwrap(), vec![3.0, -3.0, 1.0, -1.0]);
    assert!(d.to_tensor(dev(), &[7]).is_err());

    let bad = Dataset::new(vec![0.0; 4], [2, 1, 1, 2], vec![0, 3], vec!["a".into(), "b".into()]);
    assert_mentions(&err_text(bad), &["label 3"]);
    let bad = Dataset::new(vec![0.0; 4], [2, 1, 1, 2], vec![0], vec!["a".into()]);
    assert_mentions(&err_text(bad), &["2 images but 1 labels"]);
}

#[test]
fn batches_cover_every_index_once_and_replay_from_seed() {
    let d = toy(&[60, 43], &["a", "b"]);
    let b = Batcher::new(&d, BatchOptions::new(10).seed(7)).unwrap();
    assert_eq!(b.batches_per_epoch(), 11);
    let e0 = b.epoch_indices(0);
    assert_eq!(e0.len(), 11);
    assert!(e0[..10].iter().all(|x| x.len() == 10));
    assert_eq!(e0[10].len(), 3);
    let mut all: Vec<usize> = e0.concat();
    assert_ne!(all, (0..103).collect::<Vec<_>>(), "epoch 0 is not shuffled");
    all.sort_unstable();
    assert_eq!(all, (0..103).collect::<Vec<_>>());

    assert_eq!(b.epoch_indices(0), e0, "same seed and epoch");
    let e1 = b.epoch_indices(1);
    assert_ne!(e1, e0, "a new epoch reshuffles");
    let mut all1 = e1.concat();
    all1.sort_unstable();
    assert_eq!(all1, (0..103).collect::<Vec<_>>());
    let other = Batcher::new(&d, BatchOptions::new(10).seed(8)).unwrap();
    assert_ne!(other.epoch_indices(0), e0, "another seed");
    let again = Batcher::new(&d, BatchOptions::new(10).seed(7)).unwrap();
    assert_eq!(again.epoch_indices(1), e1);

    let dropped = Batcher::new(&d, BatchOptions::new(10).seed(7).drop_last(true)).unwrap();
    let e = dropped.epoch_indices(0);
    assert_eq!(e.len(), 10);
    let mut seen: Vec<usize> = e.concat();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 100, "no index twice");

    let ordered = Batcher::new(&d, BatchOptions::new(50).shuffle(false)).unwrap();
    assert_eq!(ordered.epoch_indices(3)[0], (0..50).collect::<Vec<_>>());

    assert!(Batcher::new(&d, BatchOptions::new(0)).is_err());

    // The device batches hold the images and labels of their indices.
    let small = Batcher::new(&d, BatchOptions::new(40).seed(3)).unwrap();
    let mut it = small.epoch(dev(), 2);
    assert_eq!(it.len(), 3);
    let mut count = 0;
    let class_value = Tensor::from_slice(dev(), &[10.0, 20.0], &[2]).unwrap();
    while let Some(r) = it.next_with_indices() {
        let (x, y, idx) = r.unwrap();
        assert_eq!(x.shape(), &[idx.len(), 1, 1, 2]);
        let want: Vec<f32> = idx.iter().flat_map(|&i| [i as f32, -(i as f32)]).collect();
        assert_eq!(x.to_vec().unwrap(), want);
        let got = class_value.index_select(0, &y).unwrap().to_vec().unwrap();
        let want: Vec<f32> = idx.iter().map(|&i| if i < 60 { 10.0 } else { 20.0 }).collect();
        assert_eq!(got, want);
        count += idx.len();
    }
    assert_eq!(count, 103);
    assert_eq!(small.epoch_indices(2).concat().len(), 103);
    let (x, _) = small.epoch(dev(), 0).next().unwrap().unwrap();
    assert_eq!(x.shape(), &[40, 1, 1, 2]);
}

#[test]
fn balanced_sampling_draws_classes_equally() {
    // 900 / 90 / 10 images and an empty class. 20 epochs of 1000 draws each:
    // every non-empty class is drawn with p = 1/3, so its count is Binomial(20000, 1/3),
    // mean 6666.7 and standard deviation sqrt(20000·(1/3)·(2/3)) = 66.7. The bound of
    // 400 is six standard deviations (a false failure about once in 10⁹ runs).
    let d = toy(&[900, 90, 10, 0], &["a", "b", "c", "empty"]);
    let b = Batcher::new(&d, BatchOptions::new(128).seed(11).balanced(true)).unwrap();
    assert_eq!(b.batches_per_epoch(), 8);
    let mut counts = [0usize; 4];
    let mut minority_images = std::collections::HashSet::new();
    for e in 0..20 {
        let idx = b.epoch_indices(e);
        assert_eq!(idx.concat().len(), 1000);
        for i in idx.concat() {
            let l = d.labels()[i] as usize;
            counts[l] += 1;
            if l == 2 {
                minority_images.insert(i);
            }
        }
    }
    assert_eq!(counts[3], 0, "an empty class is never drawn");
    for (k, &c) in counts[..3].iter().enumerate() {
        assert!(
            (c as f64 - 20000.0 / 3.0).abs() < 400.0,
            "class {k} drawn {c} times of 20000, expected 6667 ± 400: {counts:?}"
        );
    }
    assert_eq!(minority_images.len(), 10, "every minority image is drawn");
    assert_eq!(b.epoch_indices(4), b.epoch_indices(4));
}

/// A flat folder of images reads as one class named after the folder, with
/// the same pixels as the same images read as a class of an image folder.
#[test]
fn flat_image_folder_matches_the_same_images_as_one_class() {
    use balgan::data::folder::{flat_image_folder, image_folder};
    let tmp = crate::common::TempDir::new("flat-folder");
    let class = tmp.path().join("shapes");
    std::fs::create_dir_all(&class).unwrap();
    for i in 0..3u8 {
        let img = image::GrayImage::from_fn(5, 7, |x, y| image::Luma([(x as u8 * 40 + y as u8 * 9 + i * 17) % 255]));
        img.save(class.join(format!("{i}.png"))).unwrap();
    }
    std::fs::write(class.join("notes.txt"), "not an image").unwrap();
    let flat = flat_image_folder(&class, 4).unwrap();
    let nested = image_folder(tmp.path(), 4).unwrap();
    assert_eq!(flat.len(), 3);
    assert_eq!(flat.class_names(), ["shapes"]);
    assert_eq!(flat.labels(), [0, 0, 0]);
    assert_eq!(flat.images(), nested.images());
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(flat_image_folder(&empty, 4).is_err());
}
