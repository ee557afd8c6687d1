//! The WGSL sources through naga, without a device: every source parses and
//! validates, every file under `shaders/` is compiled by the engine, the
//! binding convention of `src/device/pipelines.rs` holds, and every `*Params`
//! uniform struct has the same layout (size, member names, offsets, scalar
//! kinds) in WGSL as its Rust mirror in `balgan::kernels`.

use std::path::PathBuf;

use balgan::device::ShaderSource;
use balgan::kernels::{all_sources, generated_sources};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{AddressSpace, ArraySize, Handle, Module, ScalarKind, ShaderStage, StorageAccess, Type, TypeInner};

fn shaders_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

fn parse(src: &ShaderSource) -> Module {
    naga::front::wgsl::parse_str(src.wgsl)
        .unwrap_or_else(|e| panic!("{}: WGSL parse error:\n{}", src.file, e.emit_to_string(src.wgsl)))
}

/// Validates with the capabilities the engine asks for: subgroup operations
/// for the subgroup product only (the device requests them only where it runs
/// that kernel).
fn validate(src: &ShaderSource, module: &Module) -> ModuleInfo {
    let subgroups = src.file.starts_with("matmul_subgroup");
    let caps = if subgroups {
        Capabilities::default() | Capabilities::SUBGROUP
    } else {
        Capabilities::default()
    };
    let mut v = Validator::new(ValidationFlags::all(), caps);
    if subgroups {
        v.subgroup_stages(naga::valid::ShaderStages::COMPUTE)
            .subgroup_operations(naga::valid::SubgroupOperationSet::all());
    }
    v.validate(module)
        .unwrap_or_else(|e| panic!("{}: naga validation error:\n{}", src.file, e.emit_to_string(src.wgsl)))
}

/// The sources read from files and those with generated entry points.
fn every_source() -> Vec<ShaderSource> {
    let mut all = all_sources();
    all.extend(generated_sources());
    all
}

fn source(file: &str) -> ShaderSource {
    every_source()
        .into_iter()
        .find(|s| s.file == file)
        .unwrap_or_else(|| panic!("no source with file {file} in all_sources()"))
}

// ---------------------------------------------------------------- (a) parse + validate

#[test]
fn every_source_parses_and_validates() {
    let sources = every_source();
    assert!(!sources.is_empty(), "all_sources() is empty");
    for s in &sources {
        let module = parse(s);
        let info = validate(s, &module);
        assert!(!module.entry_points.is_empty(), "{}: no entry points", s.file);
        for (k, ep) in module.entry_points.iter().enumerate() {
            assert_eq!(
                ep.stage,
                ShaderStage::Compute,
                "{}: entry point {} is not a compute shader",
                s.file,
                ep.name
            );
            // The 1-D kernels are 256 wide and every kernel must fit the
            // WebGPU default of 256 invocations per workgroup.
            let invocations: u32 = ep.workgroup_size.iter().product();
            assert!(
                (1..=256).contains(&invocations),
                "{}: entry point {} has {invocations} invocations per workgroup",
                s.file,
                ep.name
            );
            // The entry point reads its Params uniform.
            let fi = info.get_entry_point(k);
            let uses_uniform = module
                .global_variables
                .iter()
                .any(|(h, g)| g.space == AddressSpace::Uniform && !fi[h].is_empty());
            assert!(
                uses_uniform,
                "{}: entry point {} does not use its Params uniform",
                s.file, ep.name
            );
        }
    }
}

/// Files that are not sources of their own but parts of other sources
/// (`optim.wgsl` of the generated ones).
const FRAGMENTS: [&str; 3] = ["common.wgsl", "gemm_tile.wgsl", "optim.wgsl"];

/// The sources with the shared GEMM tile: one tile for the matmul and the
/// convolutions, so that tuning one tunes the other.
const GEMM_TILE_USERS: [&str; 2] = ["conv2d.wgsl", "matmul.wgsl"];

