//! Drawing a class's images chunk by chunk, each chunk from a noise stream of
//! its own, so a class's images do not depend on the other classes asked for.

use crate::cli::run::generate_images;
use crate::error::{Error, Result};
use crate::models::BalancingModel;
use crate::tensor::{splitmix64_mix, GOLDEN_GAMMA};

/// Images generated per call of the model.
const CHUNK: usize = 256;

/// `seed`'s stream for chunk `chunk` of class `class` (SplitMix64 finaliser
/// of the three, so nearby seeds give unrelated streams).
fn chunk_seed(seed: u64, class: u32, chunk: u64) -> u64 {
    splitmix64_mix(
        seed ^ (class as u64 + 1).wrapping_mul(GOLDEN_GAMMA) ^ (chunk + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    )
}

/// Generate `count` images of class `class` chunk by chunk; `each` gets every
/// chunk's images ([n, C, S, S] flat, in [−1, 1]), its size and the index of
/// its first image. A chunk for which `need(first, n)` is false is skipped
/// (not drawn); the others come out the same either way.
pub(super) fn stream_class(
    model: &mut dyn BalancingModel,
    class: u32,
    count: usize,
    seed: u64,
    per_image: usize,
    need: impl Fn(usize, usize) -> bool,
    mut each: impl FnMut(&[f32], usize, usize) -> Result<()>,
) -> Result<()> {
    let mut left = count;
    let mut chunk = 0u64;
    while left > 0 {
        let n = left.min(CHUNK);
        let first = count - left;
        if !need(first, n) {
            left -= n;
            chunk += 1;
            continue;
        }
        let (images, _) = generate_images(model, &[class], n, chunk_seed(seed, class, chunk))?;
        if images.len() != n * per_image {
            return Err(Error::invalid(
                "generate",
                format!(
                    "the model made {} values for {n} images of {per_image} values each; the run's config.toml does \
                     not describe its model (was it edited?)",
                    images.len()
                ),
            ));
        }
        each(&images, n, first)?;
        left -= n;
        chunk += 1;
    }
    Ok(())
}
