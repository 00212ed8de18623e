//! The `kiln` command line.

mod basis_bench;
mod bench;
mod coherent;
mod fit;
mod learned_basis;
mod occ;
mod render;
mod spectral;
mod view;
mod voxel;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kiln", version, about = "GPU engine for 3D reconstruction and geometry")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fit a Gaussian scene to posed images (3DGS); without a dataset, the built-in demo.
    Fit(fit::FitArgs),
    /// Re-compute a fitted run's test metrics.
    Eval(fit::EvalArgs),
    /// Render a Gaussian cloud (3DGS PLY) from a camera to a PNG.
    Render(render::RenderArgs),
    /// Measure kiln's kernels: per-stage GPU times.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Open the desktop viewer: a 3DGS PLY or a kiln run folder (or drop one on the window).
    View(view::ViewArgs),
    /// Vox-E: fit voxel grids, edit them locally under guidance, export meshes.
    #[command(subcommand)]
    Voxel(voxel::VoxelCommand),
    /// VoxelSplat occupancy + flow on the synthetic street benchmark: train one arm, or bench both.
    #[command(subcommand)]
    Occ(occ::OccCommand),
    /// Print the GPU adapter kiln would use and what it supports.
    Info,
    /// Laplacian eigenbasis of a mesh (cotangent + lumped mass), or the learned basis of a
    /// point cloud (--learned): eigenvalues.txt, eigenvectors.txt, mass.txt.
    Basis(spectral::BasisArgs),
    /// Train the learned spectral basis network on shapes (meshes or point clouds).
    BasisTrain(learned_basis::BasisTrainArgs),
    /// Point-to-point correspondence B → A by functional maps + ZoomOut.
    Match(spectral::MatchArgs),
    /// Mean geodesic error (×100, normalized by √area) of a point map against .vts ground truth.
    EvalMatch(spectral::EvalMatchArgs),
}

/// Runs the CLI; errors print as one line naming the file and the cause.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fit(args) => fit::run(args),
        Command::Eval(args) => fit::eval(args),
        Command::Render(args) => render::run(args),
        Command::View(args) => view::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Voxel(cmd) => voxel::run(cmd),
        Command::Occ(cmd) => occ::run(cmd),
        Command::Info => info(),
        Command::Basis(args) => spectral::basis(args),
        Command::BasisTrain(args) => learned_basis::train(args),
        Command::Match(args) => spectral::run_match(args),
        Command::EvalMatch(args) => spectral::eval_match(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, like anyhow's `{:#}`, but a cause whose text the line
/// already holds is not repeated (the library errors name their file and put the I/O cause in
/// their own message: "a.off: No such file or directory (os error 2)").
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line += ": ";
            line += &text;
        }
    }
    line
}

fn info() -> anyhow::Result<()> {
    let ctx = kiln_gpu::GpuContext::shared()?;
    println!("adapter: {}", ctx.describe());
    println!("max storage binding: {} MiB", ctx.max_binding() >> 20);
    Ok(())
}

/// Opens the GPU and says which adapter was chosen (on stderr, so JSON output stays clean).
pub(crate) fn gpu() -> anyhow::Result<std::sync::Arc<kiln_gpu::GpuContext>> {
    let ctx = kiln_gpu::GpuContext::shared()?;
    eprintln!("kiln: using {}", ctx.describe());
    Ok(ctx)
}