#[test]
fn sources_are_common_wgsl_followed_by_their_file() {
    let read =
        |f: &str| std::fs::read_to_string(shaders_dir().join(f)).unwrap_or_else(|e| panic!("read shaders/{f}: {e}"));
    let common = read("common.wgsl");
    let tile = read("gemm_tile.wgsl");
    for s in all_sources() {
        let own = read(s.file);
        if GEMM_TILE_USERS.contains(&s.file) {
            assert_eq!(
                s.wgsl,
                format!("{common}\n{tile}\n{own}"),
                "{}: source is not common.wgsl + gemm_tile.wgsl + the file, each followed by \"\\n\"",
                s.file
            );
        } else {
            assert_eq!(
                s.wgsl,
                format!("{common}\n{own}"),
                "{}: source is not common.wgsl + \"\\n\" + the file",
                s.file
            );
        }
    }
    let optim = read("optim.wgsl");
    let product = format!("{common}\n{tile}\n{}\n", read("matmul.wgsl"));
    for s in generated_sources() {
        let (start, parts) = if s.file.starts_with("matmul_subgroup") {
            (
                product.clone(),
                "matmul.wgsl's source (common.wgsl + gemm_tile.wgsl + matmul.wgsl)",
            )
        } else {
            (format!("{common}\n{optim}\n"), "common.wgsl + optim.wgsl")
        };
        assert!(
            s.wgsl.starts_with(&start),
            "{}: generated source does not start with {parts}",
            s.file
        );
    }
}

/// Both tiled GEMMs run the shared tile rather than a copy of it.
#[test]
fn tiled_gemms_call_the_shared_tile() {
    for (file, entry) in [("matmul.wgsl", "matmul_tiled"), ("conv2d.wgsl", "conv_gemm_tiled")] {
        let src = source(file);
        let module = parse(&src);
        let (tile, _) = module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some("gemm_tile"))
            .unwrap_or_else(|| panic!("{file}: no function gemm_tile"));
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == entry)
            .unwrap_or_else(|| panic!("{file}: no entry point {entry}"));
        let calls = ep
            .function
            .body
            .iter()
            .any(|st| matches!(st, naga::Statement::Call { function, .. } if *function == tile));
        assert!(calls, "{file}: {entry} does not call gemm_tile");
        // No workgroup memory of its own: the tile's As and Bs are the only ones.
        let workgroup: Vec<&str> = module
            .global_variables
            .iter()
            .filter(|(_, g)| g.space == AddressSpace::WorkGroup)
            .map(|(_, g)| g.name.as_deref().unwrap_or("?"))
            .collect();
        assert_eq!(workgroup, ["As", "Bs"], "{file}: workgroup variables");
    }
}

/// Every variant of the generated subgroup product (each subgroup width,
/// each load of each operand) parses and validates, one entry point of one
/// subgroup per workgroup.
#[test]
fn every_subgroup_product_variant_validates() {
    use balgan::kernels::matmul_subgroup::{source, validation_variants};
    let variants = validation_variants();
    assert!(variants.len() >= 20, "only {} variants", variants.len());
    for v in variants {
        let s = source(v);
        let module = parse(&s);
        validate(&s, &module);
        // matmul.wgsl's entry points and this one.
        assert_eq!(module.entry_points.len(), 7, "{}: entry points", s.file);
        let ep = module
            .entry_points
            .iter()
            .find(|e| e.name == "matmul_subgroup")
            .unwrap_or_else(|| panic!("{}: no matmul_subgroup", s.file));
        assert_eq!(ep.workgroup_size, [v.lanes as u32, 1, 1], "{}", s.file);
    }
}

// ---------------------------------------------------------------- (b) files

#[test]
fn every_shader_file_is_compiled() {
    let sources = all_sources();
    let mut files: Vec<&str> = sources.iter().map(|s| s.file).collect();
    files.sort_unstable();
    let before = files.len();
    files.dedup();
    assert_eq!(files.len(), before, "all_sources() lists a file twice: {files:?}");
    for f in FRAGMENTS {
        assert!(!files.contains(&f), "{f} is a part of sources, not a source of its own");
    }

    let mut on_disk = Vec::new();
    for entry in std::fs::read_dir(shaders_dir()).expect("read shaders/") {
        let entry = entry.expect("read shaders/ entry");
        let name = entry.file_name().into_string().expect("UTF-8 file name");
        if !FRAGMENTS.contains(&name.as_str()) {
            assert!(
                files.contains(&name.as_str()),
                "shaders/{name} is not the file of any source in all_sources()"
            );
            on_disk.push(name);
        }
    }
    // And the other way round (include_str! already guarantees it at build
    // time; this keeps the two lists visibly equal).
    for f in &files {
        assert!(on_disk.iter().any(|d| d == f), "source {f} has no file under shaders/");
    }
}

// ---------------------------------------------------------------- binding convention

