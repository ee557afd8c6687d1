//! `balgan report --run RUN`: `RUN/report.md`, leading with the at-a-glance
//! table (per-class accuracy on generated images, FID, KID; see
//! [`super::glance`]) and the sample grid, then what was trained, how the
//! training went (phases, steps, time, whether a budget cut it short), the
//! per-class FID/KID/SSIM, accuracy-on-generated-images and downstream tables
//! (with per-class precision, recall, F1 and F1.5) of `balgan eval`, the final sample
//! grid and the loss curves as PNG plots (`RUN/plots/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::eval::{table, EvalResults};
use super::evolution_report::{evolution_section, COLUMNS as EVOLUTION_COLUMNS};
use super::glance::glance_table;
use super::plot::{plot_lines, Series};
use super::run::{write_text, RunDir};
use super::train::History;
use crate::device::Device;
use crate::error::{Error, Result};

/// Loss columns of `losses.csv`, per phase: phase → (column → points).
type Curves = BTreeMap<String, BTreeMap<String, Vec<(f64, f64)>>>;

/// The values models log per epoch (`epochs.csv`), by phase, then by the
/// name's prefix (`w` of `w3`, CostSensitive-ACGAN's class weights), then
/// one series per name of epoch → value. A re-run epoch end (a resume from a
/// checkpoint written before it) keeps its last value.
type EpochValues = BTreeMap<String, BTreeMap<String, BTreeMap<String, BTreeMap<u64, f64>>>>;

fn read_epoch_values(run: &RunDir) -> EpochValues {
    let mut out = EpochValues::new();
    let Ok(text) = std::fs::read_to_string(run.epochs_path()) else {
        return out;
    };
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(phase), Some(epoch), Some(name), Some(value)) = (
            f.first(),
            f.get(1).and_then(|e| e.parse::<u64>().ok()),
            f.get(2),
            f.get(3).and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let group = name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        out.entry(phase.to_string())
            .or_default()
            .entry(group)
            .or_default()
            .entry(name.to_string())
            .or_default()
            .insert(epoch, value);
    }
    out
}

/// What the per-epoch groups mean, for the report.
fn epoch_group_title(group: &str) -> &str {
    match group {
        "w" => "class weights w_c (CostSensitive-ACGAN: softmax of the errors)",
        "error" => "error of the discriminator's class head per class (1 − recall on the class's training images)",
        other => other,
    }
}

/// A plot per group of per-epoch values, one line per class (named from
/// `class_names` where the name ends in a class index).
fn epoch_values_section(run: &RunDir, title: &str, class_names: &[String], md: &mut String) -> Result<()> {
    let values = read_epoch_values(run);
    if values.is_empty() {
        return Ok(());
    }
    md.push_str("## Per-epoch values\n\n");
    for (phase, groups) in &values {
        for (group, series) in groups {
            let mut series: Vec<(&String, &BTreeMap<u64, f64>)> = series.iter().collect();
            // w2 before w10.
            series.sort_by_key(|(n, _)| (n.len(), n.to_string()));
            let label = |name: &str| {
                let index = name.trim_start_matches(group.as_str());
                match index.parse::<usize>().ok().and_then(|c| class_names.get(c)) {
                    Some(class) => class.clone(),
                    None => index.to_string(),
                }
            };
            let lines: Vec<Series> = series
                .iter()
                .map(|(name, pts)| Series {
                    name: label(name),
                    points: pts.iter().map(|(&e, &v)| (e as f64, v)).collect(),
                })
                .collect();
            let file = format!("{phase}-{group}.png");
            md.push_str(&format!(
                "{}, by class, after each {phase} epoch:\n\n",
                epoch_group_title(group)
            ));
            match plot_lines(
                &run.plots_dir().join(&file),
                &format!("{title} — {group} per epoch"),
                "epoch",
                &lines,
                (900, 500),
            ) {
                Ok(()) => md.push_str(&format!("![{phase} {group}](plots/{file})\n\n")),
                Err(e) => md.push_str(&format!("({phase} {group}: no plot: {e})\n\n")),
            }
            if let Some(last) = series.iter().map(|(_, p)| p.keys().max().copied()).max().flatten() {
                let row: Vec<String> = series
                    .iter()
                    .map(|(n, p)| format!("{} {:.3}", label(n), p.get(&last).copied().unwrap_or(f64::NAN)))
                    .collect();
                md.push_str(&format!("After epoch {last}: {}.\n\n", row.join(", ")));
            }
        }
    }
    Ok(())
}

fn read_curves(run: &RunDir) -> Result<(Vec<String>, Curves)> {
    let path = run.losses_path();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok((Vec::new(), Curves::new()));
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    if header.len() < 4 || header[0] != "step" {
        return Err(Error::invalid(
            "report",
            format!("{}: not a balgan loss log (header {:?})", path.display(), header),
        ));
    }
    let mut order = Vec::new();
    let mut curves = Curves::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let Some(step) = f.first().and_then(|s| s.parse::<f64>().ok()) else {
            continue;
        };
        let phase = f.get(1).copied().unwrap_or("").to_string();
        if !order.contains(&phase) {
            order.push(phase.clone());
        }
        let entry = curves.entry(phase).or_default();
        for (name, v) in header.iter().zip(&f).skip(3) {
            if let Ok(v) = v.parse::<f64>() {
                entry.entry(name.to_string()).or_default().push((step, v));
            }
        }
    }
    Ok((order, curves))
}

