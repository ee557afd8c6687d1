//! The backward pass: topological order over the tape, gradient accumulation,
//! and pruning of branches that lead to no requested input.

use std::collections::{HashMap, HashSet};

use super::grad_mode::set_grad_enabled;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Post-order (inputs before the ops that use them) of every tensor reachable
/// from `roots` through nodes, restricted to tensors that require gradients.
fn topo_order(roots: &[&Tensor]) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    // Iterative DFS: (tensor, children pushed?)
    let mut stack: Vec<(Tensor, bool)> = roots
        .iter()
        .filter(|t| t.requires_grad())
        .map(|&t| (t.clone(), false))
        .collect();
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = t.node() {
            for inp in node.inputs.iter().rev() {
                if inp.requires_grad() && !seen.contains(&inp.id()) {
                    stack.push((inp.clone(), false));
                }
            }
        }
    }
    order
}

fn accumulate(grads: &mut HashMap<u64, Tensor>, id: u64, g: Tensor) -> Result<()> {
    let sum = match grads.remove(&id) {
        Some(prev) => prev.add(&g)?,
        None => g,
    };
    grads.insert(id, sum);
    Ok(())
}

/// Run the backward pass from `outputs` (seeded with `seeds`) and return the
/// gradient of every tensor in `targets` (by id), plus leaves when `all_leaves`.
fn run(
    outputs: &[&Tensor],
    seeds: Vec<Tensor>,
    targets: &HashSet<u64>,
    all_leaves: bool,
    create_graph: bool,
) -> Result<(HashMap<u64, Tensor>, Vec<Tensor>)> {
    let order = topo_order(outputs);
    // needed[t]: some target (or leaf) lies at or below t.
    let mut needed: HashSet<u64> = HashSet::new();
    let mut leaves = Vec::new();
    for t in &order {
        let is_target = targets.contains(&t.id()) || (all_leaves && t.is_leaf());
        if all_leaves && t.is_leaf() {
            leaves.push(t.clone());
        }
        let below = t
            .node()
            .is_some_and(|n| n.inputs.iter().any(|i| needed.contains(&i.id())));
        if is_target || below {
            needed.insert(t.id());
        }
    }
    let _mode = set_grad_enabled(create_graph);
    let mut grads: HashMap<u64, Tensor> = HashMap::new();
    for (o, s) in outputs.iter().zip(seeds) {
        if o.requires_grad() {
            accumulate(&mut grads, o.id(), s)?;
        }
    }
    let mut result = HashMap::new();
    for t in order.iter().rev() {
        if !needed.contains(&t.id()) {
            continue;
        }
        let g = if targets.contains(&t.id()) || (all_leaves && t.is_leaf()) {
            // Keep a target's gradient; intermediate ones are consumed.
            let g = grads.get(&t.id()).cloned();
            if let Some(g) = &g {
                result.insert(t.id(), g.clone());
            }
            g
        } else {
            grads.remove(&t.id())
        };
        let (Some(g), Some(node)) = (g, t.node()) else {
            continue;
        };
        let needs: Vec<bool> = node
            .inputs
            .iter()
            .map(|i| i.requires_grad() && needed.contains(&i.id()))
            .collect();
        if !needs.iter().any(|&n| n) {
            continue;
        }
        let input_grads = node.rule.backward(&node.inputs, &g, &needs)?;
        for ((inp, ig), need) in node.inputs.iter().zip(input_grads).zip(&needs) {
            let Some(ig) = ig else { continue };
            if !need {
                continue;
            }
            if ig.shape() != inp.shape() {
                return Err(Error::shape(
                    node.rule.name(),
                    ig.shape(),
                    inp.shape(),
                    "backward produced a gradient whose shape differs from its input",
                ));
            }
            accumulate(&mut grads, inp.id(), ig)?;
        }
    }
    Ok((result, leaves))
}

fn ones_seeds(outputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    outputs
        .iter()
        .map(|o| {
            if o.numel() != 1 {
                return Err(Error::invalid(
                    "grad",
                    format!(
                        "output of shape {:?} is not a scalar; pass grad_outputs with grad_with",
                        o.shape()
                    ),
                ));
            }
            Tensor::ones(o.device(), o.shape())
        })
        .collect()
}

/// Gradients of the sum of scalar `outputs` with respect to `inputs`.
///
/// With `create_graph = true` the returned gradients are on the tape and can
/// be differentiated again. An input the outputs do not depend on gets zeros.
pub fn grad(outputs: &[&Tensor], inputs: &[&Tensor], create_graph: bool) -> Result<Vec<Tensor>> {
    let seeds = ones_seeds(outputs)?;
    grad_inner(outputs, seeds, inputs, create_graph)
}

/// Like [`grad`], with explicit upstream gradients (vector-Jacobian products).
pub fn grad_with(
    outputs: &[&Tensor],
    grad_outputs: &[&Tensor],
    inputs: &[&Tensor],
    create_graph: bool,
) -> Result<Vec<Tensor>> {
    if outputs.len() != grad_outputs.len() {
        return Err(Error::invalid(
            "grad_with",
            format!("{} outputs but {} grad_outputs", outputs.len(), grad_outputs.len()),
        ));
    }
    for (o, g) in outputs.iter().zip(grad_outputs) {
        if o.shape() != g.shape() {
            return Err(Error::shape(
                "grad_with",
                o.shape(),
                g.shape(),
                "grad_output must match its output",
            ));
        }
    }
    grad_inner(
        outputs,
        grad_outputs.iter().map(|&g| g.clone()).collect(),
        inputs,
        create_graph,
    )
}

fn grad_inner(outputs: &[&Tensor], seeds: Vec<Tensor>, inputs: &[&Tensor], create_graph: bool) -> Result<Vec<Tensor>> {
    for i in inputs {
        if !i.requires_grad() {
            return Err(Error::invalid(
                "grad",
                format!("input of shape {:?} does not require grad", i.shape()),
            ));
        }
    }
    let targets: HashSet<u64> = inputs.iter().map(|t| t.id()).collect();
    let (grads, _) = run(outputs, seeds, &targets, false, create_graph)?;
    inputs
        .iter()
        .map(|i| match grads.get(&i.id()) {
            Some(g) => Ok(g.clone()),
            None => i.zeros_like(),
        })
        .collect()
}

impl Tensor {
    /// Backpropagate from this scalar: every leaf that requires a gradient gets
    /// d(self)/d(leaf) added to its [`Tensor::grad`] (gradients accumulate
    /// across calls until [`Tensor::zero_grad`]).
    pub fn backward(&self) -> Result<()> {
        if !self.requires_grad() {
            return Err(Error::invalid(
                "backward",
                "this tensor does not require grad: no input of the computation was a leaf made with \
                 requires_grad_(), or it was computed under no_grad",
            ));
        }
        let seeds = ones_seeds(&[self])?;
        let (grads, leaves) = run(&[self], seeds, &HashSet::new(), true, false)?;
        for leaf in leaves {
            if let Some(g) = grads.get(&leaf.id()) {
                let total = match leaf.grad() {
                    Some(prev) => prev.add(g)?,
                    None => g.detach(),
                };
                leaf.set_grad(Some(total));
            }
        }
        Ok(())
    }
}
