//! `balgan experiment s3vae-discard`: S3VAE's protocol (§3.2). One class
//! (`--class`, default 0) loses a share of its training images (the
//! `discard:class=C,rate=R` recipe; the test set is untouched). A
//! downstream classifier is trained on four groups and measured on the
//! balanced test set by accuracy and the grouped F1.5 (the reduced class
//! against the rest):
//!
//! 1. the full training data;
//! 2. the data after the discard;
//! 3. the discarded data plus generated images of the class, as many as
//!    were discarded — one row per model (C-VAE, S3VAE), each model trained
//!    on the discarded data in a cell of its own;
//! 4. the discarded data with the class's leftover images replicated ×2
//!    (each leftover image twice; not oversampled to the majority).
//!
//! The claims checked per rate: S3VAE's images help more than C-VAE's, than
//! replicating the leftovers and than nothing (group 3 S3VAE against 3 C-VAE,
//! 4 and 2), on both measures. Every number is the mean ± standard deviation
//! over the seeds; the verdict rule is [`super::verdict`].

use std::path::{Path, PathBuf};

use super::verdict::{compare, provenance, Spread, Verdict};
use super::{cached, train_cell, ExperimentArgs, Measures};
use crate::cli::plot::{plot_lines, Series};
use crate::cli::run::{generate_images, write_text, RunDir};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::classification::{ConfusionMatrix, S3VAE_BETA};
use crate::metrics::evaluate::{downstream_with, TrainingData};
use crate::models::ModelKind;

/// The paper's discard rates (PlantVillage's, then CIFAR's deeper ones).
pub const RATES: [f64; 5] = [0.6, 0.8, 0.9, 0.95, 0.975];
/// The models compared.
pub const MODELS: [ModelKind; 2] = [ModelKind::Cvae, ModelKind::S3vae];

/// One row of the table: a group of training data.
#[derive(Debug, Clone, PartialEq)]
enum Group {
    Full,
    Discarded,
    Generated(ModelKind),
    Replicated,
}

impl Group {
    fn title(&self) -> String {
        match self {
            Group::Full => "1 full data".into(),
            Group::Discarded => "2 discarded".into(),
            Group::Generated(m) => format!("3 discarded + {} images", m.title()),
            Group::Replicated => "4 discarded + leftover ×2".into(),
        }
    }

    fn key(&self) -> String {
        match self {
            Group::Full => "full".into(),
            Group::Discarded => "discarded".into(),
            Group::Generated(m) => format!("generated-{}", m.name()),
            Group::Replicated => "replicated".into(),
        }
    }
}

fn rate_text(r: f64) -> String {
    format!("{}", (r * 1000.0).round() / 10.0)
}

/// The measures of a classifier's confusion matrix, `class` the group,
/// trained on `train` plus `extra`.
fn measures(
    cm: &ConfusionMatrix,
    class: u32,
    train: &Dataset,
    extra: Option<&Dataset>,
    cut_short: bool,
) -> Result<Measures> {
    let s = cm.summary();
    let mut counts = train.class_counts();
    if let Some(e) = extra {
        for (c, n) in counts.iter_mut().zip(e.class_counts()) {
            *c += n;
        }
    }
    Ok(Measures {
        accuracy: s.accuracy,
        grouped_f1_5: cm.grouped_f_beta(&[class as usize], S3VAE_BETA)?,
        acsa: s.acsa,
        macro_f1: s.macro_f1,
        g_mean: s.g_mean,
        images: counts.iter().sum(),
        counts,
        cut_short,
    })
}

/// The images of `data` of class `class`, as a dataset of their own.
fn class_images(data: &Dataset, class: u32) -> Result<Dataset> {
    let idx: Vec<usize> = (0..data.len()).filter(|&i| data.labels()[i] == class).collect();
    data.try_subset(&idx)
}

