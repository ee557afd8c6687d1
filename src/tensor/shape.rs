//! Shape arithmetic: element counts, contiguous strides, broadcasting, axes.

use crate::error::{Error, Result};

/// The most axes a tensor may have.
pub const MAX_TENSOR_RANK: usize = 6;

/// Row-major (contiguous) strides of `shape`, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc = 1;
    for (s, &d) in strides.iter_mut().zip(shape).rev() {
        *s = acc;
        acc *= d;
    }
    strides
}

/// The shape two operands broadcast to (NumPy rules: align right, 1 stretches).
pub fn broadcast_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = if da == db {
            da
        } else if da == 1 {
            db
        } else if db == 1 {
            da
        } else {
            return Err(Error::shape(
                op,
                a,
                b,
                &format!("axis {i} of the broadcast result: {da} vs {db}"),
            ));
        };
    }
    Ok(out)
}

/// Strides that read a contiguous tensor of shape `from` as if it had shape
/// `to` (which `from` broadcasts to): 0 on stretched or missing axes.
pub fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<usize> {
    let own = contiguous_strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|i| {
            if i < lead || from[i - lead] == 1 && to[i] != 1 {
                0
            } else {
                own[i - lead]
            }
        })
        .collect()
}

/// Normalise a possibly negative axis against `rank`.
pub fn axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as isize } else { axis };
    if a < 0 || a as usize >= rank {
        return Err(Error::invalid(
            op,
            format!("axis {axis} is out of range for a tensor of rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// Normalised, sorted, de-duplicated axes.
pub fn axes(op: &'static str, list: &[isize], rank: usize) -> Result<Vec<usize>> {
    let mut out = list.iter().map(|&a| axis(op, a, rank)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

pub(crate) fn check_rank(op: &'static str, shape: &[usize]) -> Result<()> {
    if shape.len() > MAX_TENSOR_RANK {
        return Err(Error::invalid(
            op,
            format!(
                "rank {} exceeds the maximum of {MAX_TENSOR_RANK} (shape {shape:?})",
                shape.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy_rules() {
        assert_eq!(broadcast_shape("t", &[3, 1, 5], &[4, 1]).unwrap(), vec![3, 4, 5]);
        assert_eq!(broadcast_shape("t", &[], &[2, 3]).unwrap(), vec![2, 3]);
        assert!(broadcast_shape("t", &[3, 2], &[3]).is_err());
        assert_eq!(broadcast_strides(&[4, 1], &[3, 4, 5]), vec![0, 1, 0]);
        assert_eq!(contiguous_strides(&[2, 3, 4]), vec![12, 4, 1]);
    }

    #[test]
    fn axes_are_normalised() {
        assert_eq!(axes("t", &[-1, 0, 2], 3).unwrap(), vec![0, 2]);
        assert!(axis("t", 3, 3).is_err());
        assert!(axis("t", -4, 3).is_err());
    }
}