#[test]
fn bindings_follow_the_pipeline_convention() {
    // src/device/pipelines.rs: group 0; binding 0 the Params uniform; then the
    // read-only storage inputs; then the read-write storage outputs.
    for s in every_source() {
        let module = parse(&s);
        let mut uniform = 0;
        let mut max_read = None;
        let mut min_write = None;
        for (_, g) in module.global_variables.iter() {
            let Some(b) = g.binding else { continue };
            let name = g.name.as_deref().unwrap_or("?");
            assert_eq!(b.group, 0, "{}: {name} is not in group 0", s.file);
            match g.space {
                AddressSpace::Uniform => {
                    assert_eq!(b.binding, 0, "{}: uniform {name} is not at binding 0", s.file);
                    assert!(
                        matches!(module.types[g.ty].inner, TypeInner::Struct { .. }),
                        "{}: uniform {name} is not a struct",
                        s.file
                    );
                    uniform += 1;
                }
                AddressSpace::Storage { access } => {
                    assert!(b.binding >= 1, "{}: storage {name} at binding 0", s.file);
                    if access.contains(StorageAccess::STORE) {
                        min_write = Some(min_write.map_or(b.binding, |m: u32| m.min(b.binding)));
                    } else {
                        max_read = Some(max_read.map_or(b.binding, |m: u32| m.max(b.binding)));
                    }
                }
                other => panic!("{}: {name} in unexpected address space {other:?}", s.file),
            }
        }
        assert_eq!(uniform, 1, "{}: expected exactly one uniform", s.file);
        if let (Some(r), Some(w)) = (max_read, min_write) {
            assert!(r < w, "{}: read-only binding {r} after read-write binding {w}", s.file);
        }
    }
}

// ---------------------------------------------------------------- (c) layouts

/// A Rust field type as WGSL sees it: scalar kind, count of scalars.
trait Mirror {
    const KIND: ScalarKind;
    const COUNT: usize;
}

impl Mirror for u32 {
    const KIND: ScalarKind = ScalarKind::Uint;
    const COUNT: usize = 1;
}

impl Mirror for i32 {
    const KIND: ScalarKind = ScalarKind::Sint;
    const COUNT: usize = 1;
}

impl Mirror for f32 {
    const KIND: ScalarKind = ScalarKind::Float;
    const COUNT: usize = 1;
}

impl<T: Mirror, const N: usize> Mirror for [T; N] {
    const KIND: ScalarKind = T::KIND;
    const COUNT: usize = N * T::COUNT;
}

struct RustField {
    name: &'static str,
    offset: usize,
    size: usize,
    kind: ScalarKind,
    count: usize,
}

struct RustLayout {
    name: &'static str,
    file: &'static str,
    size: usize,
    fields: Vec<RustField>,
}

fn field<T, F: Mirror>(name: &'static str, offset: usize, _get: impl Fn(&T) -> &F) -> RustField {
    RustField {
        name,
        offset,
        size: std::mem::size_of::<F>(),
        kind: F::KIND,
        count: F::COUNT,
    }
}

/// The Rust side of one Params struct. The destructuring pattern makes the
/// field list exhaustive: a field added in Rust and not listed here is a
/// compile error.
macro_rules! rust_layout {
    ($module:ident :: $ty:ident in $file:literal { $($field:ident),* $(,)? }) => {{
        use balgan::kernels::$module::$ty as T;
        let _exhaustive = |p: &T| {
            let T { $($field: _),* } = p;
        };
        RustLayout {
            name: stringify!($ty),
            file: $file,
            size: std::mem::size_of::<T>(),
            fields: vec![$(field(stringify!($field), std::mem::offset_of!(T, $field), |p: &T| &p.$field)),*],
        }
    }};
}

/// Scalar kind, scalar width and number of scalars of a WGSL type, with arrays
/// required to be tightly packed (stride = element size) so that a flat Rust
/// array mirrors them.
fn flatten(module: &Module, ty: Handle<Type>, what: &str) -> (ScalarKind, u8, usize) {
    match &module.types[ty].inner {
        TypeInner::Scalar(s) => (s.kind, s.width, 1),
        TypeInner::Vector { size, scalar } => (scalar.kind, scalar.width, u8::from(*size) as usize),
        TypeInner::Array {
            base,
            size: ArraySize::Constant(n),
            stride,
        } => {
            let (kind, width, count) = flatten(module, *base, what);
            let elem = module.types[*base].inner.size(module.to_ctx());
            assert_eq!(
                *stride, elem,
                "{what}: array stride {stride} leaves gaps after {elem}-byte elements"
            );
            (kind, width, count * n.get() as usize)
        }
        other => panic!("{what}: unsupported member type {other:?}"),
    }
}

