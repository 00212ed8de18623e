// The viewer's mesh pass: triangles with per-vertex colours, lit by a headlight, drawn into the
// viewport's RGBA8 image with a depth buffer. kiln's cameras are pinhole cameras in OpenCV axes
// (x right, y down, z forward; pixel centres at +0.5), so the projection is written from fx, fy,
// cx, cy directly rather than from a GL-style matrix.
//
// The host reference is kiln_viewer::scenes::mesh::reference_render (a CPU rasterizer of the
// same math); keep the two in step.
//
// Modes: 0 colour (vertex colour × (ambient + (1 − ambient)·|n·v|), two-sided), 1 depth (camera
// z over `range`, near bright → far dark), 2 alpha (1 where a triangle covers the pixel).

struct MeshUniforms {
    world_to_camera: mat4x4<f32>,
    intrinsics: vec4<f32>,  // fx, fy, cx, cy (pixels)
    viewport: vec4<f32>,    // width, height, near, far
    shading: vec4<f32>,     // ambient, depth range near, depth range far, mode
}

@group(0) @binding(0) var<uniform> u: MeshUniforms;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec3<f32>,
}

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) camera_pos: vec3<f32>,
    @location(1) camera_normal: vec3<f32>,
    @location(2) color: vec3<f32>,
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let p = (u.world_to_camera * vec4<f32>(v.position, 1.0)).xyz;
    let n = (u.world_to_camera * vec4<f32>(v.normal, 0.0)).xyz;
    let w = u.viewport.x;
    let h = u.viewport.y;
    let near = u.viewport.z;
    let far = u.viewport.w;
    var out: VertexOut;
    // Pixel u = fx x/z + cx maps to NDC 2u/w − 1; NDC y points up, image rows down.
    out.clip = vec4<f32>(
        (2.0 * u.intrinsics.x / w) * p.x + (2.0 * u.intrinsics.z / w - 1.0) * p.z,
        -(2.0 * u.intrinsics.y / h) * p.y + (1.0 - 2.0 * u.intrinsics.w / h) * p.z,
        far / (far - near) * (p.z - near),
        p.z,
    );
    out.camera_pos = p;
    out.camera_normal = n;
    out.color = v.color;
    return out;
}

@fragment
fn fs_main(f: VertexOut) -> @location(0) vec4<f32> {
    let mode = u32(u.shading.w);
    var rgb = vec3<f32>(1.0);
    if (mode == 0u) {
        let n = normalize(f.camera_normal);
        let view = normalize(-f.camera_pos);
        let ambient = u.shading.x;
        rgb = f.color * (ambient + (1.0 - ambient) * abs(dot(n, view)));
    } else if (mode == 1u) {
        let t = clamp((f.camera_pos.z - u.shading.y) / max(u.shading.z - u.shading.y, 1e-12), 0.0, 1.0);
        rgb = vec3<f32>(1.0 - t);
    }
    return vec4<f32>(clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0)), 1.0);
}
