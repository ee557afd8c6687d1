//! The classifier CNN: learns separable synthetic classes, gives features of
//! the documented width, predicts identically after a checkpoint round trip,
//! and rejects bad input.

use crate::common::*;
use balgan::metrics::classifier::{Classifier, Images, TrainConfig};
use balgan::nn::Module;
use balgan::Generator;

/// 3 classes of 8×8 grey images: a bright top half, bottom half or left half,
/// plus uniform noise of amplitude 0.5 (values in [-1, 1]).
pub(crate) fn synthetic(rng: &mut Rng, per_class: usize) -> (Vec<f32>, Vec<u32>) {
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 0..3 * per_class {
        let c = (i % 3) as u32;
        for y in 0..8 {
            for x in 0..8 {
                let on = match c {
                    0 => y < 4,
                    1 => y >= 4,
                    _ => x < 4,
                };
                let base = if on { 0.5 } else { -0.5 };
                data.push(base + rng.uniform(1, -0.5, 0.5)[0]);
            }
        }
        labels.push(c);
    }
    (data, labels)
}

/// 3 classes of 8×8 grey textures, which a network that pools globally
/// tells apart anywhere in the image: horizontal stripes, vertical stripes,
/// a checkerboard (±0.5), plus uniform noise of amplitude 0.5. ([`synthetic`]'s
/// halves differ only in where the bright half is: a ResNet-18, down to 1×1
/// at 8×8 before its global pooling, learns them from padding effects alone
/// and failed on about one random dataset in ten.)
pub(crate) fn textures(rng: &mut Rng, per_class: usize) -> (Vec<f32>, Vec<u32>) {
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for i in 0..3 * per_class {
        let c = (i % 3) as u32;
        for y in 0..8 {
            for x in 0..8 {
                let on = match c {
                    0 => y % 2 == 0,
                    1 => x % 2 == 0,
                    _ => (x + y) % 2 == 0,
                };
                data.push(if on { 0.5 } else { -0.5 } + rng.uniform(1, -0.5, 0.5)[0]);
            }
        }
        labels.push(c);
    }
    (data, labels)
}

