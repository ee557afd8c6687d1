//! `balgan data summary`: load a dataset and print its per-class counts and
//! imbalance rate, then the counts every imbalance recipe would keep.

use std::path::PathBuf;

use crate::data::dataset::Split;
use crate::data::imbalance::{counts_table, Recipe};
use crate::data::{load, DatasetKind};
use crate::error::{Error, Result};

/// Options of `balgan data summary`.
#[derive(Debug, Clone)]
pub struct SummaryOptions {
    /// `--dataset`: which dataset to load (default fashion-mnist).
    pub dataset: DatasetKind,
    /// Where the files are (required for cifar10 and folder).
    pub data: Option<PathBuf>,
    /// `--split`: the train or the test split (default train).
    pub split: Split,
    /// Square size images from folders are resized to.
    pub size: usize,
    /// Recipes to show; empty: the published ones for this dataset.
    pub recipes: Vec<Recipe>,
    /// `--seed`: seed of each recipe's random selection (default 0).
    pub seed: u64,
}

/// The recipes the papers used on this dataset, in the order they are printed.
pub fn published_recipes(kind: DatasetKind) -> Vec<Recipe> {
    let forms: &[&str] = match kind {
        DatasetKind::FashionMnist => &[
            "ir:5",
            "ir:20",
            "ir:50",
            "ir:100",
            "bagan-gp:fashion-mnist",
            "aggan:fashion-mnist",
            "aggan-pair:5,7,ir=100",
            "step:mu=0.1,rho=20",
            "discard:class=0,rate=0.95",
        ],
        DatasetKind::Mnist => &[
            "aggan:mnist",
            "aggan-pair:5,6,ir=100",
            "cs-acgan:class=0,remove=0.6",
            "cs-acgan:class=0,remove=0.8",
            "cs-acgan:class=0,remove=0.95",
        ],
        DatasetKind::Cifar10 => &[
            "ir:5",
            "ir:20",
            "ir:50",
            "ir:100",
            "bagan-gp:cifar10",
            "aggan:cifar10",
            "discard:class=0,rate=0.95",
        ],
        DatasetKind::Folder => &["ir:5", "ir:20", "ir:50", "ir:100"],
    };
    forms.iter().filter_map(|f| f.parse().ok()).collect()
}

/// Print the dataset's summary and the counts under each recipe. A recipe
/// that is wrong whatever the data is rejected before the dataset is looked
/// for, so the error names the recipe even where the dataset is missing.
pub fn summary(opts: &SummaryOptions) -> Result<()> {
    for r in &opts.recipes {
        r.check()?;
    }
    let ds = load(opts.dataset, opts.data.as_deref(), opts.split, opts.size)?;
    print!("{}", ds.summary());
    let recipes = if opts.recipes.is_empty() {
        published_recipes(opts.dataset)
    } else {
        opts.recipes.clone()
    };
    let available = ds.class_counts();
    let names: Vec<&str> = ds.class_names().iter().map(String::as_str).collect();
    for r in &recipes {
        println!();
        match r.counts(&available) {
            Ok(counts) => {
                // Draw the selection too, so the printed counts are the ones a run gets.
                let kept = r.select(ds.labels(), ds.num_classes(), opts.seed)?;
                let mut drawn = vec![0usize; ds.num_classes()];
                for &i in &kept {
                    drawn[ds.labels()[i] as usize] += 1;
                }
                if drawn != counts {
                    return Err(Error::invalid(
                        "data summary",
                        format!("recipe {r} drew {drawn:?} but planned {counts:?}"),
                    ));
                }
                println!("recipe {r} (seed {}): {} images", opts.seed, kept.len());
                match r.classes() {
                    // A run on this recipe has these classes only, relabelled.
                    Some(classes) => {
                        let names: Vec<&str> = classes.iter().map(|&c| names[c as usize]).collect();
                        let drawn: Vec<usize> = classes.iter().map(|&c| drawn[c as usize]).collect();
                        let was: Vec<String> = classes.iter().map(u32::to_string).collect();
                        println!("{} classes, relabelled from classes {}", classes.len(), was.join(", "));
                        print!("{}", counts_table(&names, &drawn));
                    }
                    None => print!("{}", counts_table(&names, &drawn)),
                }
            }
            // A recipe the user asked for must apply; the default list may skip one.
            Err(e) if opts.recipes.is_empty() => println!("recipe {r}: not applicable here: {e}"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
