//! Issue 9's two tables (the same as `kiln bench learned-basis`, without the CLI around it):
//! `cargo run -p kiln-spectral --features learned --example learned_tables -- SHAPES_DIR MODEL [PAIRS] [--json] [--no-comparison] [--unoriented] [--filter-only]`
//! (markdown, then with --json the JSON report). Each cloud's learned basis is inferred in
//! this process (`learned_eval::infer_in_process`).

#[cfg(feature = "learned")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use kiln_spectral::basis_model::BasisModel;
    use kiln_spectral::learned_eval::{infer_in_process, run, LearnedEvalOptions};
    let all: Vec<String> = std::env::args().skip(1).collect();
    let gpu = || -> Result<_, Box<dyn std::error::Error>> { Ok(kiln_gpu::GpuContext::shared()?) };
    let args: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
    let json = all.iter().any(|a| a == "--json");
    let comparison = !all.iter().any(|a| a == "--no-comparison");
    let unoriented = all.iter().any(|a| a == "--unoriented");
    let filter_only = all.iter().any(|a| a == "--filter-only");
    let [shapes, model_path, ..] = &args[..] else { return Err("usage: learned_tables SHAPES_DIR MODEL [PAIRS] [--json] [--no-comparison] [--unoriented] [--filter-only]".into()) };
    let pairs = args.get(2).map_or(Ok(72), |p| p.parse())?;
    let model = BasisModel::load(std::path::Path::new(model_path.as_str()))?;
    let net = model.network(&kiln_nn::burn_device(&gpu()?)?)?;
    let opts = LearnedEvalOptions { shapes: shapes.into(), pairs, comparison, unoriented, filter_only, learned_only: false };
    let report = run(&opts, &model, model_path, &gpu()?.describe(), infer_in_process(&net, model.config.density), |stage, done, total, what| eprintln!("{stage} {done}/{total}: {what}"))?;
    print!("{}", report.markdown());
    if json {
        println!("\n{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

#[cfg(not(feature = "learned"))]
fn main() {
    eprintln!("learned_tables needs --features learned");
}
