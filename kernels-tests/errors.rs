//! Bad input gets a clear error, never a panic or a wrong number.

use crate::common::*;
use balgan::{Error, Tensor};

#[test]
fn shape_errors_name_the_op_and_shapes() {
    let a = tensor(&[0.0; 6], &[2, 3]);
    let b = tensor(&[0.0; 8], &[2, 4]);
    let e = a.add(&b).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { op: "add", .. }), "{e}");
    assert!(
        e.to_string().contains("[2, 3]") && e.to_string().contains("[2, 4]"),
        "{e}"
    );
    let e = Tensor::from_slice(dev(), &[1.0, 2.0], &[3]).unwrap_err().to_string();
    assert!(e.contains("needs 3 values but 2 were given"), "{e}");
    assert!(a
        .sum(&[2], false)
        .unwrap_err()
        .to_string()
        .contains("axis 2 is out of range"));
    assert!(a.permute(&[0, 0]).is_err());
    assert!(a.narrow(1, 2, 2).unwrap_err().to_string().contains("outside axis 1"));
    assert!(Tensor::concat(&[&a, &b], 0).is_err());
    assert!(a.item().is_err());
}

#[test]
fn ranks_above_the_maximum_are_rejected() {
    let e = Tensor::zeros(dev(), &[1; 7]).unwrap_err().to_string();
    assert!(e.contains("rank 7 exceeds the maximum of 6"), "{e}");
}

#[test]
fn tensors_beyond_the_binding_limit_are_rejected_before_allocation() {
    let limit = dev().limits().max_storage_buffer_binding_size as usize;
    let n = limit / 4 + 1;
    let e = Tensor::zeros(dev(), &[n]).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
    assert!(e.to_string().contains("exceeds the adapter's limit"), "{e}");
}

#[test]
fn unknown_backends_and_adapters_are_explained() {
    let e = balgan::Device::with_options(balgan::DeviceOptions {
        backend: Some("glide".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown backend 'glide'"), "{e}");
    let e = balgan::Device::with_options(balgan::DeviceOptions {
        adapter: Some("no-such-gpu-xyz".into()),
        quiet: true,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("matching 'no-such-gpu-xyz'") && e.contains("Adapters present"),
        "{e}"
    );
}

#[test]
fn tensors_from_different_devices_do_not_mix() {
    let other = balgan::Device::with_options(balgan::DeviceOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let a = Tensor::ones(dev(), &[2]).unwrap();
    let b = Tensor::ones(&other, &[2]).unwrap();
    assert!(matches!(a.add(&b).unwrap_err(), Error::DeviceMismatch { .. }));
}

#[test]
fn pooled_buffers_are_reused() {
    // A private device, so that other tests' allocations do not count.
    let d = &balgan::Device::with_options(balgan::DeviceOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let before = d.memory_stats();
    for _ in 0..50 {
        let t = Tensor::zeros(d, &[12_345]).unwrap();
        drop(t);
    }
    d.synchronize().unwrap();
    let after = d.memory_stats();
    // 50 allocations of the same size class need one buffer, not 50.
    assert!(
        after.peak <= before.peak + 65_536,
        "peak grew from {} to {}",
        before.peak,
        after.peak
    );
    assert_eq!(after.in_use, before.in_use, "every tensor was dropped");
    assert!(after.cached > 0, "the freed buffer is kept for reuse");
}
