//! The protocols measured by `balgan eval` on each model cell: every cell is
//! trained ([`super::train_cell`]) and evaluated into its `eval.toml`
//! (cached: a cell whose `eval.toml` is of its checkpoint's step is not
//! measured again; the FID feature extractor, which does not depend on the
//! imbalance, is trained once and shared through the experiment's
//! `extractor/` folder). Then one table per measure (rows: models and
//! baselines; columns: the recipe levels), mean ± std over the seeds, a plot
//! and the verdicts.
//!
//! - `sgbgan-table3` (SGBGAN Table 3): IR 5, 20, 50, 100; DCGAN, BAGAN,
//!   cWGAN-GP, BAGAN-GP, SGBGAN under `--preset sgbgan-paper` (unless
//!   another preset is given); majority and mean-minority FID and KID in
//!   balgan's classifier features, and SSIM. Claim: SGBGAN's mean-minority
//!   FID is the lowest.
//! - `aggan-multiclass` (AGGAN Table V): AGGAN's multi-class counts; the
//!   downstream classifier trained on the imbalanced data (CN), the
//!   duplicated (oversampled) data and the data augmented by ACGAN, E-GAN,
//!   LSGAN, WGAN-GP and AGGAN; ACSA, macro F1, G-mean. Claim: AGGAN's
//!   augmentation beats every other row.
//! - `aggan-pair` (AGGAN Table IV): sandal (positive) against sneaker at IR
//!   10, 50, 100; accuracy; ACGAN, E-GAN, AGGAN and CN. Claim: AGGAN beats
//!   the others.
//! - `cs-acgan-step` (CostSensitive-ACGAN Table 5): class 0 with 60, 80, 95 %
//!   of its images removed; ACGAN, BAGAN, CostSensitive-ACGAN; SSIM among
//!   the class's generated images (diversity: lower is more varied) and the
//!   accuracy on its generated images. Claim: CostSensitive-ACGAN's images
//!   are the most varied.

use std::path::{Path, PathBuf};

use super::verdict::{compare, provenance, Spread};
use super::{train_cell, ExperimentArgs, Protocol};
use crate::cli::eval::{eval, EvalArgs, EvalResults};
use crate::cli::plot::{plot_lines, Series};
use crate::cli::run::{write_text, RunDir};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::{ModelKind, Preset};

/// A number read from one cell's `eval.toml`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// FID of the class with the most training images.
    MajorityFid,
    /// Mean FID over the minority classes.
    MinorityFid,
    /// KID of the class with the most training images.
    MajorityKid,
    /// Mean KID over the minority classes.
    MinorityKid,
    /// Mean SSIM (generated against test images) over the minority classes.
    MinoritySsim,
    /// Of a downstream row: the model's rebalanced data, or a baseline's.
    Acsa,
    /// Macro F1 of a downstream row.
    MacroF1,
    /// G-mean (geometric mean of the per-class recalls) of a downstream row.
    GMean,
    /// Accuracy over the whole test set, of a downstream row.
    Accuracy,
    /// Within-class SSIM of the generated images of the protocol's class.
    Diversity,
    /// Accuracy on the generated images of the protocol's class.
    GeneratedAccuracy,
}

impl Measure {
    fn title(self) -> &'static str {
        match self {
            Measure::MajorityFid => "majority-class FID",
            Measure::MinorityFid => "mean minority-class FID",
            Measure::MajorityKid => "majority-class KID",
            Measure::MinorityKid => "mean minority-class KID",
            Measure::MinoritySsim => "mean minority-class SSIM (generated against test)",
            Measure::Acsa => "ACSA",
            Measure::MacroF1 => "macro F1",
            Measure::GMean => "G-mean",
            Measure::Accuracy => "accuracy",
            Measure::Diversity => "SSIM among the class's generated images (lower is more varied)",
            Measure::GeneratedAccuracy => "accuracy on the class's generated images",
        }
    }

    fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Measure::MajorityFid
                | Measure::MinorityFid
                | Measure::MajorityKid
                | Measure::MinorityKid
                | Measure::Diversity
        )
    }

    fn downstream(self) -> bool {
        matches!(
            self,
            Measure::Acsa | Measure::MacroF1 | Measure::GMean | Measure::Accuracy
        )
    }
}