/// The settings `balgan eval` ran with, as a list.
fn settings_text(e: &EvalResults) -> String {
    let Some(s) = &e.settings else {
        return "Evaluation settings: not recorded (eval.toml predates them; run `balgan eval` again).\n\n".to_string();
    };
    let per_class = if s.per_class == 0 {
        "all".to_string()
    } else {
        s.per_class.to_string()
    };
    let downstream = if s.downstream {
        let net = match (&s.downstream_classifier, s.downstream_width, &s.downstream_schedule) {
            (Some(c), Some(w), Some(sch)) => format!(" ({c}, width {w}, schedule {sch})"),
            _ => String::new(),
        };
        format!("{} epochs per classifier{net}", s.downstream_epochs)
    } else {
        "skipped (--no-downstream)".to_string()
    };
    let kid = if s.kid_subsets > 0 {
        format!("; KID over {} subsets of ≤ {} images", s.kid_subsets, s.kid_max_subset)
    } else {
        String::new()
    };
    format!(
        "Evaluation settings: {} checkpoint `{}` at step {}; test images per class {per_class}; feature extractor \
         from ≤ {} training images per class, {} epochs of batch {} (`eval/{}`); downstream classifiers {downstream}{kid}; seed {}.\n\n",
        s.model, s.checkpoint, s.step, s.extractor_per_class,
        s.extractor_epochs,
        s.extractor_batch.unwrap_or(crate::cli::eval::EXTRACTOR_BATCH),
        s.extractor_file, s.seed
    )
}

const SAMPLES_CAPTION: &str = "Samples from the last checkpoint, one row per class (top: class 0).\n\n";

fn minutes(s: f64) -> String {
    format!("{:.1} min", s / 60.0)
}

