//! The measuring protocols: the feature extractor is trained once on the
//! balanced split and then reused from its file; per-class FID separates
//! matching from mismatched classes; the downstream training sets have the
//! documented counts; the downstream report is computed on the whole test set;
//! the accuracy on generated images of a "generator" that returns real test
//! images is the classifier's test accuracy, class by class.

use crate::classifier::synthetic;
use crate::common::*;
use balgan::data::Dataset;
use balgan::metrics::classifier::{Images, TrainConfig};
use balgan::metrics::evaluate::{
    accuracy_on_generated, downstream, feature_extractor, features, fid_and_kid_per_class, fid_per_class, training_set,
    TrainingData,
};

fn dataset(rng: &mut Rng, per_class: usize) -> Dataset {
    let (data, labels) = synthetic(rng, per_class);
    let names = vec!["top".to_string(), "bottom".to_string(), "left".to_string()];
    Dataset::new(data, [labels.len(), 1, 8, 8], labels, names).unwrap()
}

/// Keep `keep[c]` images of class c.
fn imbalanced(ds: &Dataset, keep: [usize; 3]) -> Dataset {
    let mut left = keep;
    let idx: Vec<usize> = (0..ds.len())
        .filter(|&i| {
            let c = ds.labels()[i] as usize;
            let take = left[c] > 0;
            if take {
                left[c] -= 1;
            }
            take
        })
        .collect();
    ds.try_subset(&idx).unwrap()
}

/// ACSA above 0.8 on the separable synthetic classes (chance is 1/3); a
/// failure prints the seed that replays it.
fn assert_learns_every_class(cm: &balgan::metrics::classification::ConfusionMatrix) {
    assert!(
        cm.acsa() > 0.8,
        "ACSA {} (BALGAN_TEST_SEED={})\n{}",
        cm.acsa(),
        crate::common::base_seed(),
        cm.report()
    );
}