#[test]
fn classifier_learns_separable_classes_and_round_trips() {
    let d = dev();
    let mut rng = Rng::new(100);
    let (train, train_labels) = synthetic(&mut rng, 30);
    let (test, test_labels) = synthetic(&mut rng, 20);
    let mut clf = Classifier::new(d, &Generator::new(1), 1, 3, 4).unwrap();
    let cfg = TrainConfig {
        epochs: 12,
        batch_size: 16,
        lr: 3e-3,
        seed: 5,
        ..TrainConfig::default()
    };
    let mut last_loss = f32::NAN;
    clf.fit(
        d,
        Images {
            data: &train,
            shape: [90, 1, 8, 8],
        },
        &train_labels,
        &cfg,
        |_, _, l| last_loss = l,
    )
    .unwrap();
    assert!(last_loss.is_finite());
    let pred = clf
        .predict(
            d,
            Images {
                data: &test,
                shape: [60, 1, 8, 8],
            },
            32,
        )
        .unwrap();
    let correct = pred.iter().zip(&test_labels).filter(|(p, l)| p == l).count();
    // The classes differ by ±1 over half the image against ±0.5 noise: a working
    // conv net separates them almost perfectly; chance is 1/3.
    assert!(
        correct >= 54,
        "held-out accuracy {correct}/60 (last training loss {last_loss})"
    );

    let feats = clf
        .extract_features(
            d,
            Images {
                data: &test,
                shape: [60, 1, 8, 8],
            },
            32,
        )
        .unwrap();
    assert_eq!(feats.len(), 60 * 16, "features are [N, 4·width]");

    let dir = std::env::temp_dir().join(format!("balgan-classifier-{}", base_seed()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("clf.safetensors");
    balgan::nn::save(&path, &clf).unwrap();
    let other = Classifier::new(d, &Generator::new(99), 1, 3, 4).unwrap();
    other.set_training(false);
    balgan::nn::load(&path, &other, true).unwrap();
    let again = other
        .predict(
            d,
            Images {
                data: &test,
                shape: [60, 1, 8, 8],
            },
            32,
        )
        .unwrap();
    assert_eq!(
        again, pred,
        "a loaded checkpoint (weights and running statistics) predicts identically"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn classifier_rejects_bad_input() {
    let d = dev();
    let mut clf = Classifier::new(d, &Generator::new(1), 1, 3, 2).unwrap();
    let data = vec![0.0f32; 4 * 64];
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: 2,
        ..Default::default()
    };
    let e = clf
        .fit(
            d,
            Images {
                data: &data,
                shape: [4, 1, 8, 8],
            },
            &[0, 1, 2],
            &cfg,
            |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("4 images but 3 labels"), "{e}");
    let e = clf
        .fit(
            d,
            Images {
                data: &data,
                shape: [4, 1, 8, 8],
            },
            &[0, 1, 2, 3],
            &cfg,
            |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 3 is not below the 3 classes"), "{e}");
    let e = clf
        .fit(
            d,
            Images {
                data: &data[..100],
                shape: [4, 1, 8, 8],
            },
            &[0, 1, 2, 0],
            &cfg,
            |_, _, _| {},
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("need 256 values, got 100"), "{e}");
    clf.set_training(true);
    assert!(
        clf.predict(
            d,
            Images {
                data: &data,
                shape: [4, 1, 8, 8]
            },
            2
        )
        .is_err(),
        "predicting in training mode"
    );
    assert!(Classifier::new(d, &Generator::new(1), 1, 1, 2).is_err(), "one class");
}

/// ResNet-18 in its CIFAR form has 11,173,962 parameters at width 64 for
/// 3-channel images and 10 classes (the count of the common PyTorch CIFAR
/// ResNet-18: 3×3 stem without bias, 1×1 projection shortcuts with batch
/// norm); its features are 8w wide.
#[test]
fn resnet18_has_resnet18s_parameters_and_feature_width() {
    use balgan::metrics::classifier::Architecture;
    let clf = Classifier::with_architecture(dev(), &Generator::new(1), 3, 10, 64, Architecture::ResNet18).unwrap();
    let count: usize = clf.parameter_tensors().iter().map(|t| t.numel()).sum();
    assert_eq!(count, 11_173_962);
    let small = Classifier::with_architecture(dev(), &Generator::new(1), 1, 3, 4, Architecture::ResNet18).unwrap();
    let x = Generator::new(2).uniform(dev(), &[2, 1, 9, 9], -1.0, 1.0).unwrap();
    assert_eq!(small.features(&x).unwrap().shape(), &[2, 32]);
    assert_eq!(small.forward(&x).unwrap().shape(), &[2, 3]);
    assert_eq!("ResNet-18".parse::<Architecture>().unwrap(), Architecture::ResNet18);
    assert!("vgg".parse::<Architecture>().is_err());
}

/// Early stopping on a validation split keeps the best epoch's weights and
/// stops after `patience` epochs without a gain of `min_delta`; SGD with
/// momentum and weight decay (S3VAE's schedule, a larger rate) learns.
#[test]
fn early_stopping_keeps_the_best_epoch_and_sgd_learns() {
    use balgan::metrics::classifier::{Architecture, ClassifierOptimizer};
    let d = dev();
    let mut rng = Rng::new(7);
    let (train, train_labels) = textures(&mut rng, 40);
    let (val, val_labels) = textures(&mut rng, 10);
    let images = Images {
        data: &train,
        shape: [120, 1, 8, 8],
    };
    let validation = Images {
        data: &val,
        shape: [30, 1, 8, 8],
    };
    let mut cfg = TrainConfig::s3vae();
    assert!(
        matches!(cfg.optimizer, ClassifierOptimizer::Sgd { momentum, weight_decay } if momentum == 0.9 && weight_decay == 1e-3)
    );
    assert_eq!((cfg.lr, cfg.batch_size, cfg.min_delta), (1e-4, 64, 0.01));
    cfg.lr = 0.02;
    cfg.batch_size = 16;
    cfg.epochs = 8;
    cfg.patience = 0;
    let mut clf = Classifier::with_architecture(d, &Generator::new(3), 1, 3, 4, Architecture::ResNet18).unwrap();
    let report = clf
        .fit_validated(
            d,
            images,
            &train_labels,
            Some((validation, &val_labels)),
            &cfg,
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(report.epochs, 8);
    assert!(!report.stopped_early);
    assert!(report.validation_accuracy > 0.8, "{report:?}");
    // The kept weights are the best epoch's: measured again, the same accuracy.
    let again = clf.predict(d, validation, 30).unwrap();
    let acc = again.iter().zip(&val_labels).filter(|(p, l)| p == l).count() as f64 / 30.0;
    assert_eq!(acc, report.validation_accuracy);
    // A gain of 2 is impossible: training stops `patience` epochs after the first.
    cfg.min_delta = 2.0;
    cfg.patience = 2;
    let mut clf = Classifier::new(d, &Generator::new(3), 1, 3, 4).unwrap();
    let report = clf
        .fit_validated(
            d,
            images,
            &train_labels,
            Some((validation, &val_labels)),
            &cfg,
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(report.epochs, 3, "{report:?}");
    assert!(report.stopped_early);
}
