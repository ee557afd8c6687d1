//! `cli::generate`: `generate` and `rebalance` on a tiny untrained run (an
//! 8×8 grey image folder of 3 classes, a cWGAN-GP checkpoint written right
//! after `trainer::start`): files per class, manifests, the IDX output read
//! back, the real images' round trip, targets, and the error paths.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use balgan::cli::generate::{generate, rebalance, GenerateArgs, RebalanceArgs, RebalanceFormat};
use balgan::cli::run::{noise_seed, LoopConfig, RunConfig, RunDir};
use balgan::data::{image_folder, load_idx, DataConfig, Dataset};
use balgan::models::trainer::{self, TrainOptions};
use balgan::models::{build, ModelConfig, ModelKind};
use balgan::Generator;

use crate::common::{dev, Rng, TempDir};

const NAMES: [&str; 3] = ["ant", "bee", "cow"];
const SIDE: usize = 8;
/// One 8-bit step in [−1, 1], plus rounding slack.
const TOL: f32 = 1.0 / 127.5 + 1e-6;

/// A run directory with an untrained cWGAN-GP checkpoint, over an image
/// folder of 6, 3 and 2 random 8×8 grey images.
pub(crate) struct TinyRun {
    pub(crate) tmp: TempDir,
    pub(crate) run: PathBuf,
    pub(crate) cfg: RunConfig,
}

fn tiny_run(tag: &str, holdout: f64) -> TinyRun {
    tiny_run_of(tag, holdout, [6, 3, 2])
}

/// A tiny run over an image folder with `counts` images of the 3 classes.
pub(crate) fn tiny_run_of(tag: &str, holdout: f64, counts: [usize; 3]) -> TinyRun {
    let tmp = TempDir::new(tag);
    let data_dir = tmp.0.join("data");
    let mut rng = Rng::new(0x6e6e + tag.len() as u64);
    for (k, &n) in counts.iter().enumerate() {
        let d = data_dir.join(NAMES[k]);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..n {
            let px: Vec<u8> = (0..SIDE * SIDE).map(|_| rng.below(256) as u8).collect();
            image::GrayImage::from_raw(SIDE as u32, SIDE as u32, px)
                .unwrap()
                .save(d.join(format!("{i:02}.png")))
                .unwrap();
        }
    }
    let data_cfg = DataConfig {
        dataset: "folder".into(),
        path: Some(data_dir),
        imbalance: None,
        image_size: SIDE,
        seed: 0,
        holdout,
        train_per_class: None,
    };
    let data = data_cfg.training_set().expect("training data");
    let mut model_cfg = ModelConfig::defaults(ModelKind::CwganGp, 1, SIDE, 3);
    model_cfg.batch = 2;
    model_cfg.latent = 16;
    let cfg = RunConfig {
        preset: None,
        data: data_cfg,
        model: model_cfg,
        train: LoopConfig {
            seed: 5,
            checkpoint_every: 0,
            log_every: 1,
            budget_minutes: None,
            pretrain_share: 0.5,
        },
        class_names: data.class_names().to_vec(),
    };
    let run_dir = tmp.0.join("run");
    let run = RunDir::new(&run_dir);
    run.create().unwrap();
    run.write_config(&cfg).unwrap();
    let mut model = build(dev(), &cfg.model, cfg.train.seed).expect("build");
    let rng = Generator::new(noise_seed(cfg.train.seed));
    let opts = TrainOptions {
        seed: cfg.train.seed,
        checkpoint_every: 0,
        log_every: 1,
    };
    let state = trainer::start(model.as_mut(), &data, &opts, &rng).expect("start");
    trainer::write_checkpoint(&run.checkpoint_path(), model.as_ref(), &state, &[]).expect("checkpoint");
    TinyRun { tmp, run: run_dir, cfg }
}

/// Plain files in `dir`, sorted by name.
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Header and rows of a manifest, each row as a column → value map.
fn manifest(path: &Path) -> (String, Vec<HashMap<String, String>>) {
    let text = std::fs::read_to_string(path).expect("manifest");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_string();
    let cols: Vec<&str> = header.split(',').collect();
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), cols.len(), "row {l:?}");
            cols.iter()
                .zip(f)
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    (header, rows)
}

