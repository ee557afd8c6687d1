//! The optimizers' flat state: every parameter's state (Adam's moments, SGD's
//! momentum) in one buffer per kind, parameter i's at an element offset, so
//! that one dispatch updates many parameters ([`crate::kernels::optim`]).
//! Checkpoints still see one tensor per parameter: [`unflatten`] copies the
//! state out, [`flatten_into`] copies it back.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::copy::{launch, View};
use crate::kernels::optim::{multi, slots_per_dispatch, OptimParams, Slot, Update};
use crate::tensor::Tensor;

/// Every parameter an optimizer is given must be a leaf that requires grad
/// (what it updates in place); `op` names the optimizer in the error.
pub(super) fn check_leaves(op: &'static str, params: &[Tensor]) -> Result<()> {
    match params.iter().find(|p| !p.requires_grad() || !p.is_leaf()) {
        Some(p) => Err(Error::invalid(
            op,
            format!("parameter of shape {:?} must be a leaf that requires grad", p.shape()),
        )),
        None => Ok(()),
    }
}

/// Each parameter's element offset in the flat state, and the total.
pub(super) fn flat_offsets(params: &[Tensor]) -> (Vec<usize>, usize) {
    let mut total = 0;
    let offsets = params
        .iter()
        .map(|p| {
            let at = total;
            total += p.numel();
            at
        })
        .collect();
    (offsets, total)
}

/// A zeroed flat state buffer for `params` (`None` without parameters).
pub(super) fn zeroed_state(params: &[Tensor]) -> Result<Option<Tensor>> {
    let Some(first) = params.first() else {
        return Ok(None);
    };
    for p in params {
        p.same_device("optimizer", first)?;
    }
    let total: usize = params.iter().map(Tensor::numel).sum();
    Tensor::zeros(first.device(), &[total.max(1)]).map(Some)
}

/// Each parameter's gradient, checked to have the parameter's element count
/// (the update reads them side by side).
pub(super) fn gradients(what: &'static str, params: &[Tensor]) -> Result<Vec<Option<Tensor>>> {
    params
        .iter()
        .map(|p| {
            let g = p.grad();
            if let Some(g) = &g {
                if g.numel() != p.numel() {
                    return Err(Error::shape(
                        what,
                        g.shape(),
                        p.shape(),
                        "a parameter's gradient must have the parameter's shape",
                    ));
                }
                g.same_device(what, p)?;
            }
            Ok(g)
        })
        .collect()
}

/// Split the parameters to update (index, gradient) into dispatches: at most
/// [`slots_per_dispatch`] each, and never two parameters sharing a buffer in
/// one dispatch (a buffer bound twice as writable would race).
fn dispatch_groups(dev: &Device, params: &[Tensor], todo: &[(usize, Tensor)]) -> Vec<Vec<(usize, Tensor)>> {
    let max = slots_per_dispatch(dev);
    let mut groups: Vec<Vec<(usize, Tensor)>> = Vec::new();
    for (i, g) in todo {
        let fits = groups
            .last()
            .is_some_and(|last| last.len() < max && !last.iter().any(|(j, _)| params[*j].shares_storage(&params[*i])));
        if !fits {
            groups.push(Vec::new());
        }
        if let Some(last) = groups.last_mut() {
            last.push((*i, g.clone()));
        }
    }
    groups
}

/// What the multi-tensor kernel is told of one dispatch's parameters (a
/// group from [`dispatch_groups`]): each gradient, parameter buffer, size and
/// place in the flat state.
fn slots<'a>(params: &'a [Tensor], offsets: &[usize], chunk: &'a [(usize, Tensor)]) -> Vec<Slot<'a>> {
    chunk
        .iter()
        .map(|(i, g)| Slot {
            grad: g.buffer(),
            param: params[*i].buffer(),
            n: params[*i].numel(),
            state_offset: offsets[*i],
        })
        .collect()
}

/// Run `update` with hyper-parameters `p` on the parameters of `todo`
/// (index, gradient), as many dispatches as [`dispatch_groups`] needs, the
/// flat state in `s0` and `s1`.
#[allow(clippy::too_many_arguments)]
pub(super) fn update_groups(
    dev: &Device,
    update: Update,
    p: OptimParams,
    params: &[Tensor],
    offsets: &[usize],
    todo: &[(usize, Tensor)],
    s0: &Tensor,
    s1: &Tensor,
) -> Result<()> {
    for chunk in dispatch_groups(dev, params, todo) {
        multi(
            dev,
            update,
            p,
            &slots(params, offsets, &chunk),
            s0.buffer(),
            s1.buffer(),
        )?;
    }
    Ok(())
}

/// Copies of each parameter's slice of `flat`, shaped like the parameter.
pub(super) fn unflatten(flat: Option<&Tensor>, params: &[Tensor], offsets: &[usize]) -> Result<Vec<Tensor>> {
    let Some(flat) = flat else {
        return Ok(Vec::new());
    };
    params
        .iter()
        .zip(offsets)
        .map(|(p, &at)| {
            let out = Tensor::zeros(p.device(), p.shape())?;
            let n = [p.numel()];
            launch(
                p.device(),
                &n,
                View {
                    buffer: flat.buffer(),
                    offset: at,
                    strides: &[1],
                },
                View {
                    buffer: out.buffer(),
                    offset: 0,
                    strides: &[1],
                },
            )?;
            Ok(out)
        })
        .collect()
}

/// Write `values` (one tensor per parameter, shaped like it) into `flat`.
pub(super) fn flatten_into(
    what: &'static str,
    flat: Option<&Tensor>,
    params: &[Tensor],
    offsets: &[usize],
    values: &[Tensor],
) -> Result<()> {
    if values.len() != params.len() {
        return Err(Error::invalid(
            what,
            format!("{} state tensors given for {} parameters", values.len(), params.len()),
        ));
    }
    for (p, v) in params.iter().zip(values) {
        if p.shape() != v.shape() {
            return Err(Error::shape(
                what,
                v.shape(),
                p.shape(),
                "state must be shaped like its parameter",
            ));
        }
        v.same_device(what, p)?;
    }
    let Some(flat) = flat else {
        return Ok(());
    };
    for ((p, &at), v) in params.iter().zip(offsets).zip(values) {
        let n = [p.numel()];
        launch(
            p.device(),
            &n,
            View {
                buffer: v.buffer(),
                offset: 0,
                strides: &[1],
            },
            View {
                buffer: flat.buffer(),
                offset: at,
                strides: &[1],
            },
        )?;
    }
    Ok(())
}
