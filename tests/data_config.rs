//! `data::DataConfig`, the data protocol of a run as a library API: a run's
//! training set rebuilt from its `config.toml` is the one `balgan train`
//! trained on (its fingerprint is the checkpoint's), an image folder's
//! hold-out partitions every class, per-class caps choose within the split,
//! and dataset names round-trip.

use std::collections::HashSet;

use balgan::cli::train::DataFingerprint;
use balgan::data::{load, DataConfig, Dataset, DatasetKind, Split};
use balgan::nn::Checkpoint;

use crate::cli_train::{balgan, image_folder, s};
use crate::common::TempDir;

/// Every image's pixels (as bits) with its label, one entry per image.
fn rows(ds: &Dataset) -> Vec<(u32, Vec<u32>)> {
    let per = ds.images().len() / ds.len();
    ds.images()
        .chunks(per)
        .zip(ds.labels())
        .map(|(px, &l)| (l, px.iter().map(|v| v.to_bits()).collect()))
        .collect()
}

fn folder_config(path: &std::path::Path, seed: u64) -> DataConfig {
    DataConfig {
        dataset: DatasetKind::Folder.name().into(),
        path: Some(path.to_path_buf()),
        imbalance: None,
        image_size: 12,
        seed,
        holdout: DataConfig::DEFAULT_HOLDOUT,
        train_per_class: None,
    }
}

#[test]
fn a_run_s_training_set_rebuilds_from_its_config_toml() {
    let tmp = TempDir::new("data-config-run");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let (ok, _, err) = balgan(&[
        "train",
        "--model",
        "dcgan",
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--imbalance",
        "ir:2",
        "--image-size",
        "8",
        "--batch",
        "4",
        "--epochs",
        "1",
        "--set",
        "latent=8",
        "--seed",
        "3",
        "--out",
        s(&run),
        "--quiet",
    ]);
    assert!(ok, "{err}");

    let cfg = DataConfig::read(run.join("config.toml")).unwrap();
    assert_eq!(cfg.kind().unwrap(), DatasetKind::Folder);
    assert_eq!((cfg.image_size, cfg.seed), (8, 3));
    let train = cfg.training_set().unwrap();
    assert_eq!(train.shape(), [train.len(), 1, 8, 8]);
    assert_eq!(train.class_names(), ["circle", "square", "star"]);
    // 8 of each class's 10 images after the hold-out, then IR 2 keeps class 0 whole
    // and ⌊8 / 2⌋ of the others.
    assert_eq!(train.class_counts(), [8, 4, 4]);

    let c = Checkpoint::open(run.join("checkpoints").join("last.safetensors")).unwrap();
    let saved = DataFingerprint::read(&c).expect("the checkpoint records its data");
    assert_eq!(
        DataFingerprint::of(&train),
        saved,
        "the rebuilt set is what the run trained on"
    );

    // The comparison can fail: another seed holds out and keeps other images.
    let other = DataConfig { seed: 4, ..cfg.clone() }.training_set().unwrap();
    assert_eq!(other.class_counts(), [8, 4, 4]);
    assert_ne!(DataFingerprint::of(&other).hash, saved.hash);
}

#[test]
fn an_image_folder_s_holdout_partitions_every_class() {
    let tmp = TempDir::new("data-config-holdout");
    image_folder(&tmp.0);
    let cfg = folder_config(&tmp.0, 11);
    let all = load(DatasetKind::Folder, Some(&tmp.0), Split::Train, 12).unwrap();
    assert_eq!(all.class_counts(), [10, 10, 10]);
    let train = cfg.training_set().unwrap();
    let test = cfg.test_set(None, 0).unwrap();
    assert_eq!(train.class_counts(), [8, 8, 8]);
    assert_eq!(test.class_counts(), [2, 2, 2]);
    let train_rows: HashSet<_> = rows(&train).into_iter().collect();
    let test_rows: HashSet<_> = rows(&test).into_iter().collect();
    assert!(train_rows.is_disjoint(&test_rows), "a held-out image is not trained on");
    let union: HashSet<_> = train_rows.union(&test_rows).cloned().collect();
    let every: HashSet<_> = rows(&all).into_iter().collect();
    assert_eq!(union, every, "together the two parts are the folder");

    // The same seed holds out the same images; another seed other ones.
    assert_eq!(rows(&cfg.test_set(None, 5).unwrap()), rows(&test));
    let other: HashSet<_> = rows(&folder_config(&tmp.0, 12).test_set(None, 0).unwrap())
        .into_iter()
        .collect();
    assert_ne!(other, test_rows);

    // Caps choose within the split, at most so many of each class.
    let capped = cfg.test_set(Some(1), 0).unwrap();
    assert_eq!(capped.class_counts(), [1, 1, 1]);
    assert!(rows(&capped).iter().all(|r| test_rows.contains(r)));
    let reference = cfg.reference_set(3, 0).unwrap();
    assert_eq!(reference.class_counts(), [3, 3, 3]);
    assert!(rows(&reference).iter().all(|r| train_rows.contains(r)));
    assert_eq!(cfg.reference_set(100, 0).unwrap().class_counts(), [8, 8, 8]);
    assert_eq!(balgan::data::cap_per_class(&all, None, 0).unwrap().len(), 30);

    let bad = DataConfig { holdout: 1.0, ..cfg };
    let err = bad.training_set().unwrap_err().to_string();
    assert!(err.contains("must be in [0, 1)"), "{err}");
}

