//! Seeded fuzzing of every file reader: IDX (plain and gzip), CIFAR-10
//! binary batches and their class-name file, `.npy` and `.npz`, safetensors
//! checkpoints (`Checkpoint::open`, `values`, loading into a module) and PNG
//! image folders.
//!
//! Each reader gets a small valid file, then every prefix of it (a sample of
//! prefixes for files over 4 KiB), then a few hundred seeded mutations (bit
//! flips, random bytes, size-like 32-bit values such as 0xFFFFFFFF written
//! over the header), and a few hand-made headers that claim billions of
//! elements in a tiny file. Every read must
//! - not panic (each runs under `catch_unwind`),
//! - not make any single allocation larger than [`ALLOC_LIMIT`] (a corrupt
//!   size field must be checked against the file's length before anything
//!   is allocated from it), measured by a counting global allocator on the
//!   reading thread,
//! - on error, name the file in the message.
//!
//! Failures print the base seed (`BALGAN_TEST_SEED` replays a run) and the
//! mutation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crate::common::*;
use balgan::nn::{Checkpoint, CheckpointWriter, Linear, Module};
use balgan::Generator;

/// The largest single allocation a reader may make for the files here (all
/// under 8 KiB): generous for buffers and decoders, far below what a size
/// field of 2³² elements would ask for.
const ALLOC_LIMIT: usize = 8 << 20;

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = TRACK.try_with(|t| {
        if t.get() {
            let _ = LARGEST.try_with(|m| m.set(m.get().max(size)));
        }
    });
}

/// The system allocator, recording the largest request made on a thread
/// while that thread's `TRACK` is set.
struct Tracking;

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

type Reader<'a> = &'a dyn Fn() -> balgan::Result<()>;

/// One reader over one file: `file` is rewritten with each mutated input,
/// then `read` runs.
struct Target<'a> {
    name: &'a str,
    file: &'a Path,
    valid: &'a [u8],
    read: Reader<'a>,
}

/// Runs one input; returns a description of what went wrong, if anything.
fn run_case(t: &Target<'_>, bytes: &[u8], case: &str) -> Option<String> {
    std::fs::write(t.file, bytes).unwrap();
    LARGEST.with(|m| m.set(0));
    TRACK.with(|f| f.set(true));
    let outcome = catch_unwind(AssertUnwindSafe(t.read));
    TRACK.with(|f| f.set(false));
    let largest = LARGEST.with(|m| m.get());
    let what = format!("{} {case} ({} bytes)", t.name, bytes.len());
    if largest > ALLOC_LIMIT {
        return Some(format!("{what}: allocated {largest} bytes at once"));
    }
    match outcome {
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Some(format!("{what}: panicked: {msg}"))
        }
        Ok(Err(e)) => {
            let msg = e.to_string();
            let shown = t.file.display().to_string();
            (!msg.contains(&shown)).then(|| format!("{what}: error does not name {shown}: {msg}"))
        }
        Ok(Ok(())) => None,
    }
}

/// Values that size and offset fields are likely to choke on.
fn size_like(rng: &mut Rng, len: usize) -> u32 {
    match rng.below(7) {
        0 => 0,
        1 => u32::MAX,
        2 => i32::MAX as u32,
        3 => 0x8000_0000,
        4 => len as u32,
        5 => len as u32 + 1 + rng.below(16) as u32,
        _ => rng.next_u64() as u32,
    }
}

/// One seeded mutation of `valid`: 1 to 4 edits, half of them in the first
/// 64 bytes (where the headers are).
fn mutate(rng: &mut Rng, valid: &[u8]) -> (Vec<u8>, String) {
    let mut m = valid.to_vec();
    let mut log = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let span = if rng.below(2) == 0 { m.len().min(64) } else { m.len() };
        let at = rng.below(span.max(1) as u64) as usize;
        match rng.below(3) {
            0 => {
                let bit = 1u8 << rng.below(8);
                m[at] ^= bit;
                log.push(format!("flip {bit:#x} at {at}"));
            }
            1 => {
                let b = rng.next_u64() as u8;
                m[at] = b;
                log.push(format!("byte {b:#x} at {at}"));
            }
            _ => {
                let v = size_like(rng, valid.len());
                let bytes = if rng.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let at = at.min(m.len().saturating_sub(4));
                for (k, b) in bytes.iter().enumerate() {
                    if let Some(slot) = m.get_mut(at + k) {
                        *slot = *b;
                    }
                }
                log.push(format!("u32 {v:#x} at {at}"));
            }
        }
    }
    (m, log.join(", "))
}

