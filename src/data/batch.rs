//! Mini-batches of a [`Dataset`] for training: shuffled per epoch from a seed,
//! or class-balanced.
//!
//! The order of epoch `e` depends only on the seed and `e`, so a run resumed
//! at epoch `e` sees the same batches as one that never stopped.
//!
//! - **Shuffled** (default): each epoch is a permutation of all indices, cut
//!   into batches of `batch_size`; every image appears exactly once per epoch.
//!   The last, smaller batch is kept unless `drop_last` is set.
//! - **In order** (`shuffle = false`): as above without the permutation.
//! - **Class-balanced** (`balanced = true`): each sample first draws a class
//!   uniformly among the classes that have images, then an image of that
//!   class uniformly — with replacement, so minority images repeat within an
//!   epoch and majority images may be missed. An epoch is still `len()`
//!   samples, so it has as many batches as an unbalanced one.

use super::dataset::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{HostRng, IndexTensor, Tensor};

/// How [`Batcher`] cuts a dataset into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// Images per batch (at least 1).
    pub batch_size: usize,
    /// Permute the images every epoch (ignored when `balanced`).
    pub shuffle: bool,
    /// Drop the last batch of an epoch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Draw every class with equal probability, with replacement within the class.
    pub balanced: bool,
    /// Seed of the host random stream; with the epoch number it fixes every batch.
    pub seed: u64,
}

impl BatchOptions {
    /// Shuffled batches of `batch_size`, last partial batch kept, seed 0.
    pub fn new(batch_size: usize) -> BatchOptions {
        BatchOptions {
            batch_size,
            shuffle: true,
            drop_last: false,
            balanced: false,
            seed: 0,
        }
    }

    /// With this seed.
    pub fn seed(mut self, seed: u64) -> BatchOptions {
        self.seed = seed;
        self
    }

    /// Shuffled (`true`) or in dataset order (`false`).
    pub fn shuffle(mut self, shuffle: bool) -> BatchOptions {
        self.shuffle = shuffle;
        self
    }

    /// Drop (`true`) or keep (`false`) the last partial batch.
    pub fn drop_last(mut self, drop_last: bool) -> BatchOptions {
        self.drop_last = drop_last;
        self
    }

    /// Class-balanced sampling on (`true`) or off.
    pub fn balanced(mut self, balanced: bool) -> BatchOptions {
        self.balanced = balanced;
        self
    }
}

/// Cuts a dataset into mini-batches, epoch by epoch.
pub struct Batcher<'a> {
    data: &'a Dataset,
    opts: BatchOptions,
    classes: Vec<Vec<usize>>,
}

impl<'a> Batcher<'a> {
    /// A batcher over `data`. Fails for a batch size of 0 or a dataset with no images.
    pub fn new(data: &'a Dataset, opts: BatchOptions) -> Result<Batcher<'a>> {
        if opts.batch_size == 0 {
            return Err(Error::invalid("Batcher", "the batch size must be at least 1"));
        }
        if data.is_empty() {
            return Err(Error::invalid("Batcher", "the dataset has no images"));
        }
        let classes = if opts.balanced {
            data.class_indices().into_iter().filter(|c| !c.is_empty()).collect()
        } else {
            Vec::new()
        };
        Ok(Batcher { data, opts, classes })
    }

    /// The options.
    pub fn options(&self) -> BatchOptions {
        self.opts
    }

    /// The dataset.
    pub fn dataset(&self) -> &'a Dataset {
        self.data
    }

    /// Number of batches in every epoch.
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.data.len(), self.opts.batch_size);
        if self.opts.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The dataset indices of every batch of epoch `epoch`, in order.
    pub fn epoch_indices(&self, epoch: u64) -> Vec<Vec<usize>> {
        let n = self.data.len();
        let mut rng = HostRng::for_epoch(self.opts.seed, epoch);
        let order: Vec<usize> = if self.opts.balanced {
            (0..n)
                .map(|_| {
                    let class = &self.classes[rng.below(self.classes.len())];
                    class[rng.below(class.len())]
                })
                .collect()
        } else if self.opts.shuffle {
            let mut order: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut order);
            order
        } else {
            (0..n).collect()
        };
        order
            .chunks(self.opts.batch_size)
            .take(self.batches_per_epoch())
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// The batches of epoch `epoch`, uploaded to `dev` one at a time.
    pub fn epoch<'b>(&'b self, dev: &'b Device, epoch: u64) -> Batches<'b> {
        Batches {
            data: self.data,
            dev,
            batches: self.epoch_indices(epoch).into_iter(),
        }
    }
}

/// The batches of one epoch: `(images [B, C, H, W], labels [B])` on the device.
pub struct Batches<'a> {
    data: &'a Dataset,
    dev: &'a Device,
    batches: std::vec::IntoIter<Vec<usize>>,
}

impl Batches<'_> {
    /// The next batch together with its dataset indices.
    pub fn next_with_indices(&mut self) -> Option<Result<(Tensor, IndexTensor, Vec<usize>)>> {
        let idx = self.batches.next()?;
        Some(
            self.data
                .to_tensor(self.dev, &idx)
                .and_then(|x| Ok((x, self.data.labels_to_device(self.dev, &idx)?, idx))),
        )
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<(Tensor, IndexTensor)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_indices().map(|r| r.map(|(x, y, _)| (x, y)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.batches.size_hint()
    }
}

impl ExactSizeIterator for Batches<'_> {}