#[test]
fn dataset_names_round_trip_and_a_folder_needs_its_path() {
    for k in [DatasetKind::FashionMnist, DatasetKind::Cifar10, DatasetKind::Folder] {
        assert_eq!(k.name().parse::<DatasetKind>().unwrap(), k);
        assert_eq!(k.to_string(), k.name());
    }
    assert_eq!("CIFAR-10".parse::<DatasetKind>().unwrap(), DatasetKind::Cifar10);
    let err = "imagenet".parse::<DatasetKind>().unwrap_err().to_string();
    assert!(err.contains("unknown dataset 'imagenet'"), "{err}");
    let err = load(DatasetKind::Folder, None, Split::Train, 8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs --data"), "{err}");
    let err = DataConfig::read("/nonexistent/run/config.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/run/config.toml"), "{err}");
}

#[test]
fn an_aggan_pair_run_trains_and_evaluates_on_its_two_classes() {
    use balgan::cli::eval::{eval, EvalArgs};

    let tmp = TempDir::new("data-config-aggan-pair");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    // Positive "square" (1), negative "circle" (0), IR 2; "star" is left out.
    let (ok, _, err) = balgan(&[
        "train",
        "--model",
        "dcgan",
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--imbalance",
        "aggan-pair:1,0,ir=2",
        "--image-size",
        "8",
        "--batch",
        "4",
        "--epochs",
        "1",
        "--set",
        "latent=8",
        "--seed",
        "5",
        "--out",
        s(&run),
        "--quiet",
    ]);
    assert!(ok, "{err}");

    let cfg = DataConfig::read(run.join("config.toml")).unwrap();
    let train = cfg.training_set().unwrap();
    // 8 of each class's 10 images after the hold-out: circle keeps 8, square ⌊8 / 2⌋.
    assert_eq!(train.class_names(), ["circle", "square"]);
    assert_eq!(train.class_counts(), [8, 4]);
    assert!(train.labels().iter().all(|&l| l < 2));

    // The test split: the held-out circles and squares, relabelled the same way.
    let test = cfg.test_set(None, 0).unwrap();
    let all = DataConfig {
        imbalance: None,
        ..cfg.clone()
    }
    .test_set(None, 0)
    .unwrap();
    assert_eq!(all.class_names(), ["circle", "square", "star"]);
    assert_eq!(test.class_names(), ["circle", "square"]);
    assert_eq!(test.class_counts(), [2, 2]);
    let want: Vec<_> = rows(&all).into_iter().filter(|(l, _)| *l < 2).collect();
    assert_eq!(rows(&test), want, "the same images with the same labels");

    let res = eval(
        crate::common::dev(),
        &EvalArgs {
            run: run.clone(),
            per_class: Some(2),
            extractor_per_class: 8,
            extractor_epochs: 1,
            downstream: false,
            downstream_epochs: 1,
            downstream_baselines: true,
            seed: 0,
            quiet: true,
            ..EvalArgs::default()
        },
    )
    .expect("eval on the two classes");
    let names: Vec<&str> = res.classes.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["circle", "square"]);
    assert_eq!(
        res.classes
            .iter()
            .map(|c| (c.train_images, c.test_images))
            .collect::<Vec<_>>(),
        [(8, 2), (4, 2)]
    );
}

/// `train_per_class` caps every class of the training split, a seeded
/// choice, before the recipe; the test split is left whole.
#[test]
fn train_per_class_caps_each_class_before_the_recipe() {
    let tmp = TempDir::new("data-config-cap");
    let data = tmp.0.join("data");
    image_folder(&data);
    let whole = folder_config(&data, 3);
    let capped = DataConfig {
        train_per_class: Some(5),
        ..whole.clone()
    };
    assert_eq!(whole.training_set().unwrap().class_counts(), vec![8, 8, 8]);
    let a = capped.training_set().unwrap();
    assert_eq!(a.class_counts(), vec![5, 5, 5]);
    // The same seed picks the same images; a subset of the whole split's.
    assert_eq!(rows(&a), rows(&capped.training_set().unwrap()));
    let all = rows(&whole.training_set().unwrap());
    assert!(rows(&a).iter().all(|x| all.contains(x)));
    // Then the recipe: half of class 0's five.
    let discarded = DataConfig {
        imbalance: Some("discard:class=0,rate=0.6".into()),
        ..capped.clone()
    };
    assert_eq!(discarded.training_set().unwrap().class_counts(), vec![2, 5, 5]);
    assert_eq!(capped.test_set(None, 0).unwrap().class_counts(), vec![2, 2, 2]);
}
