//! `Dataset`: labelled images held on the host as f32 in [-1, 1], NCHW.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{IndexTensor, Tensor};

/// Which part of a dataset to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training images.
    Train,
    /// The held-out test images.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = Error;

    /// Parses `train` or `test` (`t10k` is accepted for the test split).
    fn from_str(s: &str) -> Result<Split> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" | "t10k" => Ok(Split::Test),
            other => Err(Error::invalid(
                "split",
                format!("unknown split '{other}'; use 'train' or 'test'"),
            )),
        }
    }
}

/// Scales an 8-bit pixel to [-1, 1] as the published code does: (x − 127.5) / 127.5.
#[inline]
pub fn scale_pixel(x: u8) -> f32 {
    (x as f32 - 127.5) / 127.5
}

/// Labelled images on the host.
///
/// Pixels are f32 in [-1, 1] ((x − 127.5) / 127.5 of the 8-bit value), stored
/// row-major as `[N, C, H, W]`. Every label is below `num_classes()`, which is
/// the number of class names.
#[derive(Clone, Debug)]
pub struct Dataset {
    name: String,
    images: Vec<f32>,
    labels: Vec<u32>,
    class_names: Vec<String>,
    channels: usize,
    height: usize,
    width: usize,
}

impl Dataset {
    /// A dataset from pixels already scaled to [-1, 1], `shape = [N, C, H, W]`.
    ///
    /// Fails when the pixel count does not match the shape, when there is not
    /// one label per image, when a label is not below the number of class
    /// names, or when there are no class names.
    pub fn new(images: Vec<f32>, shape: [usize; 4], labels: Vec<u32>, class_names: Vec<String>) -> Result<Dataset> {
        let [n, c, h, w] = shape;
        let expect = n
            .checked_mul(c)
            .and_then(|v| v.checked_mul(h))
            .and_then(|v| v.checked_mul(w))
            .ok_or_else(|| Error::invalid("Dataset", format!("shape {shape:?} is too large")))?;
        if images.len() != expect {
            return Err(Error::invalid(
                "Dataset",
                format!("shape {shape:?} needs {expect} pixels but {} were given", images.len()),
            ));
        }
        if labels.len() != n {
            return Err(Error::invalid(
                "Dataset",
                format!(
                    "{n} images but {} labels; every image needs exactly one label",
                    labels.len()
                ),
            ));
        }
        if class_names.is_empty() {
            return Err(Error::invalid("Dataset", "no class names were given"));
        }
        if c == 0 || h == 0 || w == 0 {
            return Err(Error::invalid(
                "Dataset",
                format!("image shape {:?} has a zero side", [c, h, w]),
            ));
        }
        if let Some((i, &l)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= class_names.len())
        {
            return Err(Error::invalid(
                "Dataset",
                format!(
                    "label {l} of image {i} is not below the number of classes ({})",
                    class_names.len()
                ),
            ));
        }
        Ok(Dataset {
            name: String::new(),
            images,
            labels,
            class_names,
            channels: c,
            height: h,
            width: w,
        })
    }

    /// The same images resized to `size`×`size` (bilinear, `cv2.INTER_LINEAR`'s
    /// sampling, as BAGAN-GP and SGBGAN resize every dataset to 64×64); a copy
    /// when the images already have that size.
    pub fn resized(&self, size: usize) -> Result<Dataset> {
        if size == 0 {
            return Err(Error::invalid("Dataset::resized", "the size must be at least 1"));
        }
        if self.height == size && self.width == size {
            return Ok(self.clone());
        }
        check_host_memory(
            "resizing the images",
            &[self.len(), self.channels, size, size],
            "a smaller --image-size",
        )?;
        let mut images = Vec::with_capacity(self.len() * self.channels * size * size);
        for i in 0..self.len() {
            images.extend(super::folder::resize_bilinear_f32(
                self.image(i),
                self.channels,
                self.height,
                self.width,
                size,
            ));
        }
        let shape = [self.len(), self.channels, size, size];
        Ok(Dataset::new(images, shape, self.labels.clone(), self.class_names.clone())?.with_name(self.name.clone()))
    }

    /// A dataset from 8-bit pixels (`[N, C, H, W]`), scaled with [`scale_pixel`].
    pub fn from_u8(pixels: &[u8], shape: [usize; 4], labels: Vec<u32>, class_names: Vec<String>) -> Result<Dataset> {
        Dataset::new(
            pixels.iter().map(|&p| scale_pixel(p)).collect(),
            shape,
            labels,
            class_names,
        )
    }