/// Run (or continue) the protocol; returns the report's path.
pub fn run(dev: &Device, args: &ExperimentArgs) -> Result<PathBuf> {
    let rates = args.rates.clone().unwrap_or_else(|| RATES.to_vec());
    if let Some(r) = rates.iter().find(|r| !(r.is_finite() && **r > 0.0 && **r < 1.0)) {
        return Err(Error::invalid(
            "--rates",
            format!("a discard rate must be in (0, 1), got {r}"),
        ));
    }
    let models = args.models.clone().unwrap_or_else(|| MODELS.to_vec());
    if let Some(m) = models.iter().find(|m| !MODELS.contains(m)) {
        return Err(Error::invalid(
            "--models",
            format!("s3vae-discard compares cvae and s3vae; {} is not one of them", m.name()),
        ));
    }
    let class = args.class;
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let cells = rates.len() * models.len() * seeds.len();
    let per_cell = args.budget_minutes.map(|b| b / cells.max(1) as f64);
    let say = |s: String| {
        if !args.quiet {
            println!("{s}");
        }
    };
    let results = args.out.join("results");
    let classifier = |train: &Dataset, test: &Dataset, mode: TrainingData<'_>, seed: u64| {
        let cfg = args.schedule.config(args.classifier_epochs, seed);
        downstream_with(dev, train, test, mode, args.classifier, args.classifier_width, &cfg)
    };

    // (group, rate or None for the full data, seed) → measures.
    let mut table: Vec<(Group, Option<f64>, u64, Measures)> = Vec::new();
    let mut trained = 0;
    let mut cell_dirs = Vec::new();
    for &seed in &seeds {
        let full_cfg = args.data(None, seed);
        let full = full_cfg.training_set()?;
        if class as usize >= full.num_classes() {
            return Err(Error::invalid(
                "--class",
                format!(
                    "class {class} is not among the dataset's {} classes",
                    full.num_classes()
                ),
            ));
        }
        let test = full_cfg.test_set(None, seed)?;
        let full_count = full.class_counts()[class as usize];
        let (m, _) = cached(&results.join(format!("full-s{seed}.toml")), || {
            say(format!("seed {seed}: classifier on the full data"));
            measures(
                &classifier(&full, &test, TrainingData::Imbalanced, seed)?,
                class,
                &full,
                None,
                false,
            )
        })?;
        table.push((Group::Full, None, seed, m));
        for &rate in &rates {
            let recipe = format!("discard:class={class},rate={rate}");
            let data_cfg = args.data(Some(recipe.clone()), seed);
            let discarded = data_cfg.training_set()?;
            let leftover = class_images(&discarded, class)?;
            let tag = format!("r{}-s{seed}", rate_text(rate));
            let (m, _) = cached(&results.join(format!("discarded-{tag}.toml")), || {
                say(format!("{recipe}, seed {seed}: classifier on the discarded data"));
                measures(
                    &classifier(&discarded, &test, TrainingData::Imbalanced, seed)?,
                    class,
                    &discarded,
                    None,
                    false,
                )
            })?;
            table.push((Group::Discarded, Some(rate), seed, m));
            let (m, _) = cached(&results.join(format!("replicated-{tag}.toml")), || {
                say(format!("{recipe}, seed {seed}: classifier with the leftover images ×2"));
                let cm = classifier(&discarded, &test, TrainingData::WithGenerated(&leftover), seed)?;
                measures(&cm, class, &discarded, Some(&leftover), false)
            })?;
            table.push((Group::Replicated, Some(rate), seed, m));
            for &model in &models {
                let dir = args.out.join("cells").join(format!("{}-{tag}", model.name()));
                cell_dirs.push(dir.clone());
                let group = Group::Generated(model);
                let path = results.join(format!("{}-{tag}.toml", group.key()));
                let (m, _) = cached(&path, || {
                    say(format!(
                        "{recipe}, seed {seed}: {} cell {}",
                        model.title(),
                        dir.display()
                    ));
                    let cell = train_cell(dev, args, &dir, model, data_cfg.clone(), seed, per_cell)?;
                    trained += cell.trained as usize;
                    let need = full_count.saturating_sub(leftover.len());
                    let extra = generated(dev, &cell.run, class, need, seed)?;
                    let cm = classifier(&discarded, &test, TrainingData::WithGenerated(&extra), seed)?;
                    measures(&cm, class, &discarded, Some(&extra), cell.cut_short)
                })?;
                table.push((group, Some(rate), seed, m));
            }
        }
    }
    let report = report(args, &rates, &models, &table, per_cell, &cell_dirs)?;
    say(format!(
        "report: {} ({trained} cell{} trained in this call)",
        report.display(),
        if trained == 1 { "" } else { "s" }
    ));
    Ok(report)
}