/// The whole campaign for one target; panics listing the first failures.
fn fuzz(t: Target<'_>, salt: u64, mutations: usize, extra: &[(Vec<u8>, &str)]) {
    let mut rng = Rng::new(salt);
    let mut failures = Vec::new();
    // The valid file reads.
    std::fs::write(t.file, t.valid).unwrap();
    if let Err(e) = (t.read)() {
        panic!("{}: the unmutated file must read, got {e}", t.name);
    }
    let n = t.valid.len();
    let prefixes: Vec<usize> = if n <= 4096 {
        (0..n).collect()
    } else {
        let mut p: Vec<usize> = (0..256).chain(n - 64..n).collect();
        p.extend((0..256).map(|_| rng.below(n as u64) as usize));
        p
    };
    for len in prefixes {
        failures.extend(run_case(&t, &t.valid[..len], &format!("prefix {len}")));
    }
    for i in 0..mutations {
        let (bytes, log) = mutate(&mut rng, t.valid);
        failures.extend(run_case(&t, &bytes, &format!("mutation {i}: {log}")));
    }
    for (bytes, what) in extra {
        failures.extend(run_case(&t, bytes, what));
    }
    std::fs::write(t.file, t.valid).unwrap();
    assert!(
        failures.is_empty(),
        "{} of the {} fuzz cases failed (seed {}):\n{}",
        failures.len(),
        t.name,
        base_seed(),
        failures.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn idx(magic: u32, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(body);
    v
}

#[test]
fn idx_readers_survive_truncation_and_corruption() {
    use balgan::data::idx::{load_idx, read_idx_images, read_idx_labels};
    let s = TempDir::new("fuzz-idx");
    let mut rng = Rng::new(0xf001);
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|_| rng.next_u64() as u8).collect();
    let images = idx(0x803, &[3, 4, 5], &pixels);
    let images4 = idx(0x804, &[2, 3, 2, 5], &pixels);
    let labels = idx(0x801, &[3], &[2, 0, 1]);
    let (img, lab) = (s.path().join("images.idx"), s.path().join("labels.idx"));
    std::fs::write(&img, &images).unwrap();
    std::fs::write(&lab, &labels).unwrap();
    let absurd = [
        (
            idx(0x803, &[u32::MAX, u32::MAX, u32::MAX], &pixels),
            "dims 2^32-1 cubed",
        ),
        (
            idx(0x803, &[4_000_000_000, 1, 1], &pixels),
            "4e9 images in a small file",
        ),
        (idx(0x803, &[0, 65_535, 65_535], &[]), "no images of 65535²"),
        (idx(0x804, &[1, u32::MAX, 1, 1], &pixels), "2^32-1 channels"),
    ];
    let absurd: Vec<(Vec<u8>, &str)> = absurd.into_iter().collect();

    let read_images = || read_idx_images(&img).map(|_| ());
    fuzz(
        Target {
            name: "IDX images",
            file: &img,
            valid: &images,
            read: &read_images,
        },
        1,
        400,
        &absurd,
    );
    fuzz(
        Target {
            name: "IDX rank-4 images",
            file: &img,
            valid: &images4,
            read: &read_images,
        },
        2,
        300,
        &[],
    );
    let gz_absurd: Vec<(Vec<u8>, &str)> = absurd.iter().map(|(b, w)| (gzip(b), *w)).collect();
    fuzz(
        Target {
            name: "gzipped IDX images",
            file: &img,
            valid: &gzip(&images),
            read: &read_images,
        },
        3,
        300,
        &gz_absurd,
    );
    std::fs::write(&img, &images).unwrap();
    let read_labels = || read_idx_labels(&lab).map(|_| ());
    fuzz(
        Target {
            name: "IDX labels",
            file: &lab,
            valid: &labels,
            read: &read_labels,
        },
        4,
        300,
        &[(idx(0x801, &[u32::MAX], &[1, 2]), "2^32-1 labels")],
    );
    // The pair loader: mutate one file, keep the other valid.
    let load = || load_idx(&img, &lab, None).map(|_| ());
    fuzz(
        Target {
            name: "load_idx (labels mutated)",
            file: &lab,
            valid: &labels,
            read: &load,
        },
        5,
        300,
        &[],
    );
    fuzz(
        Target {
            name: "load_idx (images mutated)",
            file: &img,
            valid: &images,
            read: &load,
        },
        6,
        300,
        &absurd,
    );
}

#[test]
fn cifar_readers_survive_truncation_and_corruption() {
    use balgan::data::cifar::{load_cifar10_batches, read_cifar10_meta, CIFAR10_CLASSES, CIFAR10_RECORD};
    let s = TempDir::new("fuzz-cifar");
    let mut rng = Rng::new(0xf002);
    let mut batch: Vec<u8> = (0..CIFAR10_RECORD).map(|_| rng.next_u64() as u8).collect();
    batch[0] = 7;
    let file = s.path().join("data_batch_1.bin");
    let names: Vec<String> = CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect();
    let read = || load_cifar10_batches(std::slice::from_ref(&file), &names).map(|_| ());
    fuzz(
        Target {
            name: "CIFAR-10 batch",
            file: &file,
            valid: &batch,
            read: &read,
        },
        1,
        300,
        &[],
    );
    let meta = s.path().join("batches.meta.txt");
    let text = CIFAR10_CLASSES.join("\n") + "\n";
    let read_meta = || read_cifar10_meta(&meta).map(|_| ());
    fuzz(
        Target {
            name: "CIFAR-10 class names",
            file: &meta,
            valid: text.as_bytes(),
            read: &read_meta,
        },
        2,
        300,
        &[],
    );
}

/// A `.npy` file of version `major` with the given dict and data.
fn npy(major: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let pre = if major == 1 { 10 } else { 12 };
    let mut header = dict.to_string();
    while !(pre + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut v = b"\x93NUMPY".to_vec();
    v.extend([major, 0]);
    if major == 1 {
        v.extend((header.len() as u16).to_le_bytes());
    } else {
        v.extend((header.len() as u32).to_le_bytes());
    }
    v.extend(header.as_bytes());
    v.extend(data);
    v
}

/// A zip archive of stored members (what `np.savez` writes), CRCs left 0
/// (the reader does not check them).
fn zip_stored(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let mut local = Vec::new();
        local.extend(0x0403_4b50u32.to_le_bytes());
        local.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date
        local.extend(0u32.to_le_bytes()); // crc
        local.extend((data.len() as u32).to_le_bytes());
        local.extend((data.len() as u32).to_le_bytes());
        local.extend((name.len() as u16).to_le_bytes());
        local.extend(0u16.to_le_bytes());
        local.extend(name.as_bytes());
        out.extend(&local);
        out.extend(data);
        central.extend(0x0201_4b50u32.to_le_bytes());
        central.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // made by, needed, flags, method, time, date
        central.extend(0u32.to_le_bytes());
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0, 0, 0, 0, 0, 0, 0, 0]); // extra, comment, disk, internal attrs
        central.extend(0u32.to_le_bytes()); // external attrs
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(cd_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn npy_and_npz_readers_survive_truncation_and_corruption() {
    use balgan::metrics::npy::{read_npy, read_npz};
    let s = TempDir::new("fuzz-npy");
    let mut rng = Rng::new(0xf003);
    let f32s: Vec<u8> = rng.uniform(6, -2.0, 2.0).iter().flat_map(|v| v.to_le_bytes()).collect();
    let f64s: Vec<u8> = rng
        .uniform(3, -2.0, 2.0)
        .iter()
        .flat_map(|&v| (v as f64).to_le_bytes())
        .collect();
    let a = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", &f32s);
    let b = npy(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", &f64s);
    let file = s.path().join("feat.npy");
    let read = || read_npy(&file).map(|_| ());
    let absurd = vec![
        (
            npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000,), }",
                &f32s,
            ),
            "4e9 elements",
        ),
        (
            npy(
                1,
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                &f32s,
            ),
            "2^64 elements",
        ),
        (
            npy(
                1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
                &f32s,
            ),
            "a dimension beyond u64",
        ),
    ];
    fuzz(
        Target {
            name: "npy v1 f32",
            file: &file,
            valid: &a,
            read: &read,
        },
        1,
        400,
        &absurd,
    );
    fuzz(
        Target {
            name: "npy v2 f64",
            file: &file,
            valid: &b,
            read: &read,
        },
        2,
        300,
        &[],
    );
    let z = zip_stored(&[("mu.npy", a.clone()), ("sigma.npy", b.clone())]);
    let zfile = s.path().join("stats.npz");
    let read_z = || read_npz(&zfile).map(|_| ());
    // A ZIP64 end record pointing far outside the file.
    let mut zip64 = z.clone();
    let eocd = zip64.len() - 22;
    zip64[eocd + 10..eocd + 12].copy_from_slice(&[0xff, 0xff]);
    zip64[eocd + 16..eocd + 20].copy_from_slice(&[0xff; 4]);
    let mut loc = 0x0706_4b50u32.to_le_bytes().to_vec();
    loc.extend([0; 4]);
    loc.extend(u64::MAX.to_le_bytes());
    loc.extend([0; 4]);
    zip64.splice(eocd..eocd, loc);
    fuzz(
        Target {
            name: "npz",
            file: &zfile,
            valid: &z,
            read: &read_z,
        },
        3,
        500,
        &[(zip64, "ZIP64 locator at offset 2^64-1")],
    );
}

