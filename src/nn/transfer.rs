//! Partial weight transfer between modules by name prefix: how BAGAN,
//! BAGAN-GP and SGBGAN start a GAN from a trained autoencoder (decoder →
//! generator, encoder layers → discriminator body).

use std::collections::HashMap;

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Normalise a prefix: no trailing dot; empty selects everything.
fn normalise(prefix: &str) -> &str {
    prefix.trim_end_matches('.')
}

/// The part of `name` below `prefix` (dotted components): `Some("")` when the
/// name is the prefix itself, `None` when it lies outside.
fn below<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(name);
    }
    let rest = name.strip_prefix(prefix)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('.')
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

fn named_tensors(m: &dyn Module) -> Vec<(String, Tensor)> {
    let mut all = m.parameters();
    all.extend(m.buffers());
    all
}

/// Copy every tensor (parameters and buffers) of `src` whose name lies under
/// `src_prefix` into the tensor of `dst` with the same remaining name under
/// `dst_prefix`, in place (optimizer handles on `dst` stay valid). Returns
/// the names (in `dst`) of the tensors written, in `src`'s order.
///
/// Prefixes match whole dotted components: `"1"` selects `1.weight` and
/// `1.bias` but not `10.weight`; a trailing dot is ignored; `""` selects
/// every tensor. A prefix naming one tensor (`"0.weight"`) selects just it.
/// Example: `transfer(&autoencoder, "decoder", &generator, "body")` copies
/// `decoder.0.weight` into `body.0.weight`, and so on.
///
/// Errors (nothing is written unless every check passes): no tensor of `src`
/// under `src_prefix`; a selected tensor with no counterpart in `dst` (all of
/// them listed; narrow the prefix to leave them out); shapes that differ (all
/// of them listed).
pub fn transfer(src: &dyn Module, src_prefix: &str, dst: &dyn Module, dst_prefix: &str) -> Result<Vec<String>> {
    let (sp, dp) = (normalise(src_prefix), normalise(dst_prefix));
    let dst_tensors: HashMap<String, Tensor> = named_tensors(dst).into_iter().collect();
    let mut pairs = Vec::new();
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    for (name, t) in named_tensors(src) {
        let Some(rest) = below(&name, sp) else { continue };
        let target = join(dp, rest);
        match dst_tensors.get(&target) {
            None => missing.push(format!("{name} -> {target}")),
            Some(d) if d.shape() != t.shape() => {
                mismatched.push(format!("{name} {:?} -> {target} {:?}", t.shape(), d.shape()))
            }
            Some(d) => pairs.push((target, t, d.clone())),
        }
    }
    if pairs.is_empty() && missing.is_empty() && mismatched.is_empty() {
        let some: Vec<String> = named_tensors(src).into_iter().take(8).map(|(n, _)| n).collect();
        return Err(Error::invalid(
            "transfer",
            format!("no tensor of the source lies under prefix '{sp}' (its names begin: {some:?})"),
        ));
    }
    let mut problems = Vec::new();
    if !mismatched.is_empty() {
        problems.push(format!("shapes differ: {}", mismatched.join(", ")));
    }
    if !missing.is_empty() {
        problems.push(format!(
            "no destination tensor under '{dp}' for: {} (narrow the source prefix to leave them out)",
            missing.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(Error::invalid(
            "transfer",
            format!("from '{sp}' to '{dp}': {}; nothing was copied", problems.join("; ")),
        ));
    }
    let mut copied = Vec::with_capacity(pairs.len());
    for (name, s, d) in pairs {
        if s.device().same(d.device()) {
            d.assign_(&s)?;
        } else {
            d.assign_slice_(&s.to_vec()?)?;
        }
        copied.push(name);
    }
    Ok(copied)
}
