use anyhow::{bail, Context};
use clap::Args;
use kiln_scene::Camera;
use kiln_splat::{RenderOutput, RenderSettings, SplatRenderer};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RenderArgs {
    /// Gaussian cloud in the standard 3DGS PLY layout. Without one, kiln renders its built-in
    /// synthetic demo scene.
    pub cloud: Option<PathBuf>,
    /// Camera JSON: {"width", "height", "fx", "fy", optional "cx", "cy", "rotation" (3 rows,
    /// world-to-camera) and "translation", or "eye"/"target"/"up", "near", "far"}.
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Output PNG (RGBA: colour and alpha).
    #[arg(long, default_value = "render.png")]
    pub out: PathBuf,
    /// Alpha clamp: 0.999 (gsplat, Brush) or 0.99 (original 3DGS).
    #[arg(long, default_value_t = 0.999)]
    pub alpha_clamp: f32,
    /// gsplat's antialiased mode.
    #[arg(long)]
    pub antialiased: bool,
    /// Background colour, "r,g,b" in [0, 1].
    #[arg(long, default_value = "0,0,0")]
    pub background: String,
    /// Highest SH degree to use (default: the cloud's).
    #[arg(long)]
    pub sh_degree: Option<u32>,
}

pub fn parse_background(s: &str) -> anyhow::Result<Vec<f32>> {
    let v: Result<Vec<f32>, _> = s.split(',').map(|x| x.trim().parse::<f32>()).collect();
    match v {
        Ok(v) if v.len() == 3 && v.iter().all(|x| x.is_finite()) => Ok(v),
        _ => bail!("--background {s:?}: expected three numbers \"r,g,b\""),
    }
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    let (cloud, default_cam) = match &args.cloud {
        Some(path) => (kiln_splat::read_gaussians(path)?, None),
        None => {
            let (cloud, cam) = kiln_splat::synthetic::benchmark_scene(20_000, 640, 360, 0.0, 0);
            eprintln!("kiln: no cloud given, rendering the built-in demo scene (20,000 Gaussians)");
            (cloud, Some(cam))
        }
    };
    let camera = match (&args.camera, default_cam) {
        (Some(path), _) => Camera::load_json(path)?,
        (None, Some(cam)) => cam,
        (None, None) => bail!("--camera <file.json> is needed to render {}", args.cloud.as_ref().unwrap().display()),
    };
    let settings = RenderSettings {
        alpha_clamp: args.alpha_clamp,
        antialiased: args.antialiased,
        background: parse_background(&args.background)?,
        sh_degree: args.sh_degree,
        ..Default::default()
    };
    let ctx = crate::gpu()?;
    let renderer = SplatRenderer::new(ctx)?;
    let out = renderer.render(&cloud, &camera, &settings)?;
    write_png(&out, &args.out)?;
    eprintln!("kiln: wrote {} ({}x{}, {} Gaussians)", args.out.display(), out.width, out.height, cloud.len());
    Ok(())
}

/// Writes colour (first three channels) and alpha as an 8-bit RGBA PNG.
pub fn write_png(out: &RenderOutput, path: &Path) -> anyhow::Result<()> {
    let to8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    let mut img = image::RgbaImage::new(out.width, out.height);
    for (i, px) in img.pixels_mut().enumerate() {
        let c = &out.color[i * out.channels..];
        let rgb = [c[0], *c.get(1).unwrap_or(&c[0]), *c.get(2).unwrap_or(&c[0])];
        *px = image::Rgba([to8(rgb[0]), to8(rgb[1]), to8(rgb[2]), to8(out.alpha[i])]);
    }
    img.save(path).with_context(|| format!("{}: cannot write PNG", path.display()))
}
