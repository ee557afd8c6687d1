//! The report's section on an evolving generator (E-GAN, AGGAN): which
//! mutation's offspring won each generation, how often the fittest offspring
//! was worse than its parent and how often AGGAN accepted it anyway, the
//! temperature, and the fitness, from the per-generation columns of
//! `losses.csv` (`winner`, `accepted`, `f_best`, `f_parent`, `f_quality`,
//! `temperature`).

use std::collections::BTreeMap;
use std::path::Path;

use super::plot::{plot_lines, Series};
use crate::error::Result;
use crate::models::{ModelConfig, Mutation};

/// The per-generation columns: plotted here, not among the losses.
pub const COLUMNS: [&str; 7] = [
    "f_best",
    "f_quality",
    "f_diversity",
    "f_parent",
    "winner",
    "accepted",
    "temperature",
];

/// A trailing mean over `window` points of `(x, y)` points.
fn trailing_mean(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, y))| {
            sum += y;
            if i >= window {
                sum -= points[i - window].1;
            }
            (x, sum / (i + 1).min(window) as f64)
        })
        .collect()
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.0} %", 100.0 * part as f64 / whole as f64)
    }
}

/// Writes the section into `md` (and its plots into `plots`) when `curves`
/// (one phase's columns: name → (step, value)) has generations.
pub fn evolution_section(
    curves: &BTreeMap<String, Vec<(f64, f64)>>,
    m: &ModelConfig,
    phase: &str,
    plots: &Path,
    md: &mut String,
) -> Result<()> {
    let Some(winner) = curves.get("winner").filter(|w| !w.is_empty()) else {
        return Ok(());
    };
    let empty = Vec::new();
    let accepted = curves.get("accepted").unwrap_or(&empty);
    let f_best = curves.get("f_best").unwrap_or(&empty);
    let f_parent = curves.get("f_parent").unwrap_or(&empty);
    let temperature = curves.get("temperature").unwrap_or(&empty);
    let n = winner.len();
    let window = (n / 25).max(10);
    let title = m.model.title();
    md.push_str("## Evolution\n\n");
    md.push_str(&format!(
        "{n} generations, each of {} offspring ({}); fitness F = F_q + {}·F_d. Shares below are over the last {window} generations.\n\n",
        m.mutations.len(),
        m.mutations.iter().map(|x| x.name()).collect::<Vec<_>>().join(", "),
        m.fitness_gamma
    ));

    // Which mutation won.
    let mut lines = Vec::new();
    let mut counts = Vec::new();
    for mutation in &m.mutations {
        let id = mutation.index() as f64;
        let hits: Vec<(f64, f64)> = winner.iter().map(|&(s, w)| (s, (w == id) as u8 as f64)).collect();
        counts.push((*mutation, hits.iter().filter(|p| p.1 > 0.0).count()));
        lines.push(Series::new(mutation.name(), trailing_mean(&hits, window)));
    }
    let file = format!("{phase}-objectives.png");
    match plot_lines(
        &plots.join(&file),
        &format!("{title}: share of generations each mutation won"),
        "step",
        &lines,
        (900, 500),
    ) {
        Ok(()) => md.push_str(&format!("![objective selection](plots/{file})\n\n")),
        Err(e) => md.push_str(&format!("(objective selection: no plot: {e})\n\n")),
    }
    let won: Vec<String> = counts
        .iter()
        .map(|(mutation, c): &(Mutation, usize)| format!("{} {} ({})", mutation.name(), c, percent(*c, n)))
        .collect();
    md.push_str(&format!("Generations won: {}.\n\n", won.join(", ")));

    // Acceptance (AGGAN): how often the fittest offspring was worse than its
    // parent, and how often such an offspring was kept.
    if !f_parent.is_empty() {
        let parent: BTreeMap<u64, f64> = f_parent.iter().map(|&(s, v)| (s as u64, v)).collect();
        let kept: BTreeMap<u64, f64> = accepted.iter().map(|&(s, v)| (s as u64, v)).collect();
        let mut worse = Vec::new();
        let mut worse_kept = 0;
        let mut gaps = Vec::new();
        for &(s, best) in f_best {
            let Some(&p) = parent.get(&(s as u64)) else { continue };
            gaps.push((best - p).abs());
            let is_worse = best < p;
            if is_worse && kept.get(&(s as u64)) == Some(&1.0) {
                worse_kept += 1;
            }
            worse.push((s, is_worse as u8 as f64));
        }
        let n_worse = worse.iter().filter(|p| p.1 > 0.0).count();
        let mut lines = vec![
            Series::new("accepted", trailing_mean(accepted, window)),
            Series::new("fittest offspring worse than parent", trailing_mean(&worse, window)),
        ];
        if !temperature.is_empty() {
            lines.push(Series::new(
                "log10 temperature",
                temperature.iter().map(|&(s, t)| (s, t.max(1e-30).log10())).collect(),
            ));
        }
        let file = format!("{phase}-acceptance.png");
        match plot_lines(
            &plots.join(&file),
            &format!("{title}: acceptance and temperature"),
            "step",
            &lines,
            (900, 500),
        ) {
            Ok(()) => md.push_str(&format!("![acceptance](plots/{file})\n\n")),
            Err(e) => md.push_str(&format!("(acceptance: no plot: {e})\n\n")),
        }
        let rejected = accepted.iter().filter(|p| p.1 == 0.0).count();
        let (t_first, t_last) = (
            temperature.first().map(|p| p.1).unwrap_or(f64::NAN),
            temperature.last().map(|p| p.1).unwrap_or(f64::NAN),
        );
        gaps.sort_by(f64::total_cmp);
        let median_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(f64::NAN);
        md.push_str(&format!(
            "The fittest offspring was worse than its parent in {n_worse} of {n} generations ({}); {worse_kept} of those \
             were accepted by the Metropolis criterion and {rejected} rejected (the parent kept). Temperature {t_first:.3} \
             at the first generation, {t_last:.3} at the last; the median gap |F_best − F_parent| was {median_gap:.4}: a \
             worse offspring is rejected with a fair chance only once T has cooled to about that gap.\n\n",
            percent(n_worse, n)
        ));
    }

    // Fitness.
    let mut lines = vec![Series::new("F of the fittest offspring", f_best.clone())];
    if !f_parent.is_empty() {
        lines.push(Series::new("F of the parent", f_parent.clone()));
    }
    if let Some(q) = curves.get("f_quality") {
        lines.push(Series::new("its F_q", q.clone()));
    }
    let file = format!("{phase}-fitness.png");
    match plot_lines(
        &plots.join(&file),
        &format!("{title}: fitness"),
        "step",
        &lines,
        (900, 500),
    ) {
        Ok(()) => md.push_str(&format!("![fitness](plots/{file})\n\n")),
        Err(e) => md.push_str(&format!("(fitness: no plot: {e})\n\n")),
    }
    Ok(())
}