/// Write `report.md` (and its plots); returns its path. The run's
/// `config.toml` must still describe its checkpoint (the model is built from
/// it and the checkpoint loaded, as `generate` and `eval` do), so an edited
/// configuration is refused rather than described.
pub fn report(dev: &Device, run_dir: &std::path::Path, quiet: bool) -> Result<PathBuf> {
    let run = RunDir::open(run_dir)?;
    let cfg = run.read_config()?;
    let mut checkpoint_step = None;
    if run.checkpoint_path().is_file() {
        let (_, state) = run.load_model(dev, &cfg).map_err(|e| {
            Error::invalid(
                "report",
                format!(
                    "{} does not describe the checkpoint {}: {e}. Was config.toml edited after training? \
                     Restore the [model] section the run was trained with",
                    run.config_path().display(),
                    run.checkpoint_path().display()
                ),
            )
        })?;
        checkpoint_step = Some(state.step);
    }
    let history = History::read(&run);
    let eval = EvalResults::read(&run)?;
    let m = &cfg.model;
    let mut md = String::new();
    md.push_str(&format!(
        "# {} on {} ({})\n\n",
        m.model.title(),
        cfg.data.dataset,
        cfg.data.imbalance.as_deref().unwrap_or("as is")
    ));
    let adapter = std::fs::read_to_string(run.adapter_path()).unwrap_or_default();
    md.push_str(&format!(
        "- adapter: {}\n- images {}×{}×{}, {} classes; batch {}, latent {}, seed {}\n",
        adapter.trim(),
        m.channels,
        m.image_size,
        m.image_size,
        m.classes,
        m.batch,
        m.latent,
        cfg.train.seed
    ));
    md.push_str(&format!(
        "- optimiser: pre-training Adam lr {} (β {}, {}); G lr {}, D lr {} (β {}, {}); critic updates per G update {} \
         (critic schedule {}); gradient-penalty weight {}\n",
        m.ae_lr,
        m.ae_beta1,
        m.ae_beta2,
        m.g_lr,
        m.d_lr,
        m.beta1,
        m.beta2,
        m.n_critic,
        m.critic_schedule.name(),
        m.gp_weight
    ));
    if let Some(p) = cfg.preset {
        md.push_str(&format!(
            "- settings from the preset `{p}`, then the run's own overrides\n"
        ));
    }
    md.push_str(&format!("- configuration: `{}`\n\n", run.config_path().display()));

    md.push_str("## At a glance\n\n");
    match &eval {
        Some(e) => {
            md.push_str(&glance_table(e));
            md.push('\n');
        }
        None => md.push_str(&format!(
            "Not measured yet: run `balgan eval --run {}`, then `balgan report` again.\n\n",
            run.root.display()
        )),
    }
    md.push_str(SAMPLES_CAPTION);
    let grid = run.samples_dir().join("final.png");
    if grid.is_file() {
        md.push_str("![samples](samples/final.png)\n\n");
    } else {
        md.push_str("No sample grid yet.\n\n");
    }

    md.push_str("## Training\n\n");
    if history.phases.is_empty() {
        md.push_str("No phase has finished yet.\n\n");
    } else {
        md.push_str(
            "| phase | epochs | batches | critic updates | generator updates | time | note |\n\
             |---|---:|---:|---:|---:|---:|---|\n",
        );
        for p in &history.phases {
            // A history written before the counts existed: from the schedule.
            let (critic, generator) = if p.critic_updates == 0 && p.generator_updates == 0 {
                m.adversarial_updates(p.steps)
            } else {
                (p.critic_updates, p.generator_updates)
            };
            let count = |n: u64| {
                if p.name == "adversarial" {
                    n.to_string()
                } else {
                    "–".into()
                }
            };
            md.push_str(&format!(
                "| {} | {}/{} | {} | {} | {} | {} | {} |\n",
                p.name,
                p.epochs_completed,
                p.epochs_planned,
                p.steps,
                count(critic),
                count(generator),
                minutes(p.seconds),
                p.cut_short.as_deref().unwrap_or("")
            ));
        }
        md.push('\n');
    }
    if let Some(s) = &history.stopped {
        md.push_str(&format!("Training stopped: {s}.\n\n"));
    } else if history.finished {
        md.push_str(&format!("Training finished after {} batches.\n\n", history.steps));
    }
    if !history.events.is_empty() {
        md.push_str("Worth knowing about this run:\n\n");
        for e in &history.events {
            md.push_str(&format!("- ⚠ {e}\n"));
        }
        md.push('\n');
    }

    md.push_str("## Per-class quality in full\n\n");
    match &eval {
        Some(e) => {
            md.push_str(&format!(
                "Checkpoint step {}. FID in {}: comparable only with other balgan runs, not with Inception-v3 FIDs. \
                 KID in the same features: the unbiased MMD² with the cubic polynomial kernel (xᵀy/d + 1)³, \
                 mean ± standard deviation over random subsets (as torchmetrics and clean-fid), the subset size \
                 in brackets (1000, or fewer when the class has fewer test or generated images; with as many \
                 images as the subset every subset is the whole class and the deviation is 0); unlike FID it is \
                 not biased at small sample sizes, and can be slightly negative. \
                 SSIM as `tf.image.ssim` (11×11 Gaussian window, σ 1.5) between generated and test images of \
                 the class, on images mapped to [0, 1] with data range 1, as published SSIMs are; SSIM global \
                 is SGBGAN's eq. 13 (one mean, variance and covariance per image, no window) over the same \
                 pairs. Within-class SSIM \
                 is the mean SSIM between pairs of different images of one class, a diversity measure (lower \
                 is more varied), for the generated and for the real test images; ⚠ marks a class whose \
                 generated images are much more alike than the real ones (possible mode collapse).\n\n",
                e.step, e.features
            ));
            if let Some(now) = checkpoint_step.filter(|&now| now != e.step) {
                md.push_str(&format!(
                    "⚠ These numbers are of step {}, but the checkpoint is now at step {now}: run `balgan eval --run {}` \
                     again to measure it.\n\n",
                    e.step,
                    run.root.display()
                ));
            }
            md.push_str(&table(e));
            md.push('\n');
            md.push_str(&settings_text(e));
        }
        None => md.push_str(&format!(
            "Not measured yet: run `balgan eval --run {}`, then `balgan report` again.\n\n",
            run.root.display()
        )),
    }

    md.push_str("## Losses\n\n");
    let (order, curves) = read_curves(&run)?;
    std::fs::create_dir_all(run.plots_dir()).map_err(|e| Error::io(run.plots_dir(), e))?;
    for phase in &order {
        let series: Vec<Series> = curves[phase]
            .iter()
            .filter(|(name, _)| !EVOLUTION_COLUMNS.contains(&name.as_str()))
            .map(|(name, pts)| Series {
                name: name.clone(),
                points: pts.clone(),
            })
            .collect();
        let file = format!("{phase}-losses.png");
        match plot_lines(
            &run.plots_dir().join(&file),
            &format!("{} — {phase}", m.model.title()),
            "step",
            &series,
            (900, 500),
        ) {
            Ok(()) => md.push_str(&format!("![{phase} losses](plots/{file})\n\n")),
            Err(e) => md.push_str(&format!("({phase}: no plot: {e})\n\n")),
        }
    }
    if order.is_empty() {
        md.push_str("No losses logged yet.\n");
    }
    for phase in &order {
        evolution_section(&curves[phase], m, phase, &run.plots_dir(), &mut md)?;
    }
    epoch_values_section(&run, m.model.title(), &cfg.class_names, &mut md)?;
    write_text(&run.report_path(), &md)?;
    if !quiet {
        println!("report: {}", run.report_path().display());
    }
    Ok(run.report_path())
}