/// A grey PNG decoded to [−1, 1] as the loaders scale it.
fn read_png(path: &Path) -> Vec<f32> {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        (img.width(), img.height()),
        (SIDE as u32, SIDE as u32),
        "{}",
        path.display()
    );
    assert_eq!(img.color(), image::ColorType::L8, "{}", path.display());
    img.to_luma8()
        .pixels()
        .map(|p| (p.0[0] as f32 - 127.5) / 127.5)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn gen_args(run: &TinyRun, classes: &[&str], count: usize, out: &Path, seed: u64) -> GenerateArgs {
    GenerateArgs {
        run: run.run.clone(),
        classes: classes.iter().map(|s| s.to_string()).collect(),
        count,
        out: out.to_path_buf(),
        seed,
        quiet: true,
    }
}

fn reb_args(run: &TinyRun, out: &Path, format: RebalanceFormat, target: Option<usize>) -> RebalanceArgs {
    RebalanceArgs {
        run: run.run.clone(),
        out: out.to_path_buf(),
        format,
        target,
        seed: 11,
        quiet: true,
    }
}

#[test]
fn generate_writes_count_per_class_with_a_manifest() {
    let r = tiny_run("gen", 0.0);
    let out = r.tmp.0.join("gen");
    generate(dev(), &gen_args(&r, &["bee", "2"], 5, &out, 7)).expect("generate");

    let want: Vec<String> = (0..5).map(|i| format!("syn_7_{i:05}.png")).collect();
    assert_eq!(files(&out.join("bee")), want);
    assert_eq!(files(&out.join("cow")), want);
    assert!(!out.join("ant").exists(), "a class that was not asked for got a folder");
    for f in &want {
        let px = read_png(&out.join("bee").join(f));
        assert!(px.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    let (header, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(header, "file,class,label,synthetic,model,checkpoint,step,seed");
    assert_eq!(rows.len(), 10);
    for row in &rows {
        assert!(out.join(&row["file"]).is_file(), "{row:?}");
        let (folder, _) = row["file"].split_once('/').unwrap();
        assert_eq!(folder, row["class"]);
        let label: usize = row["label"].parse().unwrap();
        assert_eq!(NAMES[label], row["class"]);
        assert_eq!(row["synthetic"], "1");
        assert_eq!(row["model"], "cwgan-gp");
        assert_eq!(row["step"], "0");
        assert_eq!(row["seed"], "7");
        assert!(row["checkpoint"].ends_with("last.safetensors"), "{row:?}");
    }
    assert_eq!(rows.iter().filter(|r| r["class"] == "bee").count(), 5);

    // A class's images depend on the seed, not on the other classes asked for.
    let alone = r.tmp.0.join("alone");
    generate(dev(), &gen_args(&r, &["cow"], 5, &alone, 7)).expect("generate cow");
    for f in &want {
        assert_eq!(
            std::fs::read(out.join("cow").join(f)).unwrap(),
            std::fs::read(alone.join("cow").join(f)).unwrap(),
            "{f}"
        );
    }
    // Another seed into the same folder: new images, the manifest keeps both.
    generate(dev(), &gen_args(&r, &["cow"], 5, &out, 8)).expect("generate seed 8");
    assert_eq!(files(&out.join("cow")).len(), 10);
    let (_, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(rows.len(), 15);
    let a = read_png(&out.join("cow/syn_7_00000.png"));
    let b = read_png(&out.join("cow/syn_8_00000.png"));
    assert!(max_diff(&a, &b) > 0.0, "seeds 7 and 8 gave the same image");
}

#[test]
fn generate_rejects_bad_arguments_clearly() {
    let r = tiny_run("gen-err", 0.0);
    let out = r.tmp.0.join("out");
    let err = generate(dev(), &gen_args(&r, &["zebra"], 3, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown class 'zebra'") && err.contains("ant, bee, cow"),
        "{err}"
    );
    let err = generate(dev(), &gen_args(&r, &["7"], 3, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown class '7'"), "{err}");
    let err = generate(dev(), &gen_args(&r, &["ant"], 0, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--count"), "{err}");
    let err = generate(dev(), &gen_args(&r, &[], 3, &out, 0)).unwrap_err().to_string();
    assert!(err.contains("--class"), "{err}");
    // An absurd count is refused up front, naming the limit, before any file.
    let err = generate(dev(), &gen_args(&r, &["ant"], 10_000_001, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--count") && err.contains("10000000"), "{err}");
    assert!(!out.exists(), "a failed generate wrote files");

    // A folder that is neither empty nor an earlier generate output.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let err = generate(dev(), &gen_args(&r, &["ant"], 1, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(files(&out), vec!["notes.txt".to_string()]);

    let mut bad = gen_args(&r, &["ant"], 1, &r.tmp.0.join("x"), 0);
    bad.run = r.tmp.0.join("data");
    let err = generate(dev(), &bad).unwrap_err().to_string();
    assert!(err.contains("not a run directory"), "{err}");
}

fn counts(ds: &Dataset) -> Vec<usize> {
    ds.class_counts()
}

#[test]
fn rebalance_tops_up_the_training_split_to_the_majority() {
    // Hold-out 0.34 of 6, 3, 2 images: the training split has 4, 2, 1.
    let r = tiny_run("reb", 0.34);
    let train = r.cfg.data.training_set().unwrap();
    assert_eq!(counts(&train), vec![4, 2, 1]);
    let out = r.tmp.0.join("balanced");
    rebalance(dev(), &reb_args(&r, &out, RebalanceFormat::Both, None)).expect("rebalance");

    let folder = image_folder(&out.join("images"), SIDE).expect("read image folder");
    assert_eq!(folder.class_names(), NAMES.map(String::from).as_slice());
    assert_eq!(counts(&folder), vec![4, 4, 4]);
    let idx = load_idx(
        &out.join("train-images-idx3-ubyte"),
        &out.join("train-labels-idx1-ubyte"),
        None,
    )
    .expect("read IDX");
    assert_eq!(counts(&idx), vec![4, 4, 4]);

    let (header, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(header, "file,idx_row,class,label,synthetic,model,checkpoint,step,seed");
    assert_eq!(rows.len(), 12);
    let syn: Vec<_> = rows.iter().filter(|r| r["synthetic"] == "1").collect();
    let real: Vec<_> = rows.iter().filter(|r| r["synthetic"] == "0").collect();
    assert_eq!(syn.len(), 5);
    assert_eq!(real.len(), 7);
    let syn_per_class: Vec<usize> = (0..3)
        .map(|k| syn.iter().filter(|r| r["label"] == k.to_string()).count())
        .collect();
    assert_eq!(syn_per_class, vec![0, 2, 3]);
    for row in &syn {
        assert!(row["file"].contains("/syn_11_"), "{row:?}");
        assert_eq!((row["model"].as_str(), row["seed"].as_str()), ("cwgan-gp", "11"));
        // The PNG and the IDX row hold the same bytes.
        let i: usize = row["idx_row"].parse().unwrap();
        assert!(i >= 7, "{row:?}");
        assert_eq!(idx.labels()[i].to_string(), row["label"]);
        assert!(
            max_diff(&read_png(&out.join(&row["file"])), idx.image(i)) < 1e-6,
            "{row:?}"
        );
    }
    // The real images are the training split's, in order, after the 8-bit round trip.
    for (i, row) in real.iter().enumerate() {
        assert_eq!(
            row["file"],
            format!("images/{}/real_{i:05}.png", NAMES[train.labels()[i] as usize])
        );
        assert_eq!(row["idx_row"], i.to_string());
        assert_eq!(row["model"], "");
        let d = max_diff(&read_png(&out.join(&row["file"])), train.image(i));
        assert!(d <= TOL, "real image {i} differs by {d}");
        assert!(max_diff(idx.image(i), train.image(i)) <= TOL, "IDX row {i}");
        assert_eq!(idx.labels()[i], train.labels()[i]);
    }
    // Every image file on disk is in the manifest.
    let listed: usize = NAMES.iter().map(|n| files(&out.join("images").join(n)).len()).sum();
    assert_eq!(listed, 12);
}

#[test]
fn rebalance_target_below_majority_rerun_and_refusals() {
    let r = tiny_run("reb-target", 0.0);
    let out = r.tmp.0.join("balanced");
    rebalance(dev(), &reb_args(&r, &out, RebalanceFormat::Folder, Some(4))).expect("rebalance to 4");
    let folder = image_folder(&out.join("images"), SIDE).unwrap();
    // The majority (6) is left as it is; the others reach 4.
    assert_eq!(counts(&folder), vec![6, 4, 4]);
    assert!(!out.join("train-images-idx3-ubyte").exists());
    let (_, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(rows.iter().filter(|r| r["synthetic"] == "1").count(), 3);
    assert!(rows.iter().all(|r| r["idx_row"].is_empty()));

    // Writing over an earlier rebalance output replaces it entirely.
    rebalance(dev(), &reb_args(&r, &out, RebalanceFormat::Idx, None)).expect("rerun");
    assert!(!out.join("images").exists(), "the earlier image folder was left behind");
    let idx = load_idx(
        &out.join("train-images-idx3-ubyte"),
        &out.join("train-labels-idx1-ubyte"),
        None,
    )
    .unwrap();
    assert_eq!(counts(&idx), vec![6, 6, 6]);
    let (_, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(rows.len(), 18);
    assert!(rows.iter().all(|r| r["file"].is_empty()));
    let syn_rows: Vec<usize> = rows
        .iter()
        .filter(|r| r["synthetic"] == "1")
        .map(|r| r["idx_row"].parse().unwrap())
        .collect();
    assert_eq!(syn_rows, (11..18).collect::<Vec<_>>());

    // A target above the majority tops up every class.
    let up = r.tmp.0.join("up");
    rebalance(dev(), &reb_args(&r, &up, RebalanceFormat::Folder, Some(7))).unwrap();
    assert_eq!(counts(&image_folder(&up.join("images"), SIDE).unwrap()), vec![7, 7, 7]);

    // Refusals.
    let err = rebalance(dev(), &reb_args(&r, &r.tmp.0.join("z"), RebalanceFormat::Both, Some(0)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--target"), "{err}");
    let foreign = r.tmp.0.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("keep.png"), "x").unwrap();
    let err = rebalance(dev(), &reb_args(&r, &foreign, RebalanceFormat::Folder, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not empty") && err.contains("rebalance"), "{err}");
    assert_eq!(files(&foreign), vec!["keep.png".to_string()]);
    // A stray file inside an earlier output: refused, nothing deleted.
    rebalance(dev(), &reb_args(&r, &up, RebalanceFormat::Folder, None)).unwrap();
    std::fs::write(up.join("images/ant/extra.png"), "x").unwrap();
    let before = files(&up.join("images/ant"));
    let err = rebalance(dev(), &reb_args(&r, &up, RebalanceFormat::Folder, None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("extra.png"), "{err}");
    assert_eq!(files(&up.join("images/ant")), before);

    assert_eq!("both".parse::<RebalanceFormat>().unwrap(), RebalanceFormat::Both);
    assert_eq!("IDX".parse::<RebalanceFormat>().unwrap(), RebalanceFormat::Idx);
    assert_eq!("folder".parse::<RebalanceFormat>().unwrap(), RebalanceFormat::Folder);
    assert!("csv"
        .parse::<RebalanceFormat>()
        .unwrap_err()
        .to_string()
        .contains("folder"));
}

#[test]
fn generate_tells_class_names_that_differ_only_in_case_apart() {
    let r = tiny_run("gen-case", 0.0);
    let run = RunDir::new(&r.run);
    let mut cfg = run.read_config().unwrap();
    cfg.class_names = vec!["Cat".into(), "cat".into(), "cow".into()];
    run.write_config(&cfg).unwrap();

    // The exact name wins over a case-insensitive match of another class.
    for (asked, label) in [("cat", "1"), ("Cat", "0")] {
        let out = r.tmp.0.join(format!("out-{asked}"));
        generate(dev(), &gen_args(&r, &[asked], 2, &out, 0)).expect("generate");
        let (_, rows) = manifest(&out.join("manifest.csv"));
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(
                (row["class"].as_str(), row["label"].as_str()),
                (asked, label),
                "{row:?}"
            );
        }
    }
    // Only a case-insensitive match, and a unique one: used.
    let out = r.tmp.0.join("out-cow");
    generate(dev(), &gen_args(&r, &["COW"], 1, &out, 0)).expect("generate COW");
    let (_, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(rows[0]["label"], "2");
    // Two case-insensitive matches and no exact one: an error naming both.
    let out = r.tmp.0.join("out-ambiguous");
    let err = generate(dev(), &gen_args(&r, &["CAT"], 1, &out, 0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'CAT'") && err.contains("'Cat' (0)") && err.contains("'cat' (1)"),
        "{err}"
    );
    assert!(!out.exists(), "an ambiguous class wrote files");
}

#[test]
fn generate_resumes_an_interrupted_output_from_its_manifest() {
    let r = tiny_run("gen-resume", 0.0);
    // 300 images: a chunk of 256 and one of 44.
    let full = r.tmp.0.join("full");
    generate(dev(), &gen_args(&r, &["bee"], 300, &full, 3)).expect("generate");
    let (_, rows) = manifest(&full.join("manifest.csv"));
    assert_eq!(rows.len(), 300);

    // What a run killed in its second chunk leaves: the first 260 images
    // listed, a torn last line, and two more images written but not listed.
    let out = r.tmp.0.join("resumed");
    std::fs::create_dir_all(out.join("bee")).unwrap();
    let text = std::fs::read_to_string(full.join("manifest.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut cut = lines[..261].join("\n");
    cut.push('\n');
    cut.push_str(&lines[261][..10]);
    std::fs::write(out.join("manifest.csv"), cut).unwrap();
    for i in 0..262 {
        let f = format!("syn_3_{i:05}.png");
        std::fs::copy(full.join("bee").join(&f), out.join("bee").join(&f)).unwrap();
    }
    // A listed image is not drawn again: mark one to see it stays.
    let marked = out.join("bee/syn_3_00007.png");
    std::fs::copy(full.join("bee/syn_3_00008.png"), &marked).unwrap();

    generate(dev(), &gen_args(&r, &["bee"], 300, &out, 3)).expect("resume");
    let (_, rows) = manifest(&out.join("manifest.csv"));
    let mut listed: Vec<String> = rows.iter().map(|r| r["file"].clone()).collect();
    listed.sort();
    let want: Vec<String> = (0..300).map(|i| format!("bee/syn_3_{i:05}.png")).collect();
    assert_eq!(listed, want, "every image listed exactly once");
    for f in &want {
        if f.ends_with("00007.png") {
            continue;
        }
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(full.join(f)).unwrap(),
            "{f} differs from an uninterrupted run"
        );
    }
    assert_eq!(
        std::fs::read(&marked).unwrap(),
        std::fs::read(full.join("bee/syn_3_00008.png")).unwrap(),
        "an image the manifest listed was generated again"
    );

    // Another checkpoint step: the listed images are stale and are replaced.
    let mut stale = std::fs::read_to_string(out.join("manifest.csv")).unwrap();
    stale = stale.replace(",0,3\n", ",99,3\n");
    std::fs::write(out.join("manifest.csv"), stale).unwrap();
    generate(dev(), &gen_args(&r, &["bee"], 300, &out, 3)).expect("regenerate");
    assert_eq!(
        std::fs::read(&marked).unwrap(),
        std::fs::read(full.join("bee/syn_3_00007.png")).unwrap()
    );
    let (_, rows) = manifest(&out.join("manifest.csv"));
    assert_eq!(rows.len(), 300);
    assert!(rows.iter().all(|r| r["step"] == "0"));
}

#[test]
fn a_killed_generate_leaves_a_manifest_of_the_images_it_wrote() {
    let r = tiny_run("gen-kill", 0.0);
    let out = r.tmp.0.join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_balgan"))
        .args([
            "generate",
            "--run",
            r.run.to_str().unwrap(),
            "--class",
            "ant",
            "--count",
            "5000000",
        ])
        .args(["--out", out.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run balgan");
    // Wait (up to 10 minutes) for a second chunk's rows, then kill it.
    let manifest_path = out.join("manifest.csv");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let rows = std::fs::read_to_string(&manifest_path).map_or(0, |t| t.lines().count().saturating_sub(1));
        if rows > 256 {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("generate exited ({status}) before writing 257 rows");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no manifest rows after 10 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // A kill in the middle of appending may leave a torn last line; the
    // complete lines must all be right.
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    std::fs::write(&manifest_path, whole).unwrap();
    let (header, rows) = manifest(&manifest_path);
    assert_eq!(header, "file,class,label,synthetic,model,checkpoint,step,seed");
    assert!(rows.len() > 256);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["file"], format!("ant/syn_0_{i:05}.png"));
        assert_eq!(read_png(&out.join(&row["file"])).len(), SIDE * SIDE);
    }
}

/// A model whose sampling needs a tensor past the adapter's limits for more
/// than its training batch of labels (as a wide generator on a CPU driver):
/// it fails like the engine does, records the calls, and draws each image's
/// value from the stream so the pieces can be told apart.
struct NarrowSampler {
    cfg: ModelConfig,
    calls: Vec<usize>,
    /// Fail every call with another error.
    broken: bool,
}

impl balgan::models::BalancingModel for NarrowSampler {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }
    fn phases(&self) -> Vec<balgan::models::Phase> {
        Vec::new()
    }
    fn phase(&self) -> usize {
        0
    }
    fn enter_phase(
        &mut self,
        _: usize,
        _: Option<&balgan::data::Dataset>,
        _: &balgan::models::StepContext,
    ) -> balgan::Result<()> {
        Ok(())
    }
    fn train_step(
        &mut self,
        _: &balgan::models::Batch,
        _: &balgan::models::StepContext,
    ) -> balgan::Result<Vec<(&'static str, balgan::Tensor)>> {
        Ok(Vec::new())
    }
    fn sample(&mut self, labels: &[u32], rng: &Generator) -> balgan::Result<balgan::Tensor> {
        self.calls.push(labels.len());
        if self.broken {
            return Err(balgan::Error::invalid("sample", "broken"));
        }
        if labels.len() > self.cfg.batch {
            return Err(balgan::Error::limit("a tensor", 1 << 28, 1 << 27));
        }
        let s = self.cfg.image_size;
        rng.uniform(dev(), &[labels.len(), 1, s, s], -1.0, 1.0)
    }
    fn save(&self, _: &mut balgan::nn::CheckpointWriter) -> balgan::Result<()> {
        Ok(())
    }
    fn load(&mut self, _: &balgan::nn::Checkpoint) -> balgan::Result<()> {
        Ok(())
    }
}

/// Sampling more images than fit in one call falls back to calls of the
/// model's training batch instead of failing, and still returns every image
/// with its label.
#[test]
fn sampling_past_the_adapters_limits_goes_in_pieces_of_the_training_batch() {
    let mut cfg = ModelConfig::defaults(ModelKind::Dcgan, 1, 4, 3);
    cfg.batch = 8;
    let mut model = NarrowSampler {
        cfg: cfg.clone(),
        calls: Vec::new(),
        broken: false,
    };
    let (images, labels) = balgan::cli::run::generate_images(&mut model, &[2], 20, 7).unwrap();
    assert_eq!(labels, vec![2; 20]);
    assert_eq!(images.len(), 20 * 16);
    assert!(images.iter().all(|v| (-1.0..=1.0).contains(v)));
    // One refused call of 20, then 8 + 8 + 4.
    assert_eq!(model.calls, vec![20, 8, 8, 4]);
    // Other failures are not retried.
    let mut broken = NarrowSampler {
        cfg,
        calls: Vec::new(),
        broken: true,
    };
    assert!(balgan::cli::run::generate_images(&mut broken, &[0], 20, 7).is_err());
    assert_eq!(broken.calls, vec![20]);
}