#[test]
fn training_sets_have_the_documented_counts() {
    let mut rng = Rng::new(110);
    let train = imbalanced(&dataset(&mut rng, 20), [20, 7, 3]);
    let gen = dataset(&mut rng, 4);
    let plain = training_set(&train, TrainingData::Imbalanced, 1).unwrap();
    assert_eq!(plain.class_counts(), vec![20, 7, 3]);
    let over = training_set(&train, TrainingData::Oversampled, 1).unwrap();
    assert_eq!(
        over.class_counts(),
        vec![20, 20, 20],
        "every class repeated up to the majority"
    );
    // Repeats are spread evenly: each of the 3 images of class 2 appears 6 or 7 times.
    let mut seen = std::collections::HashMap::new();
    for i in 0..over.len() {
        if over.labels()[i] == 2 {
            *seen
                .entry(over.image(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .or_insert(0) += 1;
        }
    }
    assert!(seen.values().all(|&k| k == 6 || k == 7), "{seen:?}");
    let with = training_set(&train, TrainingData::WithGenerated(&gen), 1).unwrap();
    assert_eq!(with.class_counts(), vec![24, 11, 7]);
    let wrong = Dataset::new(
        vec![0.0; 16],
        [1, 1, 4, 4],
        vec![0],
        vec!["a".into(), "b".into(), "c".into()],
    )
    .unwrap();
    assert!(
        training_set(&train, TrainingData::WithGenerated(&wrong), 1).is_err(),
        "mismatched image size"
    );
}

#[test]
fn feature_extractor_is_trained_once_then_reused_and_separates_classes() {
    let d = dev();
    let mut rng = Rng::new(111);
    let train = dataset(&mut rng, 30);
    let real = dataset(&mut rng, 12);
    let cfg = TrainConfig {
        epochs: 8,
        batch_size: 16,
        lr: 3e-3,
        seed: 2,
        ..TrainConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("balgan-extractor-{}", base_seed()));
    let cache = dir.join("extractor.safetensors");
    let clf = feature_extractor(d, &train, &cache, 4, &cfg).unwrap();
    assert!(cache.exists(), "the trained extractor is saved");
    let again = feature_extractor(d, &train, &cache, 4, &cfg).unwrap();
    let (a, b) = (
        features(d, &clf, &real).unwrap().to_vec().unwrap(),
        features(d, &again, &real).unwrap().to_vec().unwrap(),
    );
    assert_eq!(a, b, "the reused extractor gives the same features");

    // Generated = real images of the same classes (another draw): small FID per class;
    // generated with the labels rotated (top labelled bottom, …): large FID.
    let same = dataset(&mut rng, 12);
    let rotated = Dataset::new(
        same.images().to_vec(),
        same.shape(),
        same.labels().iter().map(|l| (l + 1) % 3).collect(),
        same.class_names().to_vec(),
    )
    .unwrap();
    let good = fid_per_class(d, &clf, &real, &same).unwrap();
    let bad = fid_per_class(d, &clf, &real, &rotated).unwrap();
    // Only one class's features are uploaded at a time: the values are those
    // of the whole-set features with the class's rows selected on the device.
    let (fr, fs) = (features(d, &clf, &real).unwrap(), features(d, &clf, &same).unwrap());
    for (c, got) in good.iter().enumerate() {
        let pick = |f: &balgan::Tensor, ds: &Dataset| {
            let idx = balgan::IndexTensor::from_usize(d, &ds.class_indices()[c]).unwrap();
            f.index_select(0, &idx).unwrap()
        };
        let want = balgan::metrics::fid::fid(&pick(&fr, &real), &pick(&fs, &same)).unwrap();
        let got = got.unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
            "class {c}: {got} vs whole-set {want}"
        );
    }
    for c in 0..3 {
        let (g, b) = (good[c].unwrap(), bad[c].unwrap());
        assert!(g < b, "class {c}: matching images give FID {g}, mismatched {b}");
    }
    // KID in the same features, extracted once: the FIDs are the same, and
    // each class's KID is kid() of its rows with the seed mixed with the class.
    use balgan::metrics::kid::{kid, KidOptions};
    let opts = KidOptions {
        subsets: 10,
        max_subset: 1000,
        seed: 77,
    };
    let (fids, kids) = fid_and_kid_per_class(d, &clf, &real, &same, Some(&opts)).unwrap();
    let (_, bad_kids) = fid_and_kid_per_class(d, &clf, &real, &rotated, Some(&opts)).unwrap();
    assert_eq!(fids, good, "the FIDs do not depend on KID");
    let (hr, hs) = (fr.to_vec().unwrap(), fs.to_vec().unwrap());
    let width = hr.len() / real.len();
    let class_rows = |h: &[f32], ds: &Dataset, c: usize| -> Vec<f32> {
        ds.class_indices()[c]
            .iter()
            .flat_map(|&i| h[i * width..(i + 1) * width].to_vec())
            .collect()
    };
    for c in 0..3 {
        let want = kid(
            &class_rows(&hr, &real, c),
            &class_rows(&hs, &same, c),
            width,
            &KidOptions {
                seed: 77 ^ (c as u64 + 1),
                ..opts
            },
        )
        .unwrap();
        assert_eq!(kids[c], Some(want), "class {c}");
        let (g, b) = (want.mean, bad_kids[c].unwrap().mean);
        assert!(g < b, "class {c}: matching images give KID {g}, mismatched {b}");
    }
    assert!(fid_and_kid_per_class(d, &clf, &real, &same, None)
        .unwrap()
        .1
        .iter()
        .all(Option::is_none));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn downstream_reports_on_the_whole_test_set() {
    let d = dev();
    let mut rng = Rng::new(112);
    let train = imbalanced(&dataset(&mut rng, 30), [30, 30, 6]);
    let test = dataset(&mut rng, 10);
    let cfg = TrainConfig {
        epochs: 8,
        batch_size: 16,
        lr: 3e-3,
        seed: 3,
        ..TrainConfig::default()
    };
    let cm = downstream(d, &train, &test, TrainingData::Oversampled, 4, &cfg).unwrap();
    assert_eq!(cm.total(), 30, "every test image is counted");
    // Separable classes: even the minority class is learnt.
    assert_learns_every_class(&cm);
    let report = cm.report();
    assert!(report.contains("G-mean") && report.contains("ACSA"), "{report}");
}

/// [`crate::classifier::textures`] as a dataset.
fn textures(rng: &mut Rng, per_class: usize) -> Dataset {
    let (data, labels) = crate::classifier::textures(rng, per_class);
    let names = vec!["rows".to_string(), "columns".to_string(), "checks".to_string()];
    Dataset::new(data, [labels.len(), 1, 8, 8], labels, names).unwrap()
}

/// The validation split holds a seeded tenth of each class (at least one
/// image of a class with two or more), disjoint from the training part; the
/// ResNet-18 under S3VAE's early-stopping schedule learns the classes.
#[test]
fn downstream_resnet18_with_early_stopping_on_a_validation_split() {
    use balgan::metrics::classifier::{Architecture, ClassifierOptimizer};
    use balgan::metrics::evaluate::{downstream_with, validation_split};
    let d = dev();
    let mut rng = Rng::new(114);
    let train = imbalanced(&textures(&mut rng, 120), [120, 120, 24]);
    let test = textures(&mut rng, 10);
    let (fit, val) = validation_split(&train, 3).unwrap();
    assert_eq!(val.class_counts(), vec![12, 12, 2]);
    assert_eq!(fit.class_counts(), vec![108, 108, 22]);
    let images = |ds: &Dataset| -> Vec<Vec<u32>> {
        (0..ds.len())
            .map(|i| ds.image(i).iter().map(|v| v.to_bits()).collect())
            .collect()
    };
    let (mut all, mut parts) = (images(&train), [images(&fit), images(&val)].concat());
    all.sort();
    parts.sort();
    assert_eq!(all, parts, "the two parts are the training set, each image once");
    let mut cfg = TrainConfig::s3vae();
    assert!(matches!(cfg.optimizer, ClassifierOptimizer::Sgd { .. }));
    cfg.lr = 0.02;
    cfg.batch_size = 16;
    cfg.epochs = 10;
    cfg.seed = 3;
    let cm = downstream_with(
        d,
        &train,
        &test,
        TrainingData::Oversampled,
        Architecture::ResNet18,
        4,
        &cfg,
    )
    .unwrap();
    assert_eq!(cm.total(), 30);
    assert_learns_every_class(&cm);
    // A set with no class of two images cannot be split.
    let one = Dataset::new(vec![0.0; 2 * 4], [2, 1, 2, 2], vec![0, 1], vec!["a".into(), "b".into()]).unwrap();
    assert!(validation_split(&one, 0).is_err());
}

/// The class a class's generated images are most often taken for, from a
/// hand-made confusion matrix: the largest off-diagonal count of its row,
/// the lower class on a tie, none for a row all on its diagonal or empty.
#[test]
fn generated_images_are_taken_for_the_other_class_with_most_of_them() {
    use balgan::metrics::classification::ConfusionMatrix;
    use balgan::metrics::evaluate::GeneratedAccuracy;
    let rows: [[u64; 4]; 4] = [
        [5, 1, 3, 1], // 3 of 10 taken for class 2
        [0, 4, 0, 0], // all class 1: none
        [2, 0, 0, 2], // a tie of 2 and 2: the lower class, 0
        [0, 0, 0, 0], // no generated image
    ];
    let acc = GeneratedAccuracy {
        generated: ConfusionMatrix::from_rows(&rows).unwrap(),
        test: ConfusionMatrix::new(4).unwrap(),
    };
    assert_eq!(acc.taken_for(), [Some((2, 0.3)), None, Some((0, 0.5)), None]);
}

#[test]
fn accuracy_on_generated_images_matches_the_classifier_on_real_ones() {
    let d = dev();
    let mut rng = Rng::new(113);
    let train = dataset(&mut rng, 30);
    let test = dataset(&mut rng, 12);
    let cfg = TrainConfig {
        epochs: 8,
        batch_size: 16,
        lr: 3e-3,
        seed: 4,
        ..TrainConfig::default()
    };
    let dir = TempDir::new("accuracy-on-generated");
    let clf = feature_extractor(d, &train, &dir.path().join("x.safetensors"), 4, &cfg).unwrap();
    // The classifier's predictions on the test images, counted here by hand.
    let pred = clf
        .predict(
            d,
            Images {
                data: test.images(),
                shape: test.shape(),
            },
            256,
        )
        .unwrap();
    let of_class = |c: u32| -> Vec<usize> { (0..test.len()).filter(|&i| test.labels()[i] == c).collect() };
    // share(f, c): the fraction of class f's test images predicted as c.
    let share = |f: u32, c: u32| {
        let idx = of_class(f);
        idx.iter().filter(|&&i| pred[i] == c).count() as f64 / idx.len() as f64
    };

    // A "generator" that returns, for each class, that class's real test
    // images (in another order): it scores the classifier's test accuracy,
    // class by class and overall.
    let reversed: Vec<usize> = (0..test.len()).rev().collect();
    let gen = test.try_subset(&reversed).unwrap();
    let acc = accuracy_on_generated(d, &clf, &test, &gen).unwrap();
    for c in 0..3u32 {
        let want = share(c, c);
        assert_eq!(acc.on_generated()[c as usize], Some(want), "class {c}");
        assert_eq!(acc.on_test()[c as usize], Some(want), "class {c}");
    }
    let right = (0..test.len()).filter(|&i| pred[i] == test.labels()[i]).count();
    assert_eq!(acc.test.accuracy(), right as f64 / test.len() as f64);
    assert_eq!(acc.generated.accuracy(), acc.test.accuracy());
    assert!(
        acc.test.accuracy() > 0.9,
        "separable classes are learnt: {}",
        acc.test.accuracy()
    );

    // A generator that returns class 0's test images whatever class it is
    // asked for: class 0 scores the classifier's accuracy on class 0; every
    // other class c scores the share of class-0 images predicted as c, near 0
    // for a good classifier; the per-class values sum to 1 (mean 1/K).
    let zeros = of_class(0);
    let mut idx = Vec::new();
    let mut labels = Vec::new();
    for c in 0..3u32 {
        idx.extend(&zeros);
        labels.extend(std::iter::repeat_n(c, zeros.len()));
    }
    let fixed = test.try_subset(&idx).unwrap();
    let fixed = Dataset::new(
        fixed.images().to_vec(),
        fixed.shape(),
        labels,
        fixed.class_names().to_vec(),
    )
    .unwrap();
    let acc = accuracy_on_generated(d, &clf, &test, &fixed).unwrap();
    let per: Vec<f64> = acc.on_generated().into_iter().map(Option::unwrap).collect();
    assert_eq!(per[0], share(0, 0));
    for c in 1..3u32 {
        assert_eq!(per[c as usize], share(0, c), "class {c}");
        assert!(per[c as usize] <= 0.1, "class {c} gets class 0's images: {per:?}");
    }
    assert!((per.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{per:?}");
    assert!(
        (acc.generated.accuracy() - 1.0 / 3.0).abs() < 1e-12,
        "overall: 1/K, {per:?}"
    );
    // Classes 1 and 2 got class 0's images: most of them are taken for class 0.
    let taken = acc.taken_for();
    for c in 1..3 {
        assert_eq!(taken[c], Some((0, share(0, 0))), "class {c}: {taken:?}");
    }

    // No generated image of a class: no accuracy for it; mismatched classes: an error.
    let only_one = fixed.try_subset(&(0..zeros.len()).collect::<Vec<_>>()).unwrap();
    let acc = accuracy_on_generated(d, &clf, &test, &only_one).unwrap();
    assert_eq!(acc.on_generated()[1], None);
    let two = Dataset::new(vec![0.0; 64], [1, 1, 8, 8], vec![0], vec!["a".into(), "b".into()]).unwrap();
    assert!(accuracy_on_generated(d, &clf, &test, &two).is_err());
}
