use crate::{shaders, GpuContext, GpuError};
use std::collections::HashSet;
use std::sync::Arc;

/// WebGPU's limit of workgroups per dispatch dimension; larger 1-D grids fold into 2-D.
pub const MAX_WORKGROUPS_PER_DIM: u32 = 65_535;

/// Workgroup grid for `workgroups` 1-D groups: (x, y) with x ≤ 65,535. Kernels recover the
/// linear id as `wid.x + wid.y * num_workgroups.x` and return past their count.
pub fn dispatch_size(workgroups: u32) -> (u32, u32) {
    if workgroups <= MAX_WORKGROUPS_PER_DIM {
        (workgroups.max(1), 1)
    } else {
        (MAX_WORKGROUPS_PER_DIM, workgroups.div_ceil(MAX_WORKGROUPS_PER_DIM))
    }
}

/// A compute pipeline for one entry point of one shader file.
///
/// The source goes through a small preprocessor first:
/// - `#include "file.wgsl"` inlines another file of `shaders/` (once per kernel);
/// - `#ifdef NAME` / `#ifndef NAME` / `#else` / `#endif` keep or drop lines;
/// - `{{NAME}}` is replaced by a value from `defines`.
///
/// `FLOAT_ATOMICS` and `SUBGROUPS` are defined when the context has them.
/// Bindings are in group 0, numbered in the order [`Kernel::bind`] receives the buffers; every
/// declared binding must be used by the entry point (the layout is derived from the shader).
#[derive(Clone)]
pub struct Kernel {
    pub name: String,
    pipeline: Arc<wgpu::ComputePipeline>,
}

impl Kernel {
    pub fn new(ctx: &GpuContext, file: &str, entry: &str, defines: &[(&str, String)]) -> Result<Kernel, GpuError> {
        let mut all: Vec<(String, String)> =
            defines.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        if ctx.float_atomics {
            all.push(("FLOAT_ATOMICS".into(), String::new()));
        }
        if ctx.subgroups {
            all.push(("SUBGROUPS".into(), String::new()));
        }
        all.sort();
        let key = format!("{file}:{entry}:{all:?}");
        let name = format!("{file}:{entry}");
        if let Some(p) = ctx.kernels.lock().unwrap().get(&key) {
            return Ok(Kernel { name, pipeline: p.clone() });
        }
        let source = preprocess(file, &all)?;
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(&name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(&name),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Shader { name, message: err.to_string() });
        }
        let pipeline = Arc::new(pipeline);
        ctx.kernels.lock().unwrap().insert(key, pipeline.clone());
        Ok(Kernel { name, pipeline })
    }

    /// A bind group: `buffers[i]` at binding i of group 0.
    pub fn bind(&self, ctx: &GpuContext, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let layout = self.pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &layout,
            entries: &entries,
        })
    }

    /// A bind group from explicit resources (e.g. a sub-range of a buffer holding one record per
    /// dispatch): `resources[i]` at binding i of group 0.
    pub fn bind_resources(&self, ctx: &GpuContext, resources: &[wgpu::BindingResource<'_>]) -> wgpu::BindGroup {
        let layout = self.pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry { binding: i as u32, resource: r.clone() })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &layout,
            entries: &entries,
        })
    }

    /// Records a dispatch of `workgroups` 1-D workgroups (folded into 2-D past 65,535).
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind: &wgpu::BindGroup, workgroups: u32) {
        if workgroups == 0 {
            return;
        }
        let (x, y) = dispatch_size(workgroups);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(x, y, 1);
    }

    /// Records a dispatch of an explicit 3-D grid of workgroups (tiled kernels whose workgroup
    /// id names a tile; each dimension at most 65,535).
    pub fn dispatch_grid(&self, pass: &mut wgpu::ComputePass<'_>, bind: &wgpu::BindGroup, grid: [u32; 3]) {
        if grid.contains(&0) {
            return;
        }
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
    }

    /// Records a dispatch whose size the GPU wrote into `args` at byte `offset` (3 × u32).
    pub fn dispatch_indirect(&self, pass: &mut wgpu::ComputePass<'_>, bind: &wgpu::BindGroup, args: &wgpu::Buffer, offset: u64) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups_indirect(args, offset);
    }

    pub fn pipeline(&self) -> &wgpu::ComputePipeline {
        &self.pipeline
    }
}

fn preprocess(file: &str, defines: &[(String, String)]) -> Result<String, GpuError> {
    let mut out = String::new();
    let mut included = HashSet::new();
    expand(file, defines, &mut included, &mut out)?;
    for (k, v) in defines {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    if let Some(pos) = out.find("{{") {
        let end = out[pos..].find("}}").map_or(out.len(), |e| pos + e + 2);
        return Err(GpuError::Shader { name: file.into(), message: format!("no value given for {}", &out[pos..end]) });
    }
    Ok(out)
}

fn expand(file: &str, defines: &[(String, String)], included: &mut HashSet<String>, out: &mut String) -> Result<(), GpuError> {
    if !included.insert(file.to_string()) {
        return Ok(());
    }
    let err = |message: String| GpuError::Shader { name: file.into(), message };
    let src = shaders::source(file).ok_or_else(|| err("no such shader in shaders/".into()))?;
    // Stack of (this branch active, some branch of this #if already taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|(a, _)| *a);
    for (lineno, line) in src.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("#ifdef ").or_else(|| t.strip_prefix("#ifndef ")) {
            let defined = defines.iter().any(|(k, _)| k == rest.trim());
            let on = if t.starts_with("#ifdef") { defined } else { !defined };
            stack.push((on, on));
        } else if t.starts_with("#else") {
            let top = stack.last_mut().ok_or_else(|| err(format!("line {}: #else without #if", lineno + 1)))?;
            *top = (!top.1, true);
        } else if t.starts_with("#endif") {
            stack.pop().ok_or_else(|| err(format!("line {}: #endif without #if", lineno + 1)))?;
        } else if let Some(rest) = t.strip_prefix("#include ") {
            if active(&stack) {
                expand(rest.trim().trim_matches('"'), defines, included, out)?;
            }
        } else if active(&stack) {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !stack.is_empty() {
        return Err(err("unterminated #ifdef".into()));
    }
    Ok(())
}