/// A row of the tables.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Row {
    /// A model's cells (for downstream measures: the classifier on the data rebalanced with its images).
    Model(ModelKind),
    /// The downstream classifier on the imbalanced data (AGGAN's "CN").
    Imbalanced,
    /// ... on the oversampled data.
    Duplicated,
}

impl Row {
    fn title(self) -> String {
        match self {
            Row::Model(m) => m.title().to_string(),
            Row::Imbalanced => "CN (imbalanced data)".into(),
            Row::Duplicated => "duplicated (oversampled)".into(),
        }
    }
}

/// What a protocol runs.
pub struct Spec {
    /// (column label, imbalance recipe).
    pub levels: Vec<(String, String)>,
    /// The model cells trained at each level and seed (the protocol's, or the `--models` subset).
    pub models: Vec<ModelKind>,
    /// Downstream rows measured without a model (from the first model's cells).
    pub baselines: Vec<Row>,
    /// The measures, one table each; the first is also plotted.
    pub measures: Vec<Measure>,
    /// The model whose claim is checked against every other row.
    pub subject: ModelKind,
    /// The class of the per-class measures.
    pub class: u32,
    /// The preset every cell trains under (`sgbgan-table3`: `sgbgan-paper` unless `--preset` names another).
    pub preset: Option<Preset>,
}