#[test]
fn checkpoint_reader_survives_truncation_and_corruption() {
    let d = dev();
    let s = TempDir::new("fuzz-ckpt");
    let rng = Generator::new(base_seed());
    let model = Linear::new(d, &rng, 3, 2, true).unwrap();
    let file = s.path().join("model.safetensors");
    CheckpointWriter::new()
        .add_module("", &model)
        .set_metadata("note", "fuzz")
        .write(&file)
        .unwrap();
    let valid = std::fs::read(&file).unwrap();
    let target = Linear::new(d, &rng, 3, 2, true).unwrap();
    let read = || {
        let c = Checkpoint::open(&file)?;
        for k in c.keys() {
            c.values(&k)?;
        }
        c.load_module("", &target, true)?;
        c.finish(true)?;
        Ok(())
    };
    let mut huge_header = valid.clone();
    huge_header[..8].copy_from_slice(&(u32::MAX as u64).to_le_bytes());
    let mut huge_header64 = valid.clone();
    huge_header64[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    fuzz(
        Target {
            name: "safetensors checkpoint",
            file: &file,
            valid: &valid,
            read: &read,
        },
        1,
        500,
        &[
            (huge_header, "header length 2^32-1"),
            (huge_header64, "header length 2^64-1"),
        ],
    );
    // The unmutated file loads into the module.
    read().unwrap();
    assert_eq!(
        target.parameters()[0].1.to_vec().unwrap(),
        model.parameters()[0].1.to_vec().unwrap()
    );
}

#[test]
fn image_folder_survives_truncated_and_corrupt_pngs() {
    let s = TempDir::new("fuzz-png");
    let class = s.path().join("cat");
    std::fs::create_dir_all(&class).unwrap();
    let mut rng = Rng::new(0xf005);
    let (w, h) = (7u32, 5u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|_| rng.next_u64() as u8).collect();
    let file = class.join("a.png");
    image::save_buffer(&file, &rgb, w, h, image::ExtendedColorType::Rgb8).unwrap();
    let valid = std::fs::read(&file).unwrap();
    let grey: Vec<u8> = (0..w * h).map(|_| rng.next_u64() as u8).collect();
    let grey_file = class.join("b.png");
    image::save_buffer(&grey_file, &grey, w, h, image::ExtendedColorType::L8).unwrap();
    let grey_valid = std::fs::read(&grey_file).unwrap();
    let root = s.path().to_path_buf();
    let read = || balgan::data::image_folder(&root, 8).map(|_| ());
    // Headers with a valid CRC that claim big images: the decoder must not
    // allocate for them before finding the pixel data missing.
    let claim = |w: u32, h: u32| {
        let mut png = valid.clone();
        // Signature (8), IHDR length (4) and type (4), then width and height.
        assert_eq!(&png[12..16], b"IHDR");
        png[16..20].copy_from_slice(&w.to_be_bytes());
        png[20..24].copy_from_slice(&h.to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(&png[12..29]);
        png[29..33].copy_from_slice(&crc.sum().to_be_bytes());
        png
    };
    fuzz(
        Target {
            name: "PNG (RGB) in an image folder",
            file: &file,
            valid: &valid,
            read: &read,
        },
        1,
        400,
        &[
            (claim(8000, 8000), "IHDR claiming 8000 x 8000"),
            (claim(100_000, 100_000), "IHDR claiming 100000 x 100000"),
            (claim(1, 2_000_000_000), "IHDR claiming 1 x 2e9"),
        ],
    );
    fuzz(
        Target {
            name: "PNG (grey) in an image folder",
            file: &grey_file,
            valid: &grey_valid,
            read: &read,
        },
        2,
        300,
        &[],
    );
}

/// The PNG size bound must not reject real files: a 3000 x 3000 black image
/// compresses to a few KiB (close to deflate's limit) and still loads.
#[test]
fn highly_compressed_png_still_loads() {
    let s = TempDir::new("fuzz-png-big");
    let class = s.path().join("black");
    std::fs::create_dir_all(&class).unwrap();
    let (w, h) = (3000u32, 3000u32);
    let file = class.join("a.png");
    image::save_buffer(&file, &vec![0u8; (w * h) as usize], w, h, image::ExtendedColorType::L8).unwrap();
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(len < 64 << 10, "the test wants a small file, got {len} bytes");
    let d = balgan::data::image_folder(s.path(), 4).unwrap();
    assert_eq!(d.len(), 1);
    assert!(d.images().iter().all(|&v| v == -1.0), "black maps to -1");
}
