//! The side-by-side benchmark through the library (what `kiln occ bench` prints), for builds
//! without the whole `kiln` binary: `cargo run -p kiln-occupancy --example occ_bench -- [--small | --tiny]
//! [--seeds N | --seed-list a,b,..] [--steps N] [--lr X] [--json]`.

use kiln_occupancy::net::burn_device;
use kiln_occupancy::train::{bench, TrainConfig};
use kiln_occupancy::GpuSplat;
use kiln_splat::SplatRenderer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse::<usize>());
    let small = args.iter().any(|a| a == "--small");
    let mut seeds: Vec<u64> = (0..value("--seeds").transpose()?.unwrap_or(3) as u64).collect();
    // Explicit network seeds (e.g. more seeds for a table, run beside an earlier 0..N run).
    if let Some(list) = args.iter().position(|a| a == "--seed-list").and_then(|i| args.get(i + 1)) {
        seeds = list.split(',').map(|x| x.parse()).collect::<Result<_, _>>()?;
    }
    let tiny = args.iter().any(|a| a == "--tiny");
    let mut base = if tiny {
        TrainConfig::tiny(false, 0)
    } else if small {
        TrainConfig::small(false, 0)
    } else {
        TrainConfig::standard(false, 0)
    };
    if let Some(s) = value("--steps").transpose()? {
        base.flow_warmup = base.flow_warmup * s / base.steps;
        base.steps = s;
    }
    if let Some(lr) = args.iter().position(|a| a == "--lr").and_then(|i| args.get(i + 1)) {
        base.lr = lr.parse()?;
    }
    let ctx = kiln_gpu::GpuContext::shared()?;
    let device = burn_device(&ctx)?;
    let renderer = SplatRenderer::new(ctx.clone())?;
    let backend = GpuSplat { renderer: &renderer };
    let report = bench(&base, &seeds, &ctx.describe(), &device, &backend, &mut |seed, splat, s| {
        if s.step % 10 == 0 {
            eprintln!("seed {seed} splat {splat} step {} ce {:.4} flow {:.4} splat {:.4} ({:.2}+{:.2} s)", s.step, s.ce, s.flow3d, s.splat, s.base_seconds, s.splat_seconds);
        }
    }, &mut |splat, r| {
        eprintln!("finished: {}", r.summary(splat));
    })?;
    if args.iter().any(|a| a == "--json") {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    print!("{}", report.table());
    Ok(())
}
