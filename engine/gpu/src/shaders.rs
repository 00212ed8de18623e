//! The WGSL sources in the repository's `shaders/` folder, embedded at build time.
//!
//! Set `KILN_SHADER_DIR` to a folder to load them from disk instead (iterate on a kernel
//! without rebuilding).

macro_rules! shader_table {
    ($($name:literal),* $(,)?) => {
        const EMBEDDED: &[(&str, &str)] = &[
            $(($name, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/", $name)))),*
        ];
    };
}

shader_table!(
    "common.wgsl",
    "scan.wgsl",
    "radix_sort.wgsl",
    "splat_common.wgsl",
    "splat_project.wgsl",
    "splat_gather.wgsl",
    "splat_emit.wgsl",
    "splat_ranges.wgsl",
    "splat_raster.wgsl",
    "splat_raster_backward.wgsl",
    "splat_project_backward.wgsl",
    "image_loss.wgsl",
    "adam.wgsl",
    "fit_sh_pack.wgsl",
    "fit_sh_unpack.wgsl",
    "fit_stats.wgsl",
    "gather_rows.wgsl",
    "flow_common.wgsl",
    "flow_downsample.wgsl",
    "flow_upsample.wgsl",
    "flow_derivatives.wgsl",
    "flow_jacobi.wgsl",
    "flow_consistency.wgsl",
    "flow_erode.wgsl",
    "voxel_common.wgsl",
    "voxel_march.wgsl",
    "voxel_march_backward.wgsl",
    "voxel_occupancy.wgsl",
    "voxel_loss.wgsl",
    "view_present.wgsl",
    "view_mesh.wgsl",
    "decoder_resample.wgsl",
    "decoder_tile.wgsl",
    "decoder_conv.wgsl",
    "decoder_conv_data.wgsl",
    "decoder_conv_weight.wgsl",
    "decoder_leaky_backward.wgsl",
    "decoder_reduce.wgsl",
    "coherent_flow.wgsl",
    "coherent_image_terms.wgsl",
    "coherent_select.wgsl",
    "coherent_chain.wgsl",
);

/// The source of a shader file, by file name.
pub fn source(name: &str) -> Option<std::borrow::Cow<'static, str>> {
    if let Ok(dir) = std::env::var("KILN_SHADER_DIR") {
        if let Ok(text) = std::fs::read_to_string(std::path::Path::new(&dir).join(name)) {
            return Some(text.into());
        }
    }
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, s)| (*s).into())
}

/// All embedded shader names.
pub fn names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(n, _)| *n)
}