fn check_layout(rust: &RustLayout) {
    let src = source(rust.file);
    check_layout_in(&parse(&src), rust);
}

fn check_layout_in(module: &Module, rust: &RustLayout) {
    let name = rust.name;
    let (handle, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{}: no struct {name}", rust.file));
    let TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{}: {name} is not a struct", rust.file);
    };
    let wgsl_names: Vec<&str> = members.iter().map(|m| m.name.as_deref().unwrap_or("?")).collect();
    let rust_names: Vec<&str> = rust.fields.iter().map(|f| f.name).collect();
    assert_eq!(wgsl_names, rust_names, "{name}: member names and order differ");
    for (m, f) in members.iter().zip(&rust.fields) {
        let what = format!("{name}.{}", f.name);
        assert_eq!(
            m.offset as usize, f.offset,
            "{what}: WGSL offset {} vs Rust offset_of {}",
            m.offset, f.offset
        );
        let size = module.types[m.ty].inner.size(module.to_ctx()) as usize;
        assert_eq!(size, f.size, "{what}: WGSL size {size} vs Rust size {}", f.size);
        let (kind, width, count) = flatten(module, m.ty, &what);
        assert_eq!(kind, f.kind, "{what}: WGSL scalar kind {kind:?} vs Rust {:?}", f.kind);
        assert_eq!(
            width as usize * count,
            f.size,
            "{what}: {count} scalars of {width} bytes vs Rust size {}",
            f.size
        );
        assert_eq!(count, f.count, "{what}: WGSL has {count} scalars, Rust {}", f.count);
    }
    assert_eq!(
        *span as usize, rust.size,
        "{name}: WGSL span {span} vs Rust size_of {}",
        rust.size
    );
    // It is the type of the kernel's uniform at group 0, binding 0.
    let bound = module.global_variables.iter().any(|(_, g)| {
        g.ty == handle && g.space == AddressSpace::Uniform && g.binding.is_some_and(|b| b.group == 0 && b.binding == 0)
    });
    assert!(
        bound,
        "{}: {name} is not the type of the uniform at @group(0) @binding(0)",
        rust.file
    );
}

