//! Symmetric eigendecomposition by cyclic Jacobi rotations in f64: the CPU
//! reference for the GPU matrix square root, used by the tests
//! (`kernels-tests/fid.rs`, through `common`) and by `benches/sqrtm.rs`
//! (included by path). Plain loops, one thread.

/// Eigenvalues and eigenvectors of a symmetric n×n matrix (row-major) by
/// cyclic Jacobi rotations, to f64 round-off. Returns (λ, Vᵀ): row k of Vᵀ
/// (row-major n×n) is the unit eigenvector of λ_k; the λ are unsorted.
pub fn jacobi_eigh(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    // V stored transposed (row k = eigenvector k) so rotations touch rows.
    let mut vt = vec![0.0; n * n];
    for i in 0..n {
        vt[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        if off <= 1e-30 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Rows p, q, then columns p, q (A stays symmetric).
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (vp, vq) = (vt[p * n + k], vt[q * n + k]);
                    vt[p * n + k] = c * vp - s * vq;
                    vt[q * n + k] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), vt)
}

/// √A = V·diag(√λ)·Vᵀ = Σ_k √λ_k·v_k·v_kᵀ of a symmetric positive
/// semi-definite A, in f64; negative eigenvalues (round-off) count as 0.
pub fn sqrt_ref(a: &[f64], n: usize) -> Vec<f64> {
    let (w, vt) = jacobi_eigh(a, n);
    let mut out = vec![0.0; n * n];
    for k in 0..n {
        let r = w[k].max(0.0).sqrt();
        let v = &vt[k * n..(k + 1) * n];
        for i in 0..n {
            let vi = r * v[i];
            let row = &mut out[i * n..(i + 1) * n];
            for j in 0..n {
                row[j] += vi * v[j];
            }
        }
    }
    out
}