    /// The same dataset with a display name (shown by [`Dataset::summary`]).
    pub fn with_name(mut self, name: impl Into<String>) -> Dataset {
        self.name = name.into();
        self
    }

    /// The display name ("" when none was given).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes (the number of class names; a class may have no images).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Channels per image (1 for grey, 3 for RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [self.len(), self.channels, self.height, self.width]
    }

    /// Values per image, `C·H·W`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// All pixels, `[N, C, H, W]` row-major, in [-1, 1].
    pub fn images(&self) -> &[f32] {
        &self.images
    }

    /// The pixels of image `i` (`[C, H, W]`).
    ///
    /// # Panics
    /// When `i >= len()`, as slice indexing does.
    pub fn image(&self, i: usize) -> &[f32] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// One label per image.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// Class names; label `k` names `class_names()[k]`.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of images of each class (length `num_classes()`, zeros included).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.num_classes()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// Indices of the images of each class, in dataset order.
    pub fn class_indices(&self) -> Vec<Vec<usize>> {
        let mut by_class = vec![Vec::new(); self.num_classes()];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        by_class
    }

    /// The imbalance rate: the largest class count divided by the smallest.
    ///
    /// A class with no images makes the rate `f64::INFINITY` (its minority is
    /// unbounded); so does a dataset with no images. A balanced dataset gives 1.
    pub fn imbalance_rate(&self) -> f64 {
        let counts = self.class_counts();
        let max = counts.iter().copied().max().unwrap_or(0);
        let min = counts.iter().copied().min().unwrap_or(0);
        if min == 0 {
            f64::INFINITY
        } else {
            max as f64 / min as f64
        }
    }

    /// The images at `indices` (in that order, repeats allowed), with the same
    /// class names and name.
    ///
    /// # Panics
    /// When an index is out of range, as slice indexing does; use
    /// [`Dataset::try_subset`] for indices that come from outside the program.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        match self.try_subset(indices) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`Dataset::subset`], with an error for an out-of-range index.
    pub fn try_subset(&self, indices: &[usize]) -> Result<Dataset> {
        self.check_indices("Dataset::subset", indices)?;
        let n = self.image_len();
        let mut images = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Ok(Dataset {
            name: self.name.clone(),
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            channels: self.channels,
            height: self.height,
            width: self.width,
        })
    }

    /// The images of the classes `classes` only, relabelled by their position
    /// in the list: an image of class `classes[i]` gets label `i`, and class
    /// `i` keeps the name of class `classes[i]`. Images keep their order.
    /// A two-class task is `select_classes(&[negative, positive])` (negative 0,
    /// positive 1). Errors for an empty list, a class listed twice or a class
    /// not below [`Dataset::num_classes`].
    pub fn select_classes(&self, classes: &[u32]) -> Result<Dataset> {
        const OP: &str = "Dataset::select_classes";
        if classes.is_empty() {
            return Err(Error::invalid(OP, "no class given"));
        }
        let mut new_label = vec![None; self.num_classes()];
        for (i, &c) in classes.iter().enumerate() {
            let slot = new_label.get_mut(c as usize).ok_or_else(|| {
                Error::invalid(
                    OP,
                    format!("class {c} is not below the number of classes ({})", self.num_classes()),
                )
            })?;
            if slot.is_some() {
                return Err(Error::invalid(OP, format!("class {c} is listed twice")));
            }
            *slot = Some(i as u32);
        }
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| new_label[self.labels[i] as usize].is_some())
            .collect();
        let mut ds = self.try_subset(&keep)?;
        for l in &mut ds.labels {
            *l = new_label[*l as usize].expect("only selected classes are kept");
        }
        ds.class_names = classes.iter().map(|&c| self.class_names[c as usize].clone()).collect();
        Ok(ds)
    }

    fn check_indices(&self, op: &'static str, indices: &[usize]) -> Result<()> {
        if let Some(&bad) = indices.iter().find(|&&i| i >= self.len()) {
            return Err(Error::invalid(
                op,
                format!("index {bad} is out of range for a dataset of {} images", self.len()),
            ));
        }
        Ok(())
    }

    /// Uploads the images at `indices` to `dev` as one `[B, C, H, W]` tensor.
    pub fn to_tensor(&self, dev: &Device, indices: &[usize]) -> Result<Tensor> {
        self.check_indices("Dataset::to_tensor", indices)?;
        if indices.is_empty() {
            return Err(Error::invalid(
                "Dataset::to_tensor",
                "no indices were given; a batch needs at least one image",
            ));
        }
        let n = self.image_len();
        let mut data = Vec::with_capacity(indices.len() * n);
        for &i in indices {
            data.extend_from_slice(self.image(i));
        }
        Tensor::from_slice(dev, &data, &[indices.len(), self.channels, self.height, self.width])
    }

    /// Uploads the labels at `indices` to `dev`.
    pub fn labels_to_device(&self, dev: &Device, indices: &[usize]) -> Result<IndexTensor> {
        self.check_indices("Dataset::labels_to_device", indices)?;
        let labels: Vec<u32> = indices.iter().map(|&i| self.labels[i]).collect();
        IndexTensor::new(dev, &labels)
    }

    /// A printable table: the shape, then per class its index, name, image
    /// count and share, then the imbalance rate.
    pub fn summary(&self) -> String {
        let counts = self.class_counts();
        let total = self.len();
        let mut s = String::new();
        let title = if self.name.is_empty() { "dataset" } else { &self.name };
        let _ = writeln!(
            s,
            "{title}: {total} images, {} classes, {} x {} x {} (C x H x W)",
            self.num_classes(),
            self.channels,
            self.height,
            self.width
        );
        let name_w = self
            .class_names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let count_w = total.to_string().len().max(6);
        let _ = writeln!(
            s,
            "{:>5}  {:<name_w$}  {:>count_w$}  {:>7}",
            "label", "class", "images", "share"
        );
        let _ = writeln!(s, "{}", "-".repeat(5 + 2 + name_w + 2 + count_w + 2 + 7));
        for (k, (name, &c)) in self.class_names.iter().zip(&counts).enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                100.0 * c as f64 / total as f64
            };
            let _ = writeln!(s, "{k:>5}  {name:<name_w$}  {c:>count_w$}  {share:>6.2}%");
        }
        let _ = writeln!(s, "{}", "-".repeat(5 + 2 + name_w + 2 + count_w + 2 + 7));
        let ir = self.imbalance_rate();
        if ir.is_finite() {
            let max = counts.iter().copied().max().unwrap_or(0);
            let min = counts.iter().copied().min().unwrap_or(0);
            let _ = writeln!(s, "imbalance rate (largest / smallest class): {ir:.2} ({max} / {min})");
        } else {
            let empty: Vec<&str> = self
                .class_names
                .iter()
                .zip(&counts)
                .filter(|(_, &c)| c == 0)
                .map(|(n, _)| n.as_str())
                .collect();
            let _ = writeln!(
                s,
                "imbalance rate (largest / smallest class): infinite (no images in: {})",
                empty.join(", ")
            );
        }
        s
    }
}

