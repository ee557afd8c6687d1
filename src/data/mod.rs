//! Datasets: loaders (IDX, CIFAR-10 binary, image folders), the imbalance
//! recipes of the published models, a run's data protocol (`config`: which
//! dataset, hold-out, recipe, per-class caps), batching, and image output.
//!
//! # Example
//!
//! A synthetic dataset, made imbalanced by a recipe, then cut into batches.
//!
//! ```
//! use balgan::data::imbalance::Recipe;
//! use balgan::data::{BatchOptions, Batcher, Dataset};
//! use balgan::Device;
//! # fn main() -> balgan::Result<()> {
//! // 12 grey 4×4 images in [-1, 1], 4 of each of 3 classes.
//! let pixels: Vec<f32> = (0..12 * 16).map(|i| (i % 7) as f32 / 3.0 - 1.0).collect();
//! let labels: Vec<u32> = (0..12).map(|i| i % 3).collect();
//! let names = vec!["circle".to_string(), "square".into(), "star".into()];
//! let full = Dataset::new(pixels, [12, 1, 4, 4], labels, names)?;
//! assert_eq!(full.class_counts(), [4, 4, 4]);
//!
//! // IR 2: class 0 keeps its 4 images, every other class ⌊4 / 2⌋ = 2.
//! let recipe: Recipe = "ir:2".parse()?;
//! let train = full.subset(&recipe.select(full.labels(), full.num_classes(), 0)?);
//! assert_eq!(train.class_counts(), [4, 2, 2]);
//!
//! // One shuffled epoch in batches of 3: 8 images make batches of 3, 3 and 2.
//! let dev = Device::new()?;
//! let batcher = Batcher::new(&train, BatchOptions::new(3).seed(1))?;
//! let batches: Vec<_> = batcher.epoch(&dev, 0).collect::<balgan::Result<_>>()?;
//! let sizes: Vec<usize> = batches.iter().map(|(_, labels)| labels.len()).collect();
//! assert_eq!(sizes, [3, 3, 2]);
//! assert_eq!(batches[2].0.shape(), [2, 1, 4, 4]); // images [B, C, H, W]
//! # Ok(()) }
//! ```
pub mod batch;
pub mod cifar;
pub mod config;
pub mod dataset;
pub mod export;
pub mod fashion_mnist;
pub mod folder;
pub mod grid;
pub mod idx;
pub mod imbalance;
pub mod mnist;
pub use batch::{BatchOptions, Batcher, Batches};
pub use cifar::cifar10;
pub use config::{cap_per_class, load, DataConfig, DatasetKind};
pub use dataset::{Dataset, Split};
pub use fashion_mnist::fashion_mnist;
pub use folder::image_folder;
pub use idx::load_idx;
pub use mnist::mnist;
