//! Image output: PNG grids decoded back with the `image` crate and checked
//! pixel by pixel at known positions; IDX export read back by a reader written
//! here from the format's definition (plain and gzipped); the image folder's
//! layout and file counts.

use std::io::Read;
use std::path::Path;

use balgan::atomic_file::write_atomic;
use balgan::data::export::{export_idx, export_image_folder, ImageFolderWriter};
use balgan::data::grid::{rows_by_class, save_grid, save_grid_tensor, to_byte};
use image::ColorType;

use crate::common::{assert_close, base_seed, tensor, to_f64, Rng, TempDir};

/// The byte mapping from its definition, in f64: round((clamp(v) + 1)·127.5).
fn byte_ref(v: f32) -> u8 {
    let c = (v as f64).clamp(-1.0, 1.0);
    ((c + 1.0) * 127.5).round() as u8
}

#[test]
fn byte_mapping_endpoints_and_clamping() {
    for (v, want) in [
        (-1.0f32, 0u8),
        (1.0, 255),
        (0.0, 128),
        (-3.0, 0),
        (7.0, 255),
        (f32::NAN, 0),
        // (0.39999998 + 1)·127.5 = 178.4999970 lies just below a half: f32
        // arithmetic would round it to 178.5 and then to 179.
        (0.399_999_98, 178),
    ] {
        assert_eq!(to_byte(v), want, "q({v})");
    }
    let mut rng = Rng::new(0xb17e);
    for v in rng.uniform(1000, -1.2, 1.2) {
        assert_eq!(to_byte(v), byte_ref(v), "q({v})");
    }
}

#[test]
fn grey_grid_decodes_to_the_expected_pixels() {
    let dir = TempDir::new("export-grey");
    // Four 2×3 grey images; image i has the value v(i, y, x) at (y, x).
    let (n, h, w) = (4, 2, 3);
    let val = |i: usize, y: usize, x: usize| -> f32 { -1.0 + 0.1 * (i * 6 + y * 3 + x) as f32 };
    let mut data = Vec::new();
    for i in 0..n {
        for y in 0..h {
            for x in 0..w {
                data.push(val(i, y, x));
            }
        }
    }
    // Rows of different lengths: the second row's missing cell stays black.
    let rows = vec![vec![2, 0], vec![3]];
    let pad = 1;
    let path = dir.0.join("grid.png");
    save_grid(&path, &data, &[n, 1, h, w], &rows, pad).unwrap();
    let img = image::open(&path).unwrap();
    assert_eq!(img.color(), ColorType::L8, "C = 1 must give a grey PNG");
    let img = img.to_luma8();
    // Width 2 cells·(3 + 1) + 1 = 9, height 2 rows·(2 + 1) + 1 = 7.
    assert_eq!(img.dimensions(), (9, 7));
    for (r, row) in rows.iter().enumerate() {
        for (j, &i) in row.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let (px, py) = (1 + j * 4 + x, 1 + r * 3 + y);
                    assert_eq!(
                        img.get_pixel(px as u32, py as u32)[0],
                        byte_ref(val(i, y, x)),
                        "cell ({r}, {j}) = image {i}, pixel ({y}, {x})"
                    );
                }
            }
        }
    }
    // Padding: the corners, the gap column between cells, the empty cell.
    for (x, y) in [(0, 0), (8, 6), (4, 1), (0, 3), (6, 5)] {
        assert_eq!(img.get_pixel(x, y)[0], 0, "padding or empty cell at ({x}, {y})");
    }
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("grid.png")]);
}