/// `need` generated images of `class` from the cell's model.
fn generated(dev: &Device, run: &RunDir, class: u32, need: usize, seed: u64) -> Result<Dataset> {
    let cfg = run.read_config()?;
    let (mut model, _) = run.load_model(dev, &cfg)?;
    let (images, labels) = if need > 0 {
        generate_images(model.as_mut(), &[class], need, seed ^ 0x5EB1)?
    } else {
        (Vec::new(), Vec::new())
    };
    let m = &cfg.model;
    Dataset::new(
        images,
        [labels.len(), m.channels, m.image_size, m.image_size],
        labels,
        cfg.class_names,
    )
}

/// The values of one (group, rate) over the seeds, and whether any was cut short.
fn values(
    table: &[(Group, Option<f64>, u64, Measures)],
    group: &Group,
    rate: Option<f64>,
    f: fn(&Measures) -> f64,
) -> (Vec<f64>, bool) {
    let rows: Vec<&Measures> = table
        .iter()
        .filter(|(g, r, _, _)| g == group && (*r == rate || *g == Group::Full))
        .map(|(_, _, _, m)| m)
        .collect();
    (rows.iter().map(|m| f(m)).collect(), rows.iter().any(|m| m.cut_short))
}

fn report(
    args: &ExperimentArgs,
    rates: &[f64],
    models: &[ModelKind],
    table: &[(Group, Option<f64>, u64, Measures)],
    per_cell: Option<f64>,
    cells: &[PathBuf],
) -> Result<PathBuf> {
    let mut groups = vec![Group::Full, Group::Discarded];
    groups.extend(models.iter().map(|&m| Group::Generated(m)));
    groups.push(Group::Replicated);
    let mut md = String::new();
    md.push_str(&format!(
        "# s3vae-discard on {} (class {} reduced)\n\n",
        args.dataset, args.class
    ));
    md.push_str(&format!(
        "- seeds 0..{} ({} in all); discard rates {}; models {}\n- model cells: {}{}\n- downstream classifier: {} \
         (width {}), schedule {}, at most {} epochs; measured on the whole balanced test split\n- grouped F1.5: F_β \
         (β = 1.5) of class {} against the rest, S3VAE's measure\n\n",
        args.seeds,
        args.seeds,
        rates
            .iter()
            .map(|r| format!("{} %", rate_text(*r)))
            .collect::<Vec<_>>()
            .join(", "),
        models.iter().map(|m| m.title()).collect::<Vec<_>>().join(", "),
        match per_cell {
            Some(m) => format!("{m:.1} minutes of training each"),
            None => "trained to their epochs".into(),
        },
        match args.preset {
            Some(p) => format!(", preset {p}"),
            None => String::new(),
        },
        args.classifier.name(),
        args.classifier_width,
        args.schedule.name(),
        args.classifier_epochs,
        args.class
    ));
    let mut any_cut = false;
    for (title, f, digits) in [
        ("Accuracy", (|m: &Measures| m.accuracy) as fn(&Measures) -> f64, 3),
        ("Grouped F1.5 (×100)", |m: &Measures| 100.0 * m.grouped_f1_5, 1),
    ] {
        md.push_str(&format!(
            "## {title}\n\n| group | {} |\n|---|{}\n",
            rates
                .iter()
                .map(|r| format!("{} %", rate_text(*r)))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(rates.len())
        ));
        for g in &groups {
            let cells: Vec<String> = rates
                .iter()
                .map(|&r| {
                    let (v, cut) = values(table, g, Some(r), f);
                    any_cut |= cut;
                    match Spread::of(&v) {
                        Some(s) => format!("{}{}", s.text(digits), if cut { " †" } else { "" }),
                        None => "–".into(),
                    }
                })
                .collect();
            md.push_str(&format!("| {} | {} |\n", g.title(), cells.join(" | ")));
        }
        md.push('\n');
    }
    if any_cut {
        md.push_str("† a model cell of this entry was cut short by its training budget.\n\n");
    }

    md.push_str("## Verdicts\n\n");
    let s3vae = Group::Generated(ModelKind::S3vae);
    let mut claims: Vec<(String, Group)> = Vec::new();
    if models.contains(&ModelKind::S3vae) {
        if models.contains(&ModelKind::Cvae) {
            claims.push((
                "S3VAE's images help more than C-VAE's".into(),
                Group::Generated(ModelKind::Cvae),
            ));
        }
        claims.push((
            "S3VAE's images help more than replicating the leftover images".into(),
            Group::Replicated,
        ));
        claims.push((
            "S3VAE's images help (against the discarded data alone)".into(),
            Group::Discarded,
        ));
    }
    if claims.is_empty() {
        md.push_str("No claim to check without S3VAE among the models.\n\n");
    }
    for (claim, other) in &claims {
        for &r in rates {
            for (name, f) in [
                ("accuracy", (|m: &Measures| m.accuracy) as fn(&Measures) -> f64),
                ("grouped F1.5", |m: &Measures| m.grouped_f1_5),
            ] {
                let (a, cut_a) = values(table, &s3vae, Some(r), f);
                let (b, cut_b) = values(table, other, Some(r), f);
                let (Some(sa), Some(sb)) = (Spread::of(&a), Spread::of(&b)) else {
                    continue;
                };
                let v = compare(sa, sb, true);
                let (seed_list, notes) = provenance(args.seeds, sa, cut_a || cut_b);
                md.push_str(&format!(
                    "- {claim}, {} % discarded, {name}: **{}** ({} against {}{}; seeds {}){}\n",
                    rate_text(r),
                    v.text(),
                    sa.text(4),
                    sb.text(4),
                    match v {
                        Verdict::Holds | Verdict::DoesNotHold => "",
                        Verdict::Inconclusive => ", mean ± std",
                    },
                    seed_list,
                    notes
                ));
            }
        }
    }
    md.push('\n');

    // Accuracy against the discard rate, one line per group.
    let plots = args.out.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
    let series: Vec<Series> = groups
        .iter()
        .map(|g| {
            let points = rates
                .iter()
                .filter_map(|&r| Spread::of(&values(table, g, Some(r), |m| m.accuracy).0).map(|s| (100.0 * r, s.mean)))
                .collect();
            Series::new(g.title(), points)
        })
        .collect();
    match plot_lines(
        &plots.join("accuracy.png"),
        "s3vae-discard: accuracy (mean over seeds)",
        "discarded %",
        &series,
        (900, 500),
    ) {
        Ok(()) => md.push_str("![accuracy against the discard rate](plots/accuracy.png)\n\n"),
        Err(e) => md.push_str(&format!("(no plot: {e})\n\n")),
    }
    md.push_str("## Cells\n\nEach model cell is a run directory (`balgan report --run DIR` works on it):\n\n");
    for c in cells {
        md.push_str(&format!("- `{}`\n", rel(&args.out, c)));
    }
    let path = args.out.join("report.md");
    write_text(&path, &md)?;
    Ok(path)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}
