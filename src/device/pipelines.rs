//! Pipeline cache: one shader module per WGSL source, one pipeline per
//! (source, entry point, override constants), one bind-group layout per
//! binding shape. All created once, on first use.
//!
//! Binding convention shared by every kernel: `@binding(0)` is the kernel's
//! `Params` uniform (dynamic offset), then `inputs` read-only storage buffers,
//! then `outputs` read-write storage buffers, numbered in that order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// A WGSL source known to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShaderSource {
    /// File name under `shaders/`, used in error messages and labels.
    pub file: &'static str,
    /// The WGSL text.
    pub wgsl: &'static str,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct PipelineKey {
    file: &'static str,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
    inputs: u32,
    outputs: u32,
}

pub(crate) struct CachedPipeline {
    pub(crate) pipeline: wgpu::ComputePipeline,
    pub(crate) layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    layouts: Mutex<HashMap<(u32, u32), (wgpu::BindGroupLayout, wgpu::PipelineLayout)>>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<CachedPipeline>>>,
}

fn layout_for(device: &wgpu::Device, inputs: u32, outputs: u32) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: true,
            // Bound as one fixed-size slot of the parameter ring (see recorder.rs).
            min_binding_size: None,
        },
        count: None,
    }];
    for i in 0..inputs + outputs {
        entries.push(wgpu::BindGroupLayoutEntry {
            binding: 1 + i,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: i < inputs },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        });
    }
    let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("balgan bind group layout"),
        entries: &entries,
    });
    let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("balgan pipeline layout"),
        bind_group_layouts: &[Some(&bgl)],
        immediate_size: 0,
    });
    (bgl, pl)
}

impl PipelineCache {
    pub(crate) fn get(
        &self,
        device: &wgpu::Device,
        source: ShaderSource,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        inputs: u32,
        outputs: u32,
    ) -> Result<Arc<CachedPipeline>> {
        let key = PipelineKey {
            file: source.file,
            entry,
            constants: constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
            inputs,
            outputs,
        };
        if let Some(p) = self.pipelines.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        // Compile outside the map lock's hot path; a race compiles twice, harmlessly.
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            modules
                .entry(source.file)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(source.file),
                        source: wgpu::ShaderSource::Wgsl(source.wgsl.into()),
                    })
                })
                .clone()
        };
        let (bgl, pl) = {
            let mut layouts = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
            layouts
                .entry((inputs, outputs))
                .or_insert_with(|| layout_for(device, inputs, outputs))
                .clone()
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pl),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            // A broken module stays broken: forget it so the error repeats clearly.
            self.modules
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(source.file);
            return Err(Error::Shader {
                file: source.file,
                message: format!("entry point '{entry}': {err}"),
            });
        }
        let cached = Arc::new(CachedPipeline { pipeline, layout: bgl });
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, cached.clone());
        Ok(cached)
    }
}