/// The protocol's cells and measures for `args`.
pub fn spec(args: &ExperimentArgs) -> Result<Spec> {
    let pick = |all: &[ModelKind]| -> Result<Vec<ModelKind>> {
        match &args.models {
            None => Ok(all.to_vec()),
            Some(m) => match m.iter().find(|k| !all.contains(k)) {
                Some(k) => Err(Error::invalid(
                    "--models",
                    format!(
                        "{} compares {}; {} is not one of them",
                        args.protocol.name(),
                        all.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                        k.name()
                    ),
                )),
                None => Ok(m.clone()),
            },
        }
    };
    let irs = |default: &[f64]| args.irs.clone().unwrap_or_else(|| default.to_vec());
    let ir_label = |r: f64| format!("IR {r}");
    Ok(match args.protocol {
        Protocol::SgbganTable3 => Spec {
            levels: irs(&[5.0, 20.0, 50.0, 100.0])
                .into_iter()
                .map(|r| (ir_label(r), format!("ir:{r}")))
                .collect(),
            models: pick(&[
                ModelKind::Dcgan,
                ModelKind::Bagan,
                ModelKind::CwganGp,
                ModelKind::BaganGp,
                ModelKind::Sgbgan,
            ])?,
            baselines: Vec::new(),
            measures: vec![
                Measure::MajorityFid,
                Measure::MinorityFid,
                Measure::MajorityKid,
                Measure::MinorityKid,
                Measure::MinoritySsim,
            ],
            subject: ModelKind::Sgbgan,
            class: args.class,
            preset: args.preset.or(Some(Preset::SgbganPaper)),
        },
        Protocol::AgganMulticlass => {
            let recipe = match args.dataset.as_str() {
                d @ ("fashion-mnist" | "mnist" | "cifar10") => format!("aggan:{d}"),
                _ => format!("ir:{}", irs(&[100.0])[0]),
            };
            Spec {
                levels: vec![(recipe.clone(), recipe)],
                models: pick(&[
                    ModelKind::Acgan,
                    ModelKind::Egan,
                    ModelKind::Lsgan,
                    ModelKind::WganGp,
                    ModelKind::Aggan,
                ])?,
                baselines: vec![Row::Imbalanced, Row::Duplicated],
                measures: vec![Measure::Acsa, Measure::MacroF1, Measure::GMean],
                subject: ModelKind::Aggan,
                class: args.class,
                preset: args.preset,
            }
        }
        Protocol::AgganPair => Spec {
            levels: irs(&[10.0, 50.0, 100.0])
                .into_iter()
                .map(|r| {
                    (
                        ir_label(r),
                        format!("aggan-pair:{},{},ir={r}", args.pair.0, args.pair.1),
                    )
                })
                .collect(),
            models: pick(&[ModelKind::Acgan, ModelKind::Egan, ModelKind::Aggan])?,
            baselines: vec![Row::Imbalanced],
            measures: vec![Measure::Accuracy],
            subject: ModelKind::Aggan,
            class: 1,
            preset: args.preset,
        },
        Protocol::CsAcganStep => Spec {
            levels: args
                .rates
                .clone()
                .unwrap_or_else(|| vec![0.6, 0.8, 0.95])
                .into_iter()
                .map(|r| {
                    (
                        format!("{} % removed", r * 100.0),
                        format!("cs-acgan:class={},remove={r}", args.class),
                    )
                })
                .collect(),
            models: pick(&[ModelKind::Acgan, ModelKind::Bagan, ModelKind::CsAcgan])?,
            baselines: Vec::new(),
            measures: vec![Measure::Diversity, Measure::GeneratedAccuracy],
            subject: ModelKind::CsAcgan,
            class: args.class,
            preset: args.preset,
        },
        Protocol::S3vaeDiscard => {
            return Err(Error::invalid("experiment", "s3vae-discard has its own runner"));
        }
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The measure of one cell.
fn read(e: &EvalResults, row: Row, m: Measure, class: u32) -> Option<f64> {
    let counts: Vec<usize> = e.classes.iter().map(|c| c.train_images).collect();
    let majority = crate::cli::eval::majority_class(&counts);
    let downstream = |prefix: &str| e.downstream.iter().find(|d| d.training.starts_with(prefix));
    let row_stats = match row {
        Row::Model(_) => downstream("real + generated"),
        Row::Imbalanced => downstream("imbalanced"),
        Row::Duplicated => downstream("oversampled"),
    };
    match m {
        Measure::MajorityFid => majority.and_then(|i| e.classes[i].fid),
        Measure::MinorityFid => e.minority_fid,
        Measure::MajorityKid => majority.and_then(|i| e.classes[i].kid),
        Measure::MinorityKid => e.minority_kid,
        Measure::MinoritySsim => e.minority_ssim,
        Measure::Acsa => row_stats.map(|d| d.acsa),
        Measure::MacroF1 => row_stats.map(|d| d.macro_f1),
        Measure::GMean => row_stats.map(|d| d.g_mean),
        Measure::Accuracy => row_stats.map(|d| d.accuracy),
        Measure::Diversity => e.classes.get(class as usize).and_then(|c| c.within_generated),
        Measure::GeneratedAccuracy => e
            .accuracy_on_generated
            .as_ref()
            .and_then(|a| a.classes.get(class as usize))
            .and_then(|c| c.generated),
    }
}

/// A level's label as a folder name: lower-case letters and digits, runs of
/// anything else one '-' ("95 % removed" → "95-removed").
fn slug(label: &str) -> String {
    let mut out = String::new();
    for c in label.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Copy the extractor files of `from` that `to` lacks.
fn share_extractor(from: &Path, to: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("extractor-") && !to.join(&name).exists() {
            std::fs::copy(e.path(), to.join(&name)).map_err(|err| Error::io(e.path(), err))?;
        }
    }
    Ok(())
}

/// The cell's evaluation: its `eval.toml` when it is of the checkpoint's
/// step, otherwise `balgan eval` with the experiment's settings.
/// `baselines`: also the baseline classifiers (the first model's cell of a
/// level measures them for the whole level).
fn evaluated(
    dev: &Device,
    args: &ExperimentArgs,
    run: &RunDir,
    downstream: bool,
    baselines: bool,
) -> Result<(EvalResults, bool)> {
    let step = crate::nn::Checkpoint::open(run.checkpoint_path())
        .ok()
        .and_then(|c| crate::models::trainer::TrainState::read(&c).ok())
        .map(|st| st.step);
    let eval_args = EvalArgs {
        run: run.root.clone(),
        per_class: Some(args.eval_per_class),
        downstream,
        downstream_epochs: args.classifier_epochs,
        downstream_baselines: baselines,
        downstream_classifier: args.classifier,
        downstream_width: args.classifier_width,
        downstream_schedule: args.schedule,
        quiet: true,
        ..EvalArgs::default()
    };
    if let Some(e) = EvalResults::read(run)? {
        // Reused only when of this checkpoint and made with these settings
        // (another --eval-per-class or --classifier measures again).
        let same = e.settings.as_ref().is_some_and(|s| s.made_with(&eval_args));
        if step.is_none_or(|s| s == e.step) && same {
            return Ok((e, false));
        }
    }
    let shared = args.out.join("extractor");
    share_extractor(&shared, &run.root.join("eval"))?;
    let e = eval(dev, &eval_args)?;
    share_extractor(&run.root.join("eval"), &shared)?;
    Ok((e, true))
}

/// Run (or continue) an eval-measured protocol; returns the report's path.
pub fn run(dev: &Device, args: &ExperimentArgs) -> Result<PathBuf> {
    let spec = spec(args)?;
    let seeds: Vec<u64> = (0..args.seeds).collect();
    let cells = spec.levels.len() * spec.models.len() * seeds.len();
    let per_cell = args.budget_minutes.map(|b| b / cells.max(1) as f64);
    let downstream = spec.measures.iter().any(|m| m.downstream());
    let say = |s: String| {
        if !args.quiet {
            println!("{s}");
        }
    };
    let mut args = args.clone();
    args.preset = spec.preset;
    let mut rows: Vec<Row> = spec.models.iter().map(|&m| Row::Model(m)).collect();
    rows.extend(spec.baselines.iter().copied());
    // (row, level, seed, measure) → value; cut short per (row, level).
    let mut values: Vec<(Row, usize, Measure, f64, bool)> = Vec::new();
    let (mut trained, mut measured) = (0, 0);
    let mut dirs = Vec::new();
    for &seed in &seeds {
        for (li, (label, recipe)) in spec.levels.iter().enumerate() {
            for &model in &spec.models {
                let slug = slug(label);
                let dir = args
                    .out
                    .join("cells")
                    .join(format!("{}-{}-s{seed}", model.name(), slug.to_lowercase()));
                say(format!(
                    "{recipe}, seed {seed}: {} cell {}",
                    model.title(),
                    dir.display()
                ));
                let cell = train_cell(
                    dev,
                    &args,
                    &dir,
                    model,
                    args.data(Some(recipe.clone()), seed),
                    seed,
                    per_cell,
                )?;
                trained += cell.trained as usize;
                let baselines = model == spec.models[0] && !spec.baselines.is_empty();
                let (e, fresh) = evaluated(dev, &args, &cell.run, downstream, baselines)?;
                measured += fresh as usize;
                dirs.push(dir);
                for &m in &spec.measures {
                    if let Some(v) = read(&e, Row::Model(model), m, spec.class) {
                        values.push((Row::Model(model), li, m, v, cell.cut_short));
                    }
                    // The baselines do not depend on the model: the first model's cell measures them.
                    if model == spec.models[0] && m.downstream() {
                        for &b in &spec.baselines {
                            if let Some(v) = read(&e, b, m, spec.class) {
                                values.push((b, li, m, v, false));
                            }
                        }
                    }
                }
            }
        }
    }
    let path = report(&args, &spec, &rows, &values, per_cell, &dirs)?;
    say(format!(
        "report: {} ({trained} cell{} trained and {measured} evaluated in this call)",
        path.display(),
        if trained == 1 { "" } else { "s" }
    ));
    Ok(path)
}

fn report(
    args: &ExperimentArgs,
    spec: &Spec,
    rows: &[Row],
    values: &[(Row, usize, Measure, f64, bool)],
    per_cell: Option<f64>,
    dirs: &[PathBuf],
) -> Result<PathBuf> {
    let get = |row: Row, level: usize, m: Measure| -> (Vec<f64>, bool) {
        let hits: Vec<&(Row, usize, Measure, f64, bool)> = values
            .iter()
            .filter(|(r, l, mm, _, _)| *r == row && *l == level && *mm == m)
            .collect();
        (hits.iter().map(|h| h.3).collect(), hits.iter().any(|h| h.4))
    };
    let mut md = format!("# {} on {}\n\n", args.protocol.name(), args.dataset);
    md.push_str(&format!(
        "- seeds 0..{} ({} in all); levels {}; models {}\n- model cells: {}{}\n- measured by `balgan eval` on {} test \
         images per class (and as many generated), FID and KID in balgan's classifier features (not Inception-v3), \
         {}\n\n",
        args.seeds,
        args.seeds,
        spec.levels.iter().map(|l| l.1.as_str()).collect::<Vec<_>>().join(", "),
        spec.models.iter().map(|m| m.title()).collect::<Vec<_>>().join(", "),
        match per_cell {
            Some(m) => format!("a budget of {m:.1} minutes of training each"),
            None => "trained to their epochs".into(),
        },
        match spec.preset {
            Some(p) => format!(", preset {p}"),
            None => String::new(),
        },
        args.eval_per_class,
        if spec.measures.iter().any(|m| m.downstream()) {
            format!(
                "downstream classifier {} (width {}), schedule {}, at most {} epochs",
                args.classifier.name(),
                args.classifier_width,
                args.schedule.name(),
                args.classifier_epochs
            )
        } else {
            "no downstream classifier (none of the protocol's measures needs one)".to_string()
        },
    ));
    let mut any_cut = false;
    for &m in &spec.measures {
        md.push_str(&format!(
            "## {}\n\n| | {} |\n|---|{}\n",
            capitalised(m.title()),
            spec.levels.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(" | "),
            "---:|".repeat(spec.levels.len())
        ));
        for &row in rows {
            if matches!(row, Row::Imbalanced | Row::Duplicated) && !m.downstream() {
                continue;
            }
            let cells: Vec<String> = (0..spec.levels.len())
                .map(|l| {
                    let (v, cut) = get(row, l, m);
                    any_cut |= cut;
                    match Spread::of(&v) {
                        Some(s) => format!("{}{}", s.text(4), if cut { " †" } else { "" }),
                        None => "–".into(),
                    }
                })
                .collect();
            md.push_str(&format!("| {} | {} |\n", row.title(), cells.join(" | ")));
        }
        md.push('\n');
    }
    if any_cut {
        md.push_str("† a cell of this entry was cut short by its training budget.\n\n");
    }
    md.push_str("## Verdicts\n\n");
    let subject = Row::Model(spec.subject);
    if !rows.contains(&subject) {
        md.push_str(&format!(
            "No claim to check without {} among the models.\n\n",
            spec.subject.title()
        ));
    }
    for &m in &spec.measures {
        for &other in rows.iter().filter(|&&r| r != subject && rows.contains(&subject)) {
            if matches!(other, Row::Imbalanced | Row::Duplicated) && !m.downstream() {
                continue;
            }
            for (l, (label, _)) in spec.levels.iter().enumerate() {
                let ((a, ca), (b, cb)) = (get(subject, l, m), get(other, l, m));
                let (Some(sa), Some(sb)) = (Spread::of(&a), Spread::of(&b)) else {
                    continue;
                };
                let v = compare(sa, sb, m.higher_is_better());
                let (seed_list, notes) = provenance(args.seeds, sa, ca || cb);
                md.push_str(&format!(
                    "- {} {} than {}, {label}, {}: **{}** ({} against {}; seeds {}){}\n",
                    spec.subject.title(),
                    if m.higher_is_better() {
                        "scores higher"
                    } else {
                        "scores lower"
                    },
                    other.title(),
                    m.title(),
                    v.text(),
                    sa.text(4),
                    sb.text(4),
                    seed_list,
                    notes
                ));
            }
        }
    }
    md.push('\n');
    // The first measure against the levels, one line per row.
    let plots = args.out.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
    let m = spec.measures[0];
    let series: Vec<Series> = rows
        .iter()
        .filter(|r| matches!(r, Row::Model(_)) || m.downstream())
        .map(|&r| {
            let pts = (0..spec.levels.len())
                .filter_map(|l| Spread::of(&get(r, l, m).0).map(|s| (l as f64, s.mean)))
                .collect();
            Series::new(r.title(), pts)
        })
        .collect();
    let x = format!(
        "level ({})",
        spec.levels.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(", ")
    );
    match plot_lines(
        &plots.join("measure.png"),
        &format!("{}: {}", args.protocol.name(), m.title()),
        &x,
        &series,
        (900, 500),
    ) {
        Ok(()) => md.push_str(&format!("![{}](plots/measure.png)\n\n", m.title())),
        Err(e) => md.push_str(&format!("(no plot: {e})\n\n")),
    }
    md.push_str(
        "## Cells\n\nEach cell is a run directory with its `eval.toml` (`balgan report --run DIR` works on it):\n\n",
    );
    for d in dirs {
        md.push_str(&format!("- `{}`\n", d.strip_prefix(&args.out).unwrap_or(d).display()));
    }
    let path = args.out.join("report.md");
    write_text(&path, &md)?;
    Ok(path)
}
