//! The command recorder: every op records its dispatch here and returns at once.
//!
//! Dispatches go into one long-lived compute pass of one command encoder. The
//! batch is submitted when it holds `BATCH` dispatches, or when the host needs
//! data back (readback) — never per op. Each dispatch's small `Params` block is
//! appended to a host-side staging area and lands, with one `write_buffer`, in
//! a uniform "parameter ring" buffer right before the batch is submitted; the
//! dispatch binds its slot by dynamic offset. Three ring buffers rotate so that
//! the next batch can be written while the GPU still reads the previous one.

use super::pipelines::CachedPipeline;
use crate::error::{Error, Result};

/// Size of one parameter slot: every kernel's `Params` must fit.
pub(crate) const PARAM_SLOT: u64 = 256;
/// Dispatches per submitted batch.
pub(crate) const BATCH: usize = 512;
const RINGS: usize = 3;

pub(crate) struct Recorder {
    // Field order matters: the pass must drop before its encoder.
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    staging: Vec<u8>,
    rings: Vec<wgpu::Buffer>,
    ring: usize,
    slot: u64,
    dispatches: usize,
    /// Dispatches recorded since the device was created (for benches and tests).
    pub(crate) total_dispatches: u64,
    pub(crate) submissions: u64,
}

impl Recorder {
    pub(crate) fn new(device: &wgpu::Device, align: u32) -> Recorder {
        let slot = PARAM_SLOT.max(align as u64);
        let rings = (0..RINGS)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("balgan params ring"),
                    size: slot * BATCH as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        Recorder {
            pass: None,
            encoder: None,
            staging: Vec::with_capacity((slot as usize) * BATCH),
            rings,
            ring: 0,
            slot,
            dispatches: 0,
            total_dispatches: 0,
            submissions: 0,
        }
    }

    fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("balgan batch"),
            })
        })
    }

    /// The encoder, with any open compute pass ended (for copies).
    pub(crate) fn encoder_for_copy(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.pass = None;
        self.encoder(device)
    }

    /// Record one dispatch. Submits first if the batch is full.
    pub(crate) fn dispatch(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pipeline: &CachedPipeline,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        workgroups: [u32; 3],
    ) -> Result<()> {
        if params.len() as u64 > PARAM_SLOT {
            return Err(Error::Gpu(format!(
                "kernel parameters of {} bytes exceed the {PARAM_SLOT}-byte slot",
                params.len()
            )));
        }
        if self.dispatches == BATCH {
            self.submit(queue);
        }
        let offset = self.staging.len() as u64;
        debug_assert_eq!(offset, self.dispatches as u64 * self.slot);
        self.staging.extend_from_slice(params);
        self.staging.resize((offset + self.slot) as usize, 0);

        let mut entries = Vec::with_capacity(buffers.len() + 1);
        entries.push(wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.rings[self.ring],
                offset: 0,
                size: wgpu::BufferSize::new(PARAM_SLOT),
            }),
        });
        for (i, b) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 1 + i as u32,
                resource: b.as_entire_binding(),
            });
        }
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.layout,
            entries: &entries,
        });
        if self.pass.is_none() {
            let pass = self
                .encoder(device)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("balgan pass"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            self.pass = Some(pass);
        }
        let pass = self.pass.as_mut().expect("pass was just opened");
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[offset as u32]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        self.dispatches += 1;
        self.total_dispatches += 1;
        Ok(())
    }

    /// Submit everything recorded so far. Returns the submission index, if any work was sent.
    pub(crate) fn submit(&mut self, queue: &wgpu::Queue) -> Option<wgpu::SubmissionIndex> {
        self.pass = None;
        let encoder = self.encoder.take()?;
        if !self.staging.is_empty() {
            queue.write_buffer(&self.rings[self.ring], 0, &self.staging);
            self.staging.clear();
            self.ring = (self.ring + 1) % self.rings.len();
        }
        self.dispatches = 0;
        self.submissions += 1;
        Some(queue.submit([encoder.finish()]))
    }
}