#[test]
fn rgb_grid_from_a_tensor_keeps_channels_apart() {
    let dir = TempDir::new("export-rgb");
    // Two 2×2 RGB images with distinct values per channel, one clamped.
    let (h, w) = (2, 2);
    let mut data = Vec::new();
    for i in 0..2 {
        for c in 0..3 {
            for p in 0..h * w {
                data.push(if i == 1 && c == 2 {
                    5.0
                } else {
                    -0.9 + 0.25 * c as f32 + 0.05 * p as f32 + 0.4 * i as f32
                });
            }
        }
    }
    let t = tensor(&data, &[2, 3, h, w]);
    let labels = [1, 0];
    let rows = rows_by_class(&labels, 2, 4);
    assert_eq!(rows, vec![vec![1], vec![0]], "one row per class");
    let path = dir.0.join("rgb.png");
    save_grid_tensor(&path, &t, &rows, 2).unwrap();
    let img = image::open(&path).unwrap();
    assert_eq!(img.color(), ColorType::Rgb8, "C = 3 must give an RGB PNG");
    let img = img.to_rgb8();
    assert_eq!(img.dimensions(), (2 + 2 + 2, 2 * (2 + 2) + 2));
    for (r, &i) in [1usize, 0].iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                let got = img.get_pixel((2 + x) as u32, (2 + r * 4 + y) as u32).0;
                for c in 0..3 {
                    let v = data[(i * 3 + c) * h * w + y * w + x];
                    assert_eq!(got[c], byte_ref(v), "row {r} image {i} channel {c} at ({y}, {x})");
                }
            }
        }
    }
    assert_eq!(img.get_pixel(2, 2 + 1).0[2], 255, "5.0 clamps to 255");
}

#[test]
fn grid_rejects_bad_input() {
    let dir = TempDir::new("export-bad");
    let p = dir.0.join("x.png");
    let data = vec![0.0f32; 2 * 2 * 2 * 2];
    assert!(
        save_grid(&p, &data, &[2, 2, 2, 2], &[vec![0]], 1).is_err(),
        "2 channels"
    );
    assert!(
        save_grid(&p, &data, &[2, 1, 3, 2], &[vec![0]], 1).is_err(),
        "length mismatch"
    );
    assert!(
        save_grid(&p, &data[..8], &[2, 1, 2, 2], &[vec![2]], 1).is_err(),
        "index out of range"
    );
    assert!(
        save_grid(&p, &data[..8], &[2, 1, 2, 2], &[vec![]], 1).is_err(),
        "empty grid"
    );
    assert!(!p.exists(), "failed writes leave no file");
}

/// IDX reader written from the format: magic 0, 0, 0x08 (u8), d; d big-endian
/// u32 sizes; the data.
fn read_idx(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let raw = std::fs::read(path).unwrap();
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        assert_eq!(&raw[..2], &[0x1f, 0x8b], "{path:?} must be a gzip stream");
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    };
    assert_eq!(&bytes[..3], &[0, 0, 0x08], "{path:?}: IDX magic for unsigned bytes");
    let d = bytes[3] as usize;
    let dims: Vec<usize> = (0..d)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let data = bytes[4 + 4 * d..].to_vec();
    assert_eq!(
        data.len(),
        dims.iter().product::<usize>(),
        "{path:?}: data length matches the sizes"
    );
    (dims, data)
}

#[test]
fn idx_round_trip_plain_and_gzipped() {
    let dir = TempDir::new("export-idx");
    let mut rng = Rng::new(0x1d3);
    for (c, gzip) in [(1usize, false), (1, true), (3, false), (3, true)] {
        let (n, h, w) = (5, 7, 6);
        let images = rng.uniform(n * c * h * w, -1.1, 1.1);
        let labels: Vec<usize> = (0..n).map(|i| (i * 37 + c) % 200).collect();
        let prefix = format!("gen{c}{gzip}");
        let files = export_idx(&dir.0, &prefix, &images, &[n, c, h, w], &labels, gzip).unwrap();
        let d = if c == 1 { 3 } else { 4 };
        let gz = if gzip { ".gz" } else { "" };
        assert_eq!(files.images, dir.0.join(format!("{prefix}-images-idx{d}-ubyte{gz}")));
        assert_eq!(files.labels, dir.0.join(format!("{prefix}-labels-idx1-ubyte{gz}")));
        let (dims, pixels) = read_idx(&files.images);
        let want_dims = if c == 1 { vec![n, h, w] } else { vec![n, c, h, w] };
        assert_eq!(dims, want_dims);
        let want: Vec<u8> = images.iter().map(|&v| byte_ref(v)).collect();
        assert_eq!(pixels, want, "pixels, C = {c}, gzip {gzip}");
        let (ldims, lab) = read_idx(&files.labels);
        assert_eq!(ldims, vec![n]);
        assert_eq!(lab, labels.iter().map(|&l| l as u8).collect::<Vec<_>>());
    }
    let one = vec![0.0f32; 4];
    assert!(
        export_idx(&dir.0, "bad", &one, &[1, 1, 2, 2], &[256], false).is_err(),
        "label 256"
    );
    assert!(
        export_idx(&dir.0, "bad", &one, &[1, 1, 2, 2], &[0, 1], false).is_err(),
        "label count"
    );
}

