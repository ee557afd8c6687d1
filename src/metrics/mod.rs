//! Measures of generated images and of classifiers trained on rebalanced data:
//! FID (GPU matrix square root), KID, SSIM (windowed and global), and the imbalanced-classification measures.

pub mod classification;
pub mod classifier;
pub mod evaluate;
pub mod fid;
pub mod kid;
pub mod npy;
pub mod sqrtm;
pub mod ssim;
