//! Plain-loop f64 references for every kernel. Written from the definitions,
//! not from the kernels: index arithmetic is explicit multi-index iteration.

pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// All multi-indices of `shape` in row-major order.
pub fn indices(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0; shape.len()];
    for _ in 0..n {
        out.push(idx.clone());
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

pub fn offset(idx: &[usize], shape: &[usize]) -> usize {
    let s = strides(shape);
    idx.iter().zip(&s).map(|(i, s)| i * s).sum()
}

pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let r = a.len().max(b.len());
    (0..r)
        .map(|i| {
            let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
            let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
            if da == 1 {
                db
            } else {
                da
            }
        })
        .collect()
}

/// Element of `x` (shape `s`) read at output index `idx` under broadcasting.
pub fn read_broadcast(x: &[f64], s: &[usize], idx: &[usize]) -> f64 {
    let lead = idx.len() - s.len();
    let own: Vec<usize> = s
        .iter()
        .enumerate()
        .map(|(i, &d)| if d == 1 { 0 } else { idx[lead + i] })
        .collect();
    x[offset(&own, s)]
}

pub fn unary(x: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    x.iter().map(|&v| f(v)).collect()
}

pub fn binary(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], f: impl Fn(f64, f64) -> f64) -> (Vec<f64>, Vec<usize>) {
    let shape = broadcast_shape(sa, sb);
    let out = indices(&shape)
        .iter()
        .map(|i| f(read_broadcast(a, sa, i), read_broadcast(b, sb, i)))
        .collect();
    (out, shape)
}

pub fn broadcast_to(x: &[f64], s: &[usize], to: &[usize]) -> Vec<f64> {
    indices(to).iter().map(|i| read_broadcast(x, s, i)).collect()
}

/// Reduce over `axes` with `f` starting from `init`; result keeps the axes as size 1.
pub fn reduce(
    x: &[f64],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let kept: Vec<usize> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect();
    let mut out = vec![init; kept.iter().product()];
    for (n, idx) in indices(shape).iter().enumerate() {
        let o: Vec<usize> = idx
            .iter()
            .enumerate()
            .map(|(i, &v)| if axes.contains(&i) { 0 } else { v })
            .collect();
        let k = offset(&o, &kept);
        out[k] = f(out[k], x[n]);
    }
    (out, kept)
}

/// Batched op(A)·op(B) with broadcast batch axes.
pub fn matmul(a: &[f64], sa: &[usize], b: &[f64], sb: &[usize], ta: bool, tb: bool) -> (Vec<f64>, Vec<usize>) {
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k) = if ta {
        (sa[ra - 1], sa[ra - 2])
    } else {
        (sa[ra - 2], sa[ra - 1])
    };
    let n = if tb { sb[rb - 2] } else { sb[rb - 1] };
    let batch = broadcast_shape(&sa[..ra - 2], &sb[..rb - 2]);
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let mut out = vec![0.0; shape.iter().product()];
    let ba = &sa[..ra - 2];
    let bb = &sb[..rb - 2];
    for (z, bi) in indices(&batch).iter().enumerate() {
        let pick = |s: &[usize]| -> usize {
            let lead = bi.len() - s.len();
            let own: Vec<usize> = s
                .iter()
                .enumerate()
                .map(|(i, &d)| if d == 1 { 0 } else { bi[lead + i] })
                .collect();
            offset(&own, s)
        };
        let oa = pick(ba) * m * k;
        let ob = pick(bb) * k * n;
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0;
                for p in 0..k {
                    let av = if ta { a[oa + p * m + i] } else { a[oa + i * k + p] };
                    let bv = if tb { b[ob + j * k + p] } else { b[ob + p * n + j] };
                    acc += av * bv;
                }
                out[z * m * n + i * n + j] = acc;
            }
        }
    }
    (out, shape)
}

pub fn permute(x: &[f64], shape: &[usize], dims: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let out_shape: Vec<usize> = dims.iter().map(|&d| shape[d]).collect();
    let out = indices(&out_shape)
        .iter()
        .map(|oi| {
            let mut src = vec![0; shape.len()];
            for (o, &d) in dims.iter().enumerate() {
                src[d] = oi[o];
            }
            x[offset(&src, shape)]
        })
        .collect();
    (out, out_shape)
}

pub fn narrow(x: &[f64], shape: &[usize], axis: usize, start: usize, len: usize) -> Vec<f64> {
    let mut os = shape.to_vec();
    os[axis] = len;
    indices(&os)
        .iter()
        .map(|i| {
            let mut s = i.clone();
            s[axis] += start;
            x[offset(&s, shape)]
        })
        .collect()
}

pub fn concat(parts: &[(&[f64], &[usize])], axis: usize) -> Vec<f64> {
    let mut shape = parts[0].1.to_vec();
    shape[axis] = parts.iter().map(|p| p.1[axis]).sum();
    indices(&shape)
        .iter()
        .map(|i| {
            let mut pos = i[axis];
            for (x, s) in parts {
                if pos < s[axis] {
                    let mut j = i.clone();
                    j[axis] = pos;
                    return x[offset(&j, s)];
                }
                pos -= s[axis];
            }
            unreachable!()
        })
        .collect()
}

pub fn index_select(x: &[f64], shape: &[usize], axis: usize, idx: &[u32]) -> Vec<f64> {
    let mut os = shape.to_vec();
    os[axis] = idx.len();
    indices(&os)
        .iter()
        .map(|i| {
            let mut s = i.clone();
            s[axis] = idx[i[axis]] as usize;
            x[offset(&s, shape)]
        })
        .collect()
}

pub fn index_add(base: &[f64], shape: &[usize], axis: usize, idx: &[u32], src: &[f64]) -> Vec<f64> {
    let mut out = base.to_vec();
    let mut ss = shape.to_vec();
    ss[axis] = idx.len();
    for (n, i) in indices(&ss).iter().enumerate() {
        let mut d = i.clone();
        d[axis] = idx[i[axis]] as usize;
        out[offset(&d, shape)] += src[n];
    }
    out
}

/// y[i] = x[i with axis replaced by idx[i]]; idx has y's shape.
pub fn gather(x: &[f64], shape: &[usize], axis: usize, idx: &[u32], idx_shape: &[usize]) -> Vec<f64> {
    indices(idx_shape)
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let mut s = i.clone();
            s[axis] = idx[n] as usize;
            x[offset(&s, shape)]
        })
        .collect()
}

/// out = base; out[i with axis replaced by idx[i]] += src[i] for every i of src.
pub fn scatter_add(
    base: &[f64],
    shape: &[usize],
    axis: usize,
    idx: &[u32],
    src: &[f64],
    src_shape: &[usize],
) -> Vec<f64> {
    let mut out = base.to_vec();
    for (n, i) in indices(src_shape).iter().enumerate() {
        let mut d = i.clone();
        d[axis] = idx[n] as usize;
        out[offset(&d, shape)] += src[n];
    }
    out
}
