//! Measures of generated images and of classifiers trained on rebalanced data:
//! FID (GPU matrix square root), KID, SSIM (windowed and global), and the imbalanced-classification measures.
//!
//! # Example
//!
//! ```
//! use balgan::metrics::classification::ConfusionMatrix;
//! use balgan::metrics::ssim::ssim;
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! // A classifier that favours the majority class 0.
//! let labels = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2];
//! let predictions = [0, 0, 0, 0, 0, 1, 0, 1, 2, 2];
//! let cm = ConfusionMatrix::from_predictions(&labels, &predictions, 3)?;
//! assert_eq!(cm.accuracy(), 0.8);
//! // Recalls 5/6, 1/2 and 1: ACSA is their mean, G-mean their geometric mean.
//! assert!((cm.acsa() - (5.0 / 6.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
//! assert!((cm.g_mean() - (5.0f64 / 12.0).cbrt()).abs() < 1e-12);
//! // F1 = 2·TP / (2·TP + FN + FP): 10/12, 2/4 and 2/2.
//! assert!((cm.macro_f1() - (10.0 / 12.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
//!
//! // The SSIM of an image with itself is 1 (images in [-1, 1]: data range 2).
//! let dev = Device::new()?;
//! let images = Tensor::rand(&dev, &[2, 1, 16, 16], 0)?.affine(2.0, -1.0)?;
//! for s in ssim(&images, &images, 2.0)? {
//!     assert!((s - 1.0).abs() < 1e-5);
//! }
//! # Ok(()) }
//! ```

pub mod classification;
pub mod classifier;
pub mod evaluate;
pub mod fid;
pub mod kid;
pub mod npy;
pub mod sqrtm;
pub mod ssim;
