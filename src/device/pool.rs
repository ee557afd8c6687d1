//! Buffer pool: storage buffers are grouped by size class and reused once the
//! last tensor using them is dropped. Queue order makes reuse safe: a buffer
//! handed out again is only touched by work recorded after the earlier work.

use std::collections::HashMap;
use std::sync::Mutex;

/// Usage of every tensor buffer: bound as storage, copied to and from.
pub(crate) const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Round a byte size up to its class: four classes per power of two, so at most
/// 25% is wasted; never below 256 bytes.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let top = 63 - bytes.leading_zeros() as u64; // floor(log2)
    let step = 1u64 << top.saturating_sub(2);
    bytes.div_ceil(step) * step
}

#[derive(Default)]
struct PoolState {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    /// Bytes currently held by live tensors.
    in_use: u64,
    /// Bytes sitting in the free lists.
    cached: u64,
    /// Largest `in_use + cached` seen.
    peak: u64,
}

/// Memory statistics of the pool, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    /// Held by live tensors.
    pub in_use: u64,
    /// Freed by tensors and kept for reuse.
    pub cached: u64,
    /// Largest total ever allocated from the driver.
    pub peak: u64,
}

#[derive(Default)]
pub(crate) struct BufferPool {
    state: Mutex<PoolState>,
}

impl BufferPool {
    /// A buffer of at least `bytes`, from the free list if one of that class is there.
    pub(crate) fn take(&self, device: &wgpu::Device, bytes: u64) -> (wgpu::Buffer, u64) {
        let class = size_class(bytes);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.in_use += class;
        if let Some(buf) = st.free.get_mut(&class).and_then(|v| v.pop()) {
            st.cached -= class;
            return (buf, class);
        }
        st.peak = st.peak.max(st.in_use + st.cached);
        drop(st);
        let buf = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("balgan tensor"),
            size: class,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        });
        (buf, class)
    }

    pub(crate) fn give_back(&self, buf: wgpu::Buffer, class: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.in_use -= class;
        st.cached += class;
        st.free.entry(class).or_default().push(buf);
    }

    /// Drop every cached buffer (memory goes back to the driver).
    pub(crate) fn clear(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.free.clear();
        st.cached = 0;
    }

    /// Restart the peak from what is allocated now (`in_use + cached`).
    pub(crate) fn reset_peak(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.peak = st.in_use + st.cached;
    }

    pub(crate) fn stats(&self) -> MemoryStats {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        MemoryStats {
            in_use: st.in_use,
            cached: st.cached,
            peak: st.peak,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_the_request_and_waste_at_most_a_quarter() {
        for bytes in [1u64, 255, 256, 257, 1000, 4096, 4097, 123_457, 1 << 27] {
            let c = size_class(bytes);
            assert!(c >= bytes && c >= 256, "{bytes} -> {c}");
            assert!(bytes < 256 || c as f64 <= bytes as f64 * 1.25 + 1.0, "{bytes} -> {c}");
            assert_eq!(c % 4, 0);
        }
    }
}
