//! Datasets: loaders (IDX, CIFAR-10 binary, image folders), the imbalance
//! recipes of the published models, batching, and image output.
pub mod batch;
pub mod cifar;
pub mod dataset;
pub mod export;
pub mod fashion_mnist;
pub mod folder;
pub mod grid;
pub mod idx;
pub mod imbalance;
pub use batch::{BatchOptions, Batcher, Batches};
pub use cifar::cifar10;
pub use dataset::{Dataset, Split};
pub use fashion_mnist::fashion_mnist;
pub use folder::image_folder;
pub use idx::load_idx;