/// Refuse to allocate `dims` (multiplied) f32 values on the host when that is
/// more than the memory available (Linux: `MemAvailable` plus `SwapFree` in
/// /proc/meminfo; elsewhere only a size beyond the address space is
/// refused), before trying: an allocation failure aborts the process instead
/// of returning an error.
pub fn check_host_memory(what: &str, dims: &[usize], fix: &str) -> Result<()> {
    let bytes = dims
        .iter()
        .try_fold(4u128, |acc, &d| acc.checked_mul(d as u128))
        .unwrap_or(u128::MAX);
    let available = available_host_memory();
    let limit = available.map_or(isize::MAX as u128, |a| a as u128);
    if bytes > limit {
        let have = match available {
            Some(a) => format!("{} is available", human_bytes(a as u128)),
            None => "that is beyond what a process can address".to_string(),
        };
        return Err(Error::invalid(
            "memory",
            format!(
                "{what} needs {} of host memory ({} f32 values), but {have}; use {fix}",
                human_bytes(bytes),
                dims.iter().map(usize::to_string).collect::<Vec<_>>().join(" × "),
            ),
        ));
    }
    Ok(())
}

/// The memory the system can still give, swap included (Linux), in bytes.
pub fn available_host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let total = kib("MemAvailable:")?.saturating_add(kib("SwapFree:").unwrap_or(0));
    total.checked_mul(1024)
}

fn human_bytes(b: u128) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    if b as f64 >= GIB / 10.0 {
        format!("{:.1} GiB", b as f64 / GIB)
    } else {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    }
}
