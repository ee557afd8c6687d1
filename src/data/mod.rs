//! Datasets: loaders (IDX, CIFAR-10 binary, image folders), the imbalance
//! recipes of the published models, a run's data protocol (`config`: which
//! dataset, hold-out, recipe, per-class caps), batching, and image output.
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
