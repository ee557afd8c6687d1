//! The representative images of each class that S3VAE's single-sample
//! sampling trains on: per class, the medoids in pixel space, the images
//! whose summed squared distance to the class's other images is smallest
//! (the paper asks for a sample with "similar qualities to the majority of
//! images in that class"; a medoid is such an image that exists, where a
//! class mean is a blur of many). The distances are taken over a seeded
//! subsample of at most [`MEDOID_POOL`] images per class, in f64.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::tensor::HostRng;

/// Images per class the medoid is searched among (the search is quadratic).
pub const MEDOID_POOL: usize = 512;

/// For each class, `per_class` indices into `data`: its most central
/// images, most central first. A class with fewer images than `per_class`
/// repeats them in that order; a class without images is an error.
pub fn class_medoids(data: &Dataset, per_class: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if per_class == 0 {
        return Err(Error::invalid(
            "representatives",
            "single-sample sampling needs at least one representative image per class",
        ));
    }
    let d = data.image_len();
    let mut out = Vec::with_capacity(data.num_classes());
    for (c, members) in data.class_indices().into_iter().enumerate() {
        if members.is_empty() {
            return Err(Error::invalid(
                "representatives",
                format!(
                    "class {c} ({}) has no training images, so it has no representative to train on; \
                     give it images or leave it out",
                    data.class_names().get(c).map(String::as_str).unwrap_or("?")
                ),
            ));
        }
        let mut rng = HostRng::for_epoch(seed ^ 0x5E1E_C7ED, c as u64);
        let pool: Vec<usize> = if members.len() > MEDOID_POOL {
            rng.choose(members.len(), MEDOID_POOL)
                .into_iter()
                .map(|i| members[i])
                .collect()
        } else {
            members.clone()
        };
        let mut cost = vec![0.0f64; pool.len()];
        for i in 0..pool.len() {
            let a = data.image(pool[i]);
            for j in i + 1..pool.len() {
                let b = data.image(pool[j]);
                let dist: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
                cost[i] += dist;
                cost[j] += dist;
            }
        }
        debug_assert_eq!(d, data.image(pool[0]).len());
        let mut order: Vec<usize> = (0..pool.len()).collect();
        // Ties by index, so the choice does not depend on the sort.
        order.sort_by(|&i, &j| cost[i].total_cmp(&cost[j]).then(pool[i].cmp(&pool[j])));
        out.push((0..per_class).map(|k| pool[order[k % order.len()]]).collect());
    }
    Ok(out)
}
