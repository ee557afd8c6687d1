//! The imbalance recipes: per-class counts against the papers' tables, the
//! selected indices (valid, unique, of the right class, reproducible), the
//! command-line forms and the error paths. Pure host code, no device.

use std::collections::HashSet;

use crate::common::Rng;
use balgan::data::imbalance::{balanced, class_counts, counts_table, imbalance_ratio, PaperDataset, Recipe};
use balgan::data::Dataset;
use balgan::Error;

/// Fashion-MNIST-like training labels: 6000 per class, 10 classes, in a random
/// order.
fn fashion_like(salt: u64) -> Vec<u32> {
    let mut labels: Vec<u32> = (0..60_000).map(|i| (i % 10) as u32).collect();
    let mut rng = Rng::new(salt);
    rng.shuffle(&mut labels);
    labels
}

fn recipe(s: &str) -> Recipe {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Selects, then checks the indices are sorted, unique, in range, and match the
/// counts per class; returns the per-class counts of the selection.
fn select_checked(r: &Recipe, labels: &[u32], k: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let idx = r.select(labels, k, seed).unwrap_or_else(|e| panic!("{r}: {e}"));
    assert!(
        idx.windows(2).all(|w| w[0] < w[1]),
        "{r}: indices not sorted and unique"
    );
    assert!(idx.iter().all(|&i| i < labels.len()), "{r}: index out of range");
    let mut per_class = vec![0; k];
    for &i in &idx {
        per_class[labels[i] as usize] += 1;
    }
    (idx, per_class)
}

const SIX_THOUSAND: [usize; 10] = [6000; 10];

#[test]
fn imbalance_ir_keeps_class_zero_and_floors_the_rest() {
    let labels = fashion_like(1);
    for (ir, minor) in [(5.0, 1200), (20.0, 300), (50.0, 120), (100.0, 60), (52.83, 113)] {
        let r = Recipe::Ir { ratio: ir };
        let mut want = vec![minor; 10];
        want[0] = 6000;
        assert_eq!(r.counts(&SIX_THOUSAND).unwrap(), want, "{r}");
        let (_, got) = select_checked(&r, &labels, 10, 7);
        assert_eq!(got, want, "{r}");
    }
    // ⌊5923 / 100⌋ = 59 with MNIST's class-0 count.
    let mnist = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    assert_eq!(
        recipe("ir:100").counts(&mnist).unwrap(),
        [5923, 59, 59, 59, 59, 59, 59, 59, 59, 59]
    );
}

#[test]
fn imbalance_bagan_gp_and_aggan_tables_are_exact() {
    let labels = fashion_like(2);
    let cases: [(&str, [usize; 10]); 5] = [
        (
            "bagan-gp:fashion-mnist",
            [4166, 73, 139, 210, 287, 370, 422, 387, 545, 651],
        ),
        ("bagan-gp:cifar10", [3490, 71, 130, 221, 269, 349, 435, 485, 572, 628]),
        ("aggan:mnist", [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40]),
        (
            "aggan:fashion-mnist",
            [4000, 2000, 1000, 750, 500, 350, 200, 100, 60, 40],
        ),
        ("aggan:svhn", [4500, 2000, 1000, 800, 600, 500, 400, 250, 150, 80]),
    ];
    for (s, want) in cases {
        let r = recipe(s);
        assert_eq!(r.counts(&SIX_THOUSAND).unwrap(), want, "{s}");
        let (idx, got) = select_checked(&r, &labels, 10, 3);
        assert_eq!(got, want, "{s}");
        assert_eq!(idx.len(), want.iter().sum::<usize>(), "{s}");
    }
    assert_eq!(recipe("aggan:cifar10").counts(&[5000; 10]).unwrap()[9], 80);
    assert!((imbalance_ratio(&recipe("aggan:mnist").counts(&SIX_THOUSAND).unwrap()) - 100.0).abs() < 1e-12);
    assert!((imbalance_ratio(&recipe("aggan:cifar10").counts(&SIX_THOUSAND).unwrap()) - 56.25).abs() < 1e-12);
    // AGGAN's CelebA and LSUN tables have five classes (IR 100), and do not
    // fit a ten-class dataset.
    for s in ["aggan:celeba", "aggan:lsun"] {
        let r = recipe(s);
        assert_eq!(r.counts(&[20000; 5]).unwrap(), [15000, 1500, 750, 300, 150], "{s}");
        assert!((imbalance_ratio(&r.counts(&[20000; 5]).unwrap()) - 100.0).abs() < 1e-12);
        assert!(r.counts(&SIX_THOUSAND).is_err(), "{s} on ten classes");
    }
    // The cells table has four classes.
    assert_eq!(
        recipe("bagan-gp:cells").counts(&[8000, 400, 200, 1200]).unwrap(),
        [5600, 292, 106, 887]
    );
}

#[test]
fn imbalance_discard_and_cap_remove() {
    let labels = fashion_like(3);
    let r = recipe("discard:class=0,rate=0.95");
    let mut want = vec![6000; 10];
    want[0] = 300;
    assert_eq!(r.counts(&SIX_THOUSAND).unwrap(), want);
    assert_eq!(select_checked(&r, &labels, 10, 11).1, want);
    // S3VAE's rates on 5000 CIFAR images: 60/80/90/95/97.5 % leave 2000/1000/500/250/125.
    for (rate, keep) in [("60%", 2000), ("0.8", 1000), ("0.9", 500), ("95%", 250), ("97.5%", 125)] {
        let r = recipe(&format!("discard:class=3,rate={rate}"));
        let c = r.counts(&[5000; 10]).unwrap();
        assert_eq!(c[3], keep, "{r}");
        assert_eq!(c.iter().filter(|&&n| n == 5000).count(), 9, "{r}");
    }
    // Two classes at once.
    let c = recipe("discard:class=2+7,rate=0.5").counts(&SIX_THOUSAND).unwrap();
    assert_eq!(c, [6000, 6000, 3000, 6000, 6000, 6000, 6000, 3000, 6000, 6000]);

    // CostSensitive-ACGAN on MNIST's training counts: cap 5000, then 60/80/95 % of
    // digit 0 removed → 2000/1000/250.
    let mnist = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    for (remove, keep) in [(0.6, 2000), (0.8, 1000), (0.95, 250)] {
        let r = Recipe::CapRemove {
            class: 0,
            remove,
            cap: 5000,
        };
        let mut want = vec![5000; 10];
        want[0] = keep;
        assert_eq!(r.counts(&mnist).unwrap(), want, "{r}");
    }
    // A class below the cap keeps what it has.
    assert_eq!(
        recipe("cs-acgan:class=1,remove=0.5,cap=5000")
            .counts(&[5000, 4000, 3000])
            .unwrap(),
        [5000, 2000, 3000]
    );
}

#[test]
fn imbalance_step_minority_classes() {
    let labels = fashion_like(4);
    // μ = 0.1, ρ = 20 on 10 classes: one minority class (class 0) with 6000 / 20.
    let c = recipe("step:mu=0.1,rho=20").counts(&SIX_THOUSAND).unwrap();
    assert_eq!(c, [300, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000]);
    // μ = 0.3 gives exactly three minority classes despite 0.3·10 > 3 in f64.
    let (_, got) = select_checked(&recipe("step:mu=0.3,rho=10"), &labels, 10, 5);
    assert_eq!(got, [600, 600, 600, 6000, 6000, 6000, 6000, 6000, 6000, 6000]);
    // μ = 0.25 on 10 classes rounds up to 3 minority classes; chosen explicitly.
    let c = recipe("step:mu=0.25,rho=4,n=5000,minority=9+2+5")
        .counts(&SIX_THOUSAND)
        .unwrap();
    assert_eq!(c, [5000, 5000, 1250, 5000, 5000, 1250, 5000, 5000, 5000, 1250]);
    // Uneven classes: the majority size is the smallest majority class (5421),
    // the minority ⌊5421 / 20⌋ = 271.
    let mnist = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    let c = recipe("step:mu=0.1,rho=20").counts(&mnist).unwrap();
    assert_eq!(c, [271, 5421, 5421, 5421, 5421, 5421, 5421, 5421, 5421, 5421]);
    assert!((imbalance_ratio(&c) - 5421.0 / 271.0).abs() < 1e-12);
}

#[test]
fn imbalance_aggan_pair_keeps_two_classes() {
    let labels = fashion_like(5);
    let r = recipe("aggan-pair:5,7,ir=100");
    let (idx, got) = select_checked(&r, &labels, 10, 9);
    let mut want = vec![0; 10];
    want[7] = 6000;
    want[5] = 60;
    assert_eq!(got, want);
    assert!(idx.iter().all(|&i| labels[i] == 5 || labels[i] == 7));
    for (ir, pos) in [(10.0, 600), (50.0, 120)] {
        let r = Recipe::AgganPair {
            positive: 5,
            negative: 7,
            ir,
        };
        let c = r.counts(&SIX_THOUSAND).unwrap();
        assert_eq!((c[5], c[7], c.iter().sum::<usize>()), (pos, 6000, 6000 + pos), "{r}");
    }
    // A run on the pair has two classes: the negative (majority) one is 0,
    // the positive (minority) one 1. Other recipes keep every class.
    assert_eq!(r.classes(), Some(vec![7, 5]));
    assert_eq!(recipe("aggan-pair:0,1,ir=10").classes(), Some(vec![1, 0]));
    for s in ["ir:100", "aggan:fashion-mnist", "discard:class=4,rate=0.9"] {
        assert_eq!(recipe(s).classes(), None, "{s}");
    }
}

#[test]
fn imbalance_aggan_pair_dataset_is_two_relabelled_classes() {
    // 10 classes of 6000 labels each, a pixel per image holding its index.
    let labels = fashion_like(11);
    let names: Vec<String> = (0..10).map(|c| format!("class-{c}")).collect();
    let pixels: Vec<f32> = (0..labels.len()).map(|i| i as f32).collect();
    let ds = Dataset::new(pixels, [labels.len(), 1, 1, 1], labels.clone(), names).unwrap();
    let r = recipe("aggan-pair:5,7,ir=100");
    let kept = ds.subset(&r.select(ds.labels(), 10, 4).unwrap());
    let two = kept.select_classes(&r.classes().unwrap()).unwrap();
    assert_eq!(two.num_classes(), 2);
    assert_eq!(two.class_names(), ["class-7", "class-5"]);
    assert_eq!(two.class_counts(), [6000, 60]);
    assert!((two.imbalance_rate() - 100.0).abs() < 1e-12);
    // Every image is the one it was, its label 0 for class 7 and 1 for class 5.
    for (i, &l) in two.labels().iter().enumerate() {
        let orig = labels[two.image(i)[0] as usize];
        assert_eq!((orig, l), (if l == 0 { 7 } else { 5 }, l), "image {i}");
    }
    assert!(two.images().windows(2).all(|w| w[0] < w[1]), "the order is kept");
    // Bad class lists are refused.
    for bad in [&[][..], &[3, 3][..], &[10][..]] {
        assert!(ds.select_classes(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn imbalance_selection_is_seeded() {
    let labels = fashion_like(6);
    for s in ["ir:100", "bagan-gp:fashion-mnist", "discard:class=4,rate=0.9"] {
        let r = recipe(s);
        let a = r.select(&labels, 10, 42).unwrap();
        let b = r.select(&labels, 10, 42).unwrap();
        let c = r.select(&labels, 10, 43).unwrap();
        assert_eq!(a, b, "{s}: same seed, different indices");
        assert_ne!(a, c, "{s}: different seeds, same indices");
        assert_eq!(a.len(), c.len(), "{s}");
    }
    // A class kept whole is the same under every seed: only subsampled classes move.
    let r = recipe("ir:100");
    let class0 = |seed| -> Vec<usize> {
        r.select(&labels, 10, seed)
            .unwrap()
            .into_iter()
            .filter(|&i| labels[i] == 0)
            .collect()
    };
    assert_eq!(class0(1), class0(2));
    assert_eq!(class0(1).len(), 6000);
    // Each subsampled class moves on its own: with seeds 1 and 2 every
    // subsampled class of ir:100 differs.
    let pick = |seed| -> Vec<HashSet<usize>> {
        let mut sets = vec![HashSet::new(); 10];
        for i in r.select(&labels, 10, seed).unwrap() {
            sets[labels[i] as usize].insert(i);
        }
        sets
    };
    let (p1, p2) = (pick(1), pick(2));
    for c in 1..10 {
        assert_ne!(p1[c], p2[c], "class {c}");
    }
}

#[test]
fn imbalance_selection_is_uniform_over_images() {
    // 10 images of class 1, keep 5, over 2000 seeds: each image is kept
    // 1000 times on average (σ ≈ 22); a biased shuffle would leave the band.
    let labels: Vec<u32> = [vec![0u32; 3], vec![1u32; 10]].concat();
    let r = Recipe::Counts(vec![3, 5]);
    let mut hits = [0usize; 13];
    for seed in 0..2000 {
        for i in r.select(&labels, 2, seed).unwrap() {
            hits[i] += 1;
        }
    }
    assert_eq!(&hits[..3], &[2000, 2000, 2000]);
    for (i, &h) in hits.iter().enumerate().skip(3) {
        assert!(
            (850..=1150).contains(&h),
            "image {i} kept {h} times of 2000, expected ≈ 1000"
        );
    }
}

#[test]
fn imbalance_balanced_subsets() {
    let labels = fashion_like(7);
    let idx = balanced(&labels, 100, 1).unwrap();
    assert_eq!(idx.len(), 1000);
    assert_eq!(
        class_counts(&idx.iter().map(|&i| labels[i]).collect::<Vec<_>>(), 10).unwrap(),
        [100; 10]
    );
    assert_ne!(idx, balanced(&labels, 100, 2).unwrap());
    let e = balanced(&[0, 0, 2, 2], 1, 0).unwrap_err().to_string();
    assert!(e.contains("class 1 has 0 images"), "{e}");
    assert!(balanced(&[], 1, 0).is_err());
    assert!(balanced(&[0, 1], 0, 0).is_err());
}

#[test]
fn imbalance_parser_round_trips() {
    for s in [
        "none",
        "ir:100",
        "ir:52.83",
        "counts:4000,2000,1000,750,500,350,200,100,60,40",
        "bagan-gp:fashion-mnist",
        "bagan-gp:cifar10",
        "bagan-gp:cells",
        "step:mu=0.1,rho=20",
        "step:mu=0.3,rho=10,n=5000,minority=7+8+9",
        "cs-acgan:class=0,remove=0.6,cap=5000",
        "aggan:mnist",
        "aggan:svhn",
        "aggan-pair:5,7,ir=100",
        "discard:class=0,rate=0.95",
        "discard:class=0+3,rate=0.975",
    ] {
        let r = recipe(s);
        assert_eq!(r.to_string(), s);
        assert_eq!(recipe(&r.to_string()), r, "{s}");
    }
    // Accepted spellings that print canonically.
    assert_eq!(recipe(" IR:5 ").to_string(), "ir:5");
    assert_eq!(recipe("discard:rate=97.5%").to_string(), "discard:class=0,rate=0.975");
    assert_eq!(
        recipe("cs-acgan:remove=80%").to_string(),
        "cs-acgan:class=0,remove=0.8,cap=5000"
    );
    assert_eq!(recipe("aggan:f-mnist"), Recipe::Aggan(PaperDataset::FashionMnist));
    assert_eq!(recipe("bagan-gp:CIFAR-10"), Recipe::BaganGp(PaperDataset::Cifar10));
    assert_eq!(
        recipe("step:rho=20,mu=0.1"),
        Recipe::Step {
            mu: 0.1,
            rho: 20.0,
            majority: None,
            minority: None
        }
    );
}

#[test]
fn imbalance_parser_rejects_bad_forms() {
    for s in [
        "",
        "ir",
        "ir:abc",
        "foo:1",
        "counts:1,x,3",
        "bagan-gp:imagenet",
        "step:mu=0.1",
        "step:mu=0.1,rho=2,rho=3",
        "step:mu=0.1,rho=2,size=3",
        "discard:class=0",
        "discard:class=a,rate=0.5",
        "aggan-pair:5,ir=10",
        "aggan-pair:5,7,10",
    ] {
        let e = s.parse::<Recipe>().expect_err(s);
        assert!(matches!(e, Error::InvalidArgument { .. }), "{s}: {e}");
    }
}

#[test]
fn imbalance_check_rejects_bad_numbers_without_data() {
    for (s, want) in [
        ("ir:0.5", "IR must be at least 1, got 0.5"),
        ("ir:inf", "IR must be at least 1"),
        ("step:mu=0,rho=10", "μ must lie in (0, 1], got 0"),
        ("step:mu=0.1,rho=0.5", "ρ must be at least 1, got 0.5"),
        ("cs-acgan:remove=1", "remove must lie in [0, 1), got 1"),
        ("aggan-pair:5,5,ir=10", "the two classes must differ"),
        ("aggan-pair:5,7,ir=0", "IR must be at least 1, got 0"),
        ("discard:rate=1.5", "rate must lie in [0, 1), got 1.5"),
        (
            "bagan-gp:mnist",
            "BAGAN-GP prints tables for fashion-mnist, cifar10 and cells only",
        ),
        ("aggan:cells", "AGGAN lists counts for mnist"),
    ] {
        let e = recipe(s).check().unwrap_err().to_string();
        assert!(e.contains(want), "{s}: {e}");
        // The data-dependent step reports the same fault the same way.
        let c = recipe(s).counts(&[6000; 10]).unwrap_err().to_string();
        assert_eq!(c, e, "{s}");
    }
    // Faults that depend on the data pass the check and are left to counts.
    for s in [
        "none",
        "ir:100",
        "counts:1,2,3",
        "bagan-gp:cells",
        "aggan-pair:5,12,ir=10",
        "discard:class=11,rate=0.5",
    ] {
        recipe(s).check().unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    assert!(recipe("aggan-pair:5,12,ir=10").counts(&[6000; 10]).is_err());
}

#[test]
fn imbalance_errors_name_the_problem() {
    let err = |s: &str, avail: &[usize]| recipe(s).counts(avail).unwrap_err().to_string();
    // A class with too few images: which class, how many asked, how many there.
    let e = err("counts:7000,10,10", &[6000, 6000, 6000]);
    assert!(e.contains("class 0") && e.contains("6000") && e.contains("7000"), "{e}");
    let e = err(
        "aggan:mnist",
        &[6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 30],
    );
    assert!(e.contains("class 9") && e.contains("30") && e.contains("40"), "{e}");
    // ir:1 asks every class for N₀ images.
    let e = err("ir:1", &[6000, 6000, 5999]);
    assert!(e.contains("class 2") && e.contains("5999"), "{e}");
    // Unknown classes.
    assert!(err("discard:class=10,rate=0.5", &SIX_THOUSAND).contains("unknown class 10"));
    assert!(err("aggan-pair:5,12,ir=10", &SIX_THOUSAND).contains("unknown class 12"));
    assert!(err("step:mu=0.2,rho=2,minority=1+11", &SIX_THOUSAND).contains("unknown class 11"));
    assert!(err("aggan-pair:5,5,ir=10", &SIX_THOUSAND).contains("must differ"));
    // Ratios below 1 and rates outside [0, 1).
    assert!(err("ir:0.5", &SIX_THOUSAND).contains("at least 1"));
    assert!(err("step:mu=0.1,rho=0.9", &SIX_THOUSAND).contains("at least 1"));
    assert!(err("step:mu=0,rho=2", &SIX_THOUSAND).contains("(0, 1]"));
    assert!(err("discard:class=0,rate=1", &SIX_THOUSAND).contains("[0, 1)"));
    assert!(err("cs-acgan:remove=-0.1", &SIX_THOUSAND).contains("[0, 1)"));
    // Nothing left of a class, or of anything.
    assert!(err("ir:10000", &SIX_THOUSAND).contains("smaller IR"));
    assert!(err("discard:class=0,rate=0.99999", &SIX_THOUSAND).contains("keep none"));
    assert!(err("counts:0,0,0", &[5, 5, 5]).contains("keeps no image"));
    // Tables and lists of the wrong length.
    assert!(err("aggan:mnist", &[6000; 4]).contains("lists 10 classes but the data has 4"));
    assert!(err("counts:1,2", &[6000; 3]).contains("lists 2 classes"));
    assert!(err("step:mu=0.2,rho=2,minority=1", &SIX_THOUSAND).contains("2 minority classes but 1"));
    // Labels outside the class range.
    let e = recipe("ir:2").select(&[0, 1, 3], 3, 0).unwrap_err().to_string();
    assert!(e.contains("label 3 of image 2"), "{e}");
}

#[test]
fn imbalance_counts_table_shows_the_ratio() {
    let t = counts_table(&["t-shirt", "trouser"], &[4000, 2000, 40]);
    assert!(t.contains("| 0 | t-shirt | 4000 |"), "{t}");
    assert!(t.contains("| 2 | 2 | 40 |"), "{t}");
    assert!(t.contains("total 6040 images"), "{t}");
    assert!(t.contains("imbalance ratio 100.00"), "{t}");
    assert_eq!(imbalance_ratio(&[0, 5, 10]), 2.0);
    assert_eq!(imbalance_ratio(&[0, 0]), 0.0);
}