#[test]
fn params_layouts_match_rust() {
    let layouts = [
        rust_layout!(unary::UnaryParams in "unary.wgsl" { n, op, alpha, beta }),
        rust_layout!(binary::BinaryParams in "binary.wgsl" { n, rank, op, n_a, n_b, inner_a, inner_b, _pad0, shape, strides_a, strides_b }),
        rust_layout!(where_select::WhereParams in "where.wgsl" {
            n, rank, n_c, n_a, n_b, inner_c, inner_a, inner_b, shape, strides_cond, strides_a, strides_b
        }),
        rust_layout!(copy::CopyParams in "copy.wgsl" {
            n, rank, src_offset, dst_offset, shape, src_strides, dst_strides, lo, hi, scale, _pad1
        }),
        rust_layout!(fill::FillParams in "fill.wgsl" { n, value, _pad0, _pad1 }),
        rust_layout!(glu::GluParams in "glu.wgsl" { n, half, inner, _pad0 }),
        rust_layout!(batchnorm::BatchNormParams in "batchnorm.wgsl" { n, c, s, m, total, chunk, parts, out_parts, flags, eps, momentum, _pad0 }),
        rust_layout!(conv2d::ConvParams in "conv2d.wgsl" {
            n, cin, h, w, cout, ho, wo, kh, kw, sh, sw, ph, pw, dh, dw, has_bias, ci_begin, ci_end, m_begin, m_end,
            accumulate, slab, k_chunk, batch_begin, batch_end, cols_layout, _pad3
        }),
        rust_layout!(reduce::ReduceParams in "reduce.wgsl" { outer, len, inner, chunks, op, scale, _pad0, _pad1 }),
        rust_layout!(softmax::SoftmaxParams in "softmax.wgsl" { rows, len, inner, chunks, chunk, n, _pad0, _pad1 }),
        rust_layout!(matmul::MatmulParams in "matmul.wgsl" {
            m, n, k, batch, trans_a, trans_b, k_chunk, splits, batch_rank, c_offset, a_offset, b_offset,
            split_base, row_bias, c_block, c_block_stride, batch_shape, batch_strides_a, batch_strides_b
        }),
        rust_layout!(matmul::MatmulParams in "matmul_subgroup_s8_r4_w32_AlongK_AlongMn.wgsl" {
            m, n, k, batch, trans_a, trans_b, k_chunk, splits, batch_rank, c_offset, a_offset, b_offset,
            split_base, row_bias, c_block, c_block_stride, batch_shape, batch_strides_a, batch_strides_b
        }),
        rust_layout!(index::IndexParams in "index.wgsl" { outer, dim, inner, n_idx, j_begin, j_end, _pad0, _pad1 }),
        rust_layout!(rng::RngParams in "rng.wgsl" { n, seed_lo, seed_hi, offset_lo, offset_hi, kind, a, b }),
        rust_layout!(loss::LossParams in "loss.wgsl" { n, inner, t_mode, g_full, scale, target_value, lambda, eps }),
        rust_layout!(optim::OptimParams in "optim1.wgsl" {
            n, count, decoupled, first, nesterov, _pad0, _pad1, _pad2, lr, beta1, beta2, eps, weight_decay, bc1, bc2,
            momentum, dampening, _pad3, _pad4, _pad5, starts, offsets
        }),
        rust_layout!(optim::OptimParams in "optim16.wgsl" {
            n, count, decoupled, first, nesterov, _pad0, _pad1, _pad2, lr, beta1, beta2, eps, weight_decay, bc1, bc2,
            momentum, dampening, _pad3, _pad4, _pad5, starts, offsets
        }),
    ];
    // Every source's uniform struct is covered.
    for s in every_source() {
        assert!(
            layouts.iter().any(|l| l.file == s.file),
            "{}: no layout check for its Params struct",
            s.file
        );
    }
    for l in &layouts {
        check_layout(l);
    }
}

/// The checker itself catches mismatches, on hand-written WGSL against the
/// real Rust structs.
fn check_against(wgsl: &str, rust: &RustLayout) {
    let module = naga::front::wgsl::parse_str(wgsl).expect("parse");
    check_layout_in(&module, rust);
}

#[test]
#[should_panic(expected = "UnaryParams.alpha: WGSL scalar kind")]
fn layout_check_detects_a_kind_mismatch() {
    let wgsl = "struct UnaryParams { n: u32, op: u32, alpha: u32, beta: f32 }\n\
                @group(0) @binding(0) var<uniform> p: UnaryParams;";
    check_against(
        wgsl,
        &rust_layout!(unary::UnaryParams in "unary.wgsl" { n, op, alpha, beta }),
    );
}

#[test]
#[should_panic(expected = "FillParams: member names and order differ")]
fn layout_check_detects_a_reordering() {
    let wgsl = "struct FillParams { value: f32, n: u32, _pad0: u32, _pad1: u32 }\n\
                @group(0) @binding(0) var<uniform> p: FillParams;";
    check_against(
        wgsl,
        &rust_layout!(fill::FillParams in "fill.wgsl" { n, value, _pad0, _pad1 }),
    );
}

#[test]
#[should_panic(expected = "UnaryParams.op: WGSL offset 8 vs Rust offset_of 4")]
fn layout_check_detects_an_offset_mismatch() {
    let wgsl = "struct UnaryParams { n: u32, @align(8) op: u32, alpha: f32, beta: f32 }\n\
                @group(0) @binding(0) var<uniform> p: UnaryParams;";
    check_against(
        wgsl,
        &rust_layout!(unary::UnaryParams in "unary.wgsl" { n, op, alpha, beta }),
    );
}

#[test]
#[should_panic(expected = "UnaryParams: WGSL span 32 vs Rust size_of 16")]
fn layout_check_detects_a_size_mismatch() {
    let wgsl = "struct UnaryParams { @align(32) n: u32, op: u32, alpha: f32, beta: f32 }\n\
                @group(0) @binding(0) var<uniform> p: UnaryParams;";
    check_against(
        wgsl,
        &rust_layout!(unary::UnaryParams in "unary.wgsl" { n, op, alpha, beta }),
    );
}

