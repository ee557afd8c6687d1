//! Which images are kept: the seeded per-class draw shared by
//! [`Recipe::select`](super::Recipe::select) and [`balanced`].

use super::class_counts;
use crate::error::{Error, Result};
use crate::tensor::{HostRng, GOLDEN_GAMMA};

/// A balanced subset: `per_class` images of every class 0..K, K = the largest
/// label + 1, drawn from `seed` as [`Recipe::select`](super::Recipe::select) draws them. Sorted
/// indices. Errors when a class has fewer than `per_class` images (a class
/// between 0 and the largest label with no image at all included), when
/// `per_class` is 0, or when `labels` is empty.
pub fn balanced(labels: &[u32], per_class: usize, seed: u64) -> Result<Vec<usize>> {
    let Some(&max) = labels.iter().max() else {
        return Err(Error::invalid("balanced subset", "there are no labels"));
    };
    if per_class == 0 {
        return Err(Error::invalid("balanced subset", "per_class must be at least 1"));
    }
    let k = max as usize + 1;
    let by_class = group_by_class(labels, k)?;
    for (c, idx) in by_class.iter().enumerate() {
        if idx.len() < per_class {
            return Err(Error::invalid(
                "balanced subset",
                format!(
                    "class {c} has {} images but {per_class} per class were asked",
                    idx.len()
                ),
            ));
        }
    }
    Ok(draw(by_class, &vec![per_class; k], seed))
}

pub(super) fn group_by_class(labels: &[u32], num_classes: usize) -> Result<Vec<Vec<usize>>> {
    let counts = class_counts(labels, num_classes)?;
    let mut by_class: Vec<Vec<usize>> = counts.iter().map(|&n| Vec::with_capacity(n)).collect();
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    Ok(by_class)
}

/// Keeps `counts[c]` indices of each class: the first ones of a Fisher–Yates
/// shuffle seeded per class (only the first `counts[c]` positions are drawn).
pub(super) fn draw(by_class: Vec<Vec<usize>>, counts: &[usize], seed: u64) -> Vec<usize> {
    let mut kept = Vec::with_capacity(counts.iter().sum());
    for (c, mut idx) in by_class.into_iter().enumerate() {
        let want = counts[c];
        if want < idx.len() {
            let mut rng = HostRng::new(seed ^ (c as u64 + 1).wrapping_mul(GOLDEN_GAMMA));
            kept.extend(rng.choose(idx.len(), want).into_iter().map(|i| idx[i]));
        } else {
            kept.append(&mut idx);
        }
    }
    kept.sort_unstable();
    kept
}