#[test]
fn image_folder_has_a_folder_per_class_and_the_right_counts() {
    let dir = TempDir::new("export-folder");
    let mut rng = Rng::new(0xf01d);
    let (n, c, h, w) = (9, 3, 4, 5);
    let images = rng.uniform(n * c * h * w, -1.0, 1.0);
    let labels = [0, 2, 2, 0, 2, 2, 0, 2, 2];
    let names = ["cat", "dog", "ship"];
    let root = dir.0.join("out");
    let counts = export_image_folder(&root, &images, &[n, c, h, w], &labels, &names).unwrap();
    assert_eq!(counts, vec![3, 0, 6]);
    for (k, name) in names.iter().enumerate() {
        let mut files: Vec<String> = std::fs::read_dir(root.join(name))
            .unwrap_or_else(|e| panic!("class folder {name}: {e}"))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let want: Vec<String> = (0..counts[k]).map(|i| format!("{i:05}.png")).collect();
        assert_eq!(files, want, "files of class {name}");
    }
    // The third image of class "ship" is image 4; decode and compare.
    let img = image::open(root.join("ship").join("00002.png")).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (w as u32, h as u32));
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let v = images[((4 * c + ch) * h + y) * w + x];
                assert_eq!(img.get_pixel(x as u32, y as u32).0[ch], byte_ref(v));
            }
        }
    }
    // A second batch continues the numbering.
    let mut wr = ImageFolderWriter::new(dir.0.join("more"), &["a", "b"]).unwrap();
    let grey = rng.uniform(2 * 16, -1.0, 1.0);
    wr.write_batch(&grey, &[2, 1, 4, 4], &[1, 1]).unwrap();
    wr.write_batch(&grey[..16], &[1, 1, 4, 4], &[1]).unwrap();
    assert_eq!(wr.counts(), &[0, 3]);
    assert!(wr.class_dir(1).join("00002.png").exists());
    assert!(
        wr.write_batch(&grey[..16], &[1, 1, 4, 4], &[2]).is_err(),
        "label beyond the classes"
    );
    assert!(
        ImageFolderWriter::new(dir.0.join("x"), &["a", "../b"]).is_err(),
        "path in a class name"
    );
    assert!(
        ImageFolderWriter::new(dir.0.join("x"), &["a", "a"]).is_err(),
        "duplicate class name"
    );
}

#[test]
fn atomic_write_leaves_the_old_file_on_error() {
    let dir = TempDir::new("export-atomic");
    let p = dir.0.join("f.bin");
    write_atomic(&p, |w| std::io::Write::write_all(w, b"old")).unwrap();
    let r = write_atomic(&p, |w| {
        std::io::Write::write_all(w, b"partial")?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(r.is_err());
    assert_eq!(
        std::fs::read(&p).unwrap(),
        b"old",
        "a failed write must not replace the file"
    );
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "no temporary file left behind"
    );
}

/// Exported sets load back with the crate's own IDX loader, grey (rank 3) and
/// RGB (rank 4), plain and gzipped: the pixel values survive the 8-bit round
/// trip exactly when they are on the 8-bit grid.
#[test]
fn exported_idx_sets_load_back_with_the_idx_loader() {
    let mut rng = Rng::new(130);
    for (c, gzip) in [(1usize, false), (3, true)] {
        let (n, h, w) = (5usize, 4usize, 3usize);
        // Values on the grid (k − 127.5)/127.5 so the byte mapping is exact.
        let images: Vec<f32> = (0..n * c * h * w)
            .map(|_| (rng.below(256) as f32 - 127.5) / 127.5)
            .collect();
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let dir = std::env::temp_dir().join(format!("balgan-idx-roundtrip-{}-{c}", base_seed()));
        let files = balgan::data::export::export_idx(&dir, "set", &images, &[n, c, h, w], &labels, gzip).unwrap();
        let ds = balgan::data::load_idx(&files.images, &files.labels, None).unwrap();
        assert_eq!(ds.shape(), [n, c, h, w]);
        assert_eq!(
            ds.labels(),
            labels.iter().map(|&l| l as u32).collect::<Vec<_>>().as_slice()
        );
        assert_close("idx round trip", ds.images(), &to_f64(&images), 1e-6, 0.0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