#[test]
#[should_panic(expected = "is not the type of the uniform at @group(0) @binding(0)")]
fn layout_check_detects_an_unbound_struct() {
    let wgsl = "struct UnaryParams { n: u32, op: u32, alpha: f32, beta: f32 }\n\
                @group(0) @binding(1) var<uniform> p: UnaryParams;";
    check_against(
        wgsl,
        &rust_layout!(unary::UnaryParams in "unary.wgsl" { n, op, alpha, beta }),
    );
}

// ---------------------------------------------------------------- mirrored constants

/// Every `const` a source declares, by name, with its value.
fn wgsl_consts(module: &Module, file: &str) -> Vec<(String, i128)> {
    module
        .constants
        .iter()
        .filter_map(|(_, c)| {
            let name = c.name.clone()?;
            let value = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v as i128,
                naga::Expression::Literal(naga::Literal::I32(v)) => v as i128,
                naga::Expression::Literal(naga::Literal::AbstractInt(v)) => v as i128,
                ref other => panic!("{file}: const {name} is not an integer literal: {other:?}"),
            };
            Some((name, value))
        })
        .collect()
}

/// The last segment of a stringified Rust path.
fn last_segment(path: &'static str) -> &'static str {
    path.rsplit("::").next().unwrap_or(path).trim()
}

/// (WGSL name, Rust value) pairs from Rust paths whose last segment is the
/// WGSL name.
macro_rules! mirrors {
    ($($($seg:ident)::+),* $(,)?) => {
        [$((last_segment(stringify!($($seg)::+)), ($($seg)::+) as i128)),*]
    };
}

/// One file's `const`s: those Rust mirrors (WGSL name, Rust value), and those
/// it keeps to itself.
struct FileConsts {
    file: &'static str,
    mirrored: Vec<(&'static str, i128)>,
    own: &'static [&'static str],
}

/// The `const`s of every file that declares any.
fn mirrored_consts() -> Vec<FileConsts> {
    use balgan::kernels::binary::op_codes::*;
    use balgan::kernels::unary::op_codes::*;
    use balgan::kernels::{batchnorm, conv2d, matmul, reduce, softmax};
    let file = |file, mirrored: &[(&'static str, i128)], own| FileConsts {
        file,
        mirrored: mirrored.to_vec(),
        own,
    };
    vec![
        file("common.wgsl", &mirrors![balgan::kernels::WG], &[]),
        // BK, the K step, only appears in the launcher's comments.
        file("gemm_tile.wgsl", &mirrors![matmul::TILE], &["BK"]),
        file("conv2d.wgsl", &[("RUN", conv2d::CONV_RUN as i128)], &[]),
        // PER_THREAD: elements one reduce_rows invocation adds (ROW_CHUNK / WG).
        file(
            "reduce.wgsl",
            &mirrors![reduce::ROW_CHUNK, reduce::MID_CHUNK],
            &["PER_THREAD"],
        ),
        file("softmax.wgsl", &mirrors![softmax::ROW_WG], &[]),
        file(
            "batchnorm.wgsl",
            &mirrors![
                batchnorm::HAS_WEIGHT,
                batchnorm::HAS_BIAS,
                batchnorm::TRAINING,
                batchnorm::GROUP_CHUNK,
                batchnorm::MERGE
            ],
            &[],
        ),
        file(
            "unary.wgsl",
            &mirrors![
                OP_NEG,
                OP_EXP,
                OP_LOG,
                OP_SQRT,
                OP_RSQRT,
                OP_ABS,
                OP_RELU,
                OP_LEAKY_RELU,
                OP_SIGMOID,
                OP_TANH,
                OP_POWF,
                OP_AFFINE,
                OP_SIGN,
                OP_STEP,
                OP_LEAKY_MASK,
                OP_RECIP,
                OP_RELU_MASK
            ],
            &[],
        ),
        file(
            "binary.wgsl",
            &mirrors![OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE],
            &[],
        ),
    ]
}

/// The constants of `file` (a source, or a fragment read from `source`'s
/// module) against their Rust mirrors: every mirrored name is declared with
/// the Rust value, and every declared name is either mirrored or listed as
/// WGSL-only. Each mismatch panics with the name.
fn check_consts(declared: &[(String, i128)], file: &str, mirrored: &[(&str, i128)], own: &[&str]) {
    for (name, rust) in mirrored {
        let wgsl = declared
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{file}: no const {name} (Rust has {rust})"))
            .1;
        assert_eq!(wgsl, *rust, "{file}: const {name} is {wgsl} in WGSL but {rust} in Rust");
    }
    for (name, _) in declared {
        assert!(
            mirrored.iter().any(|(n, _)| n == name) || own.contains(&name.as_str()),
            "{file}: const {name} is neither checked against Rust nor listed as WGSL-only"
        );
    }
}

/// The consts `file` declares itself (read from the module of a source that
/// includes it, so fragments are covered once).
fn own_consts(file: &str) -> Vec<(String, i128)> {
    let src = match file {
        "common.wgsl" => source("fill.wgsl"),
        "gemm_tile.wgsl" => source("matmul.wgsl"),
        f => source(f),
    };
    let text = std::fs::read_to_string(shaders_dir().join(file)).unwrap_or_else(|e| panic!("read shaders/{file}: {e}"));
    let declares = |name: &str| {
        let decl = format!("const {name}:");
        text.lines().any(|l| l.trim_start().starts_with(&decl))
    };
    wgsl_consts(&parse(&src), src.file)
        .into_iter()
        .filter(|(n, _)| declares(n))
        .collect()
}

#[test]
fn wgsl_consts_match_their_rust_mirrors() {
    let table = mirrored_consts();
    for f in &table {
        check_consts(&own_consts(f.file), f.file, &f.mirrored, f.own);
    }
    // Every source's own constants are covered by the table.
    for s in all_sources() {
        let declared = own_consts(s.file);
        if !declared.is_empty() {
            assert!(
                table.iter().any(|f| f.file == s.file),
                "{}: declares consts {declared:?} but has no entry in mirrored_consts()",
                s.file
            );
        }
    }
}

/// The `switch` of an op-code function has exactly one case per `OP_*`
/// constant, so an op added on one side only fails here.
#[test]
fn op_switches_cover_exactly_the_op_codes() {
    for (file, func) in [("unary.wgsl", "unary"), ("binary.wgsl", "binary")] {
        let module = parse(&source(file));
        let mut codes: Vec<i128> = own_consts(file)
            .into_iter()
            .filter(|(n, _)| n.starts_with("OP_"))
            .map(|(_, v)| v)
            .collect();
        codes.sort_unstable();
        let before = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), before, "{file}: two OP_* constants share a value");
        let (_, f) = module
            .functions
            .iter()
            .find(|(_, f)| f.name.as_deref() == Some(func))
            .unwrap_or_else(|| panic!("{file}: no function {func}"));
        let mut cases: Vec<i128> = f
            .body
            .iter()
            .find_map(|st| match st {
                naga::Statement::Switch { cases, .. } => Some(cases),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{file}: {func} has no switch"))
            .iter()
            .filter_map(|c| match c.value {
                naga::SwitchValue::U32(v) => Some(v as i128),
                naga::SwitchValue::I32(v) => Some(v as i128),
                naga::SwitchValue::Default => None,
            })
            .collect();
        cases.sort_unstable();
        assert_eq!(cases, codes, "{file}: the cases of {func} are not the OP_* codes");
    }
}

#[test]
#[should_panic(expected = "unary.wgsl: const OP_EXP is 7 in WGSL but 1 in Rust")]
fn const_check_detects_a_value_mismatch() {
    let declared = [("OP_NEG".to_string(), 0), ("OP_EXP".to_string(), 7)];
    check_consts(
        &declared,
        "unary.wgsl",
        &mirrors![
            balgan::kernels::unary::op_codes::OP_NEG,
            balgan::kernels::unary::op_codes::OP_EXP
        ],
        &[],
    );
}

#[test]
#[should_panic(expected = "batchnorm.wgsl: no const MERGE")]
fn const_check_detects_a_missing_const() {
    let declared = [("GROUP_CHUNK".to_string(), 4096)];
    check_consts(
        &declared,
        "batchnorm.wgsl",
        &mirrors![
            balgan::kernels::batchnorm::GROUP_CHUNK,
            balgan::kernels::batchnorm::MERGE
        ],
        &[],
    );
}

#[test]
#[should_panic(expected = "reduce.wgsl: const EXTRA is neither checked against Rust nor listed as WGSL-only")]
fn const_check_detects_an_unmirrored_const() {
    let declared = [("ROW_CHUNK".to_string(), 4096), ("EXTRA".to_string(), 3)];
    check_consts(
        &declared,
        "reduce.wgsl",
        &mirrors![balgan::kernels::reduce::ROW_CHUNK],
        &[],
    );
}
