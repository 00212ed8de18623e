//! End-to-end tests of the `kiln` binary: what a user types, what they get back.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().expect("run kiln")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_scene(dir: &Path) -> (PathBuf, PathBuf) {
    let (cloud, camera) = kiln::splat::synthetic::benchmark_scene(3000, 96, 64, 0.0, 3);
    let ply = dir.join("scene.ply");
    kiln::splat::write_gaussians(&ply, &cloud).unwrap();
    let cam = dir.join("camera.json");
    std::fs::write(&cam, serde_json::to_string_pretty(&camera.to_json()).unwrap()).unwrap();
    (ply, cam)
}

/// The one error line (lavapipe may print its own warnings around it).
fn error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ") && !l.contains("XDG_RUNTIME_DIR")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    lines[0].to_string()
}

#[test]
fn render_writes_a_png_of_the_camera_size() {
    let dir = temp_dir("render");
    let (ply, cam) = write_scene(&dir);
    let png = dir.join("out.png");
    let out = kiln(&["render", ply.to_str().unwrap(), "--camera", cam.to_str().unwrap(), "--out", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let img = image::open(&png).unwrap().to_rgba8();
    assert_eq!(img.dimensions(), (96, 64));
    // The scene covers the view: most pixels are opaque and not all the same colour.
    let opaque = img.pixels().filter(|p| p[3] > 128).count();
    assert!(opaque > 96 * 64 / 2, "{opaque} opaque pixels");
    assert!(img.pixels().any(|p| p[0] != img.get_pixel(0, 0)[0]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using "), "the adapter is named: {stderr}");
}

#[test]
fn render_without_arguments_renders_the_demo_scene() {
    let dir = temp_dir("demo");
    let png = dir.join("demo.png");
    let out = kiln(&["render", "--out", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(image::open(&png).is_ok());
}

#[test]
fn malformed_ply_is_one_line_naming_the_file() {
    let dir = temp_dir("badply");
    let (_, cam) = write_scene(&dir);
    let bad = dir.join("broken.ply");
    std::fs::write(&bad, b"ply\nformat binary_little_endian 1.0\nelement vertex 100\nproperty float x\nend_header\n\x00\x01").unwrap();
    let out = kiln(&["render", bad.to_str().unwrap(), "--camera", cam.to_str().unwrap(), "--out", dir.join("x.png").to_str().unwrap()]);
    assert!(!out.status.success());
    let line = error_line(&out);
    assert!(line.contains("broken.ply"), "{line}");
    let missing = dir.join("nope.ply");
    let out = kiln(&["render", missing.to_str().unwrap(), "--camera", cam.to_str().unwrap()]);
    assert!(error_line(&out).contains("nope.ply"));
    // A missing mesh: the file and the OS's reason, said once.
    let out = kiln(&["match", missing.to_str().unwrap(), missing.to_str().unwrap(), "--out", dir.join("m.txt").to_str().unwrap()]);
    let line = error_line(&out);
    assert!(line.contains("nope.ply") && line.matches("os error").count() == 1, "{line}");
}

#[test]
fn malformed_camera_is_one_line_naming_the_file() {
    let dir = temp_dir("badcam");
    let (ply, _) = write_scene(&dir);
    let cam = dir.join("cam.json");
    for text in ["{not json", r#"{"width": 64, "height": 48, "fx": 0, "fy": 50}"#, r#"{"width": 64, "height": 48, "fx": 50, "fy": 50, "rotation": [[2,0,0],[0,1,0],[0,0,1]]}"#] {
        std::fs::write(&cam, text).unwrap();
        let out = kiln(&["render", ply.to_str().unwrap(), "--camera", cam.to_str().unwrap(), "--out", dir.join("x.png").to_str().unwrap()]);
        assert!(!out.status.success(), "{text}");
        let line = error_line(&out);
        assert!(line.contains("cam.json"), "{line}");
    }
}

#[test]
fn bench_raster_json_reports_stages_and_adapter() {
    let out = kiln(&["bench", "raster", "--gaussians", "2000", "--width", "64", "--height", "48", "--iters", "2", "--warmup", "1", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON object");
    assert!(!v["adapter"].as_str().unwrap().is_empty());
    assert!(v["tile_intersections"].as_u64().unwrap() > 0);
    let stages = v["stages_ms"].as_object().unwrap();
    for s in ["project", "depth sort", "bin", "tile sort", "rasterize", "raster backward", "project backward"] {
        if v["timestamps"].as_bool().unwrap() {
            assert!(stages[s].as_f64().unwrap() >= 0.0, "{s}");
        }
    }
}

/// `kiln fit` killed at a random point after a checkpoint and resumed ends where an
/// uninterrupted run with the same seed ends. lavapipe runs with one thread so that float
/// atomics sum in a fixed order (the runs are then bit-for-bit reproducible).
#[test]
fn fit_killed_and_resumed_matches_an_uninterrupted_run() {
    let dir = temp_dir("resume");
    let args = |out: &Path| -> Vec<String> {
        ["fit", "--iters", "300", "--resolution", "48", "--init-points", "3000", "--checkpoint-every", "50", "--seed", "4", "--out"]
            .iter()
            .map(|s| s.to_string())
            .chain([out.display().to_string()])
            .collect()
    };
    let run = |out: &Path, extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kiln")).args(args(out)).args(extra).env("LP_NUM_THREADS", "1").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    let whole = dir.join("whole");
    run(&whole, &[]);
    let killed = dir.join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args(&killed))
        .env("LP_NUM_THREADS", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ckpt = killed.join("checkpoints/step_00000150.ckpt");
    let t0 = std::time::Instant::now();
    while !ckpt.exists() {
        assert!(t0.elapsed().as_secs() < 600, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // A pseudo-random extra delay, so the kill lands anywhere in the next interval.
    std::thread::sleep(std::time::Duration::from_millis((std::process::id() as u64 * 7919) % 700));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!killed.join("metrics.json").exists(), "the run finished before the kill");
    run(&killed, &["--resume"]);
    let metrics = |d: &Path| -> serde_json::Value { serde_json::from_str(&std::fs::read_to_string(d.join("metrics.json")).unwrap()).unwrap() };
    let (a, b) = (metrics(&whole), metrics(&killed));
    eprintln!("uninterrupted {} Gaussians {} dB; resumed {} Gaussians {} dB", a["gaussians"], a["psnr"], b["gaussians"], b["psnr"]);
    assert_eq!(a["gaussians"], b["gaussians"]);
    assert!((a["psnr"].as_f64().unwrap() - b["psnr"].as_f64().unwrap()).abs() <= 0.1);
    assert!(killed.join("point_cloud.ply").exists() && killed.join("loss.png").exists());
}

#[test]
fn fit_on_bad_datasets_is_one_line_naming_the_file() {
    let dir = temp_dir("badfit");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = kiln(&["fit", empty.to_str().unwrap(), "--iters", "1", "--out", dir.join("r").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("empty"));
    let nerf = dir.join("nerf");
    std::fs::create_dir_all(&nerf).unwrap();
    std::fs::write(nerf.join("transforms.json"), r#"{"camera_angle_x": 0.7, "frames": [{"file_path": "./r_0", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]}]}"#).unwrap();
    let out = kiln(&["fit", nerf.to_str().unwrap(), "--iters", "1", "--out", dir.join("r2").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("r_0"), "{}", error_line(&out));
}

fn data_dir() -> Option<PathBuf> {
    let d = PathBuf::from(std::env::var_os("KILN_DATA")?);
    d.is_dir().then_some(d)
}

/// `kiln voxel fit` → `kiln voxel edit` → `kiln voxel mesh` on lego at toy size: every output a
/// user reads exists and says what it should, and voxels outside the cut are untouched.
#[test]
fn voxel_fit_edit_and_mesh_end_to_end() {
    let Some(data) = data_dir() else {
        eprintln!("KILN_DATA not set: skipping");
        return;
    };
    let dir = temp_dir("voxel");
    let (fit, edit, mesh) = (dir.join("fit"), dir.join("edit"), dir.join("lego.obj"));
    let lego = data.join("nerf_synthetic/lego");
    let ok = |out: Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    ok(kiln(&[
        "voxel", "fit", lego.to_str().unwrap(), "--grid", "24", "--stages", "2", "--iters", "60", "--resolution", "32", "--views", "8", "--rays", "2048",
        "--out", fit.to_str().unwrap(),
    ]));
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fit.join("metrics.json")).unwrap()).unwrap();
    let psnr = metrics.to_string();
    assert!(psnr.contains("psnr"), "{psnr}");
    assert!(fit.join("grid.kvox").is_file() && fit.join("loss.png").is_file());

    ok(kiln(&[
        "voxel", "edit", fit.to_str().unwrap(), "--out", edit.to_str().unwrap(), "--color", "1,0,0", "--region-box", "-0.6,-0.6,0.3,0.6,0.6,1.2", "--steps", "6",
        "--views", "3", "--resolution", "24",
    ]));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(edit.join("report.json")).unwrap()).unwrap();
    assert!(report["loss_before"].as_f64().unwrap().is_finite() && report["correlation_after"].as_f64().unwrap() > 0.5, "{report}");
    let original = kiln::voxel::VoxelGrid::load(&fit.join("grid.kvox")).unwrap();
    let edited = kiln::voxel::VoxelGrid::load(&edit.join("grid.kvox")).unwrap();
    let changed = (0..original.len()).filter(|&i| original.density[i].to_bits() != edited.density[i].to_bits() || (0..3).any(|c| original.features[3 * i + c].to_bits() != edited.features[3 * i + c].to_bits())).count();
    let allowed = report["edit_voxels"].as_u64().unwrap() as usize;
    assert!(changed <= allowed, "{changed} voxels changed but only {allowed} were inside the cut");

    ok(kiln(&["voxel", "mesh", fit.to_str().unwrap(), "--out", mesh.to_str().unwrap()]));
    let obj = std::fs::read_to_string(&mesh).unwrap();
    assert!(obj.lines().any(|l| l.starts_with("f ")), "the mesh has no faces");

    // Bad input: one line naming the cause.
    let out = kiln(&["voxel", "edit", fit.to_str().unwrap(), "--out", dir.join("bad").to_str().unwrap(), "--color", "1,0", "--region-box", "0,0,0,1,1,1"]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("--color"), "{}", error_line(&out));
    std::fs::remove_dir_all(&dir).ok();
}

/// `kiln view` refuses inconsistent arguments before opening a window.
#[test]
fn view_argument_errors_are_one_line() {
    let dir = temp_dir("viewargs");
    let (ply, _) = write_scene(&dir);
    let map = dir.join("map.txt");
    std::fs::write(&map, "0\n").unwrap();
    let out = kiln(&["view", ply.to_str().unwrap(), "--map", map.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("--map needs a second mesh"), "{}", error_line(&out));
    let out = kiln(&["view", ply.to_str().unwrap(), ply.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(error_line(&out).contains("--map"), "{}", error_line(&out));
    let out = kiln(&["view", dir.join("missing.off").to_str().unwrap()]);
    assert!(error_line(&out).contains("missing.off"), "{}", error_line(&out));
}

/// `kiln basis --learned` with the model shipped in assets/: a point cloud's basis comes out
/// M-orthonormal in the density the network predicts; bad model files and sizes are one line.
#[test]
fn learned_basis_with_the_shipped_model() {
    let Some(data) = data_dir() else {
        eprintln!("KILN_DATA not set: skipping");
        return;
    };
    let dir = temp_dir("learned");
    let cloud = data.join("shapes/cactus/cactus_deformed.off");
    let out = kiln(&["basis", cloud.to_str().unwrap(), "--learned", "-k", "8", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let mass: Vec<f64> = read("mass.txt").lines().map(|l| l.parse().unwrap()).collect();
    let rows: Vec<Vec<f64>> = read("eigenvectors.txt").lines().map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(mass.len(), 1856);
    assert_eq!(rows.len(), 1856);
    assert!(rows.iter().all(|r| r.len() == 8));
    assert!((mass.iter().sum::<f64>() - 1.0).abs() < 1e-6 && mass.iter().all(|m| *m >= 0.0));
    for a in 0..8 {
        for b in 0..8 {
            let g: f64 = (0..1856).map(|i| mass[i] * rows[i][a] * rows[i][b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            assert!((g - want).abs() < 1e-5, "<φ{a}, φ{b}>_M = {g}");
        }
    }
    let proxy: Vec<f64> = read("eigenvalues.txt").lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(proxy.len(), 8);
    assert!(proxy.iter().all(|v| v.is_finite() && *v > 0.0));
    // Bad input.
    let missing = dir.join("missing.kbasis");
    let out = kiln(&["basis", cloud.to_str().unwrap(), "--learned", missing.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(error_line(&out).contains("missing.kbasis"), "{}", error_line(&out));
    let out = kiln(&["basis", cloud.to_str().unwrap(), "--learned", "-k", "500", "--out", dir.to_str().unwrap()]);
    assert!(error_line(&out).contains("-k 500"), "{}", error_line(&out));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn occ_train_writes_metrics_and_viewable_predictions() {
    let dir = temp_dir("occ");
    let run = dir.join("run");
    let out = kiln(&["occ", "train", "--quick", "--steps", "2", "--out", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("metrics.json")).unwrap()).unwrap();
    assert!(metrics["test"]["miou"].as_f64().is_some_and(|m| (0.0..=1.0).contains(&m)), "{metrics}");
    // One class-coloured mesh per test scene: ground truth and prediction side by side.
    let scenes: Vec<PathBuf> = std::fs::read_dir(run.join("predictions")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!scenes.is_empty());
    for s in &scenes {
        let mesh = kiln::scene::mesh::Mesh::read(s).unwrap();
        assert!(mesh.num_faces() > 0 && mesh.colors.is_some(), "{s:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn coherent_stops_and_resumes_from_its_checkpoint() {
    let Some(data) = data_dir() else { return };
    let dir = temp_dir("coherent-resume");
    let out = dir.join("run");
    let model = data.join("models/fastdepth/fastdepth_op13.onnx");
    let fern = data.join("llff/fern");
    let args = |extra: &[&str]| -> Output {
        // kiln's two additions ride along: the resumed run must rebuild the same inputs.
        let mut a: Vec<String> = ["fit", fern.to_str().unwrap(), "--method", "coherent", "--views", "3", "--resolution", "40", "--iters", "6", "--no-decoder", "--triangulate-depth", "--free-space-prior", "--path-frames", "2", "--checkpoint-every", "2", "--depth-model", model.to_str().unwrap(), "--out", out.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        Command::new(env!("CARGO_BIN_EXE_kiln")).args(a).output().unwrap()
    };
    let first = args(&["--stop-after", "3"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stderr).contains("continue with --resume"));
    assert!(out.join("checkpoints/step_00000003.ckpt").exists() && !out.join("metrics.json").exists());
    let second = args(&["--resume"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success() && stderr.contains("resumed") && stderr.contains("at step 3"), "{stderr}");
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["iterations"], 6);
    for key in ["triangulated_fraction", "free_space_fraction"] {
        let f = metrics["preparation"][key].as_array().unwrap_or_else(|| panic!("metrics.json lacks preparation.{key}"));
        assert!(f.len() == 3 && f.iter().all(|x| (0.0..1.0).contains(&x.as_f64().unwrap())), "{key}: {f:?}");
    }
    assert!(stderr.contains("free-space prior"), "{stderr}");
    // A checkpoint of the other offset kind is refused, naming the run.
    let third = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["fit", fern.to_str().unwrap(), "--method", "coherent", "--resolution", "40", "--iters", "6", "--depth-model", model.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume"])
        .output()
        .unwrap();
    assert!(!third.status.success());
    let e = error_line(&third);
    assert!(e.contains("cannot resume") && e.contains("decoders"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_coherent_reports_every_part_of_the_step() {
    let Some(data) = data_dir() else { return };
    let model = data.join("models/fastdepth/fastdepth_op13.onnx");
    let fern = data.join("llff/fern");
    let out = kiln(&["bench", "coherent", fern.to_str().unwrap(), "--resolution", "32", "--warmup", "1", "--steps", "2", "--depth-model", model.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["width"].as_u64(), r["views"].as_u64(), r["decoders"].as_bool()), (Some(32), Some(3), Some(true)), "{r}");
    assert_eq!(r["gaussians"].as_u64(), Some(3 * 32 * r["height"].as_u64().unwrap()), "one Gaussian per input pixel: {r}");
    assert!(r["steps_per_second"].as_f64().is_some_and(|s| s > 0.0) && r["first_step_seconds"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    // Every part of the step was timed (the decoders, TV and flow are on; with the decoders on
    // kiln's kernels the chain rule runs on the GPU, so the host's `chain_rule` part is ~0; the
    // image terms run on the GPU, inside `render`).
    for part in ["decoder_forward", "render", "losses_backward", "decoder_backward"] {
        assert!(r["parts_ms"][part].as_f64().is_some_and(|ms| ms > 0.0), "{part}: {r}");
    }
    assert!(r["parts_ms"]["chain_rule"].as_f64().is_some(), "{r}");
    assert_eq!(r["decoder_backend"].as_str(), Some("kiln"), "{r}");
    // Adapters without timestamp queries give no GPU stages; lavapipe has them, and the
    // decoders', flow loss's, chain's and image terms' passes are among them.
    if r["adapter"].as_str().is_some_and(|a| a.contains("timestamps")) {
        for stage in ["decoder conv", "decoder resample", "decoder weight gradient", "decoder input gradient", "adam decoder", "offsets", "offset gradients", "flow loss", "pyramid l1", "disparity tv", "rasterize"] {
            assert!(r["gpu_stages_ms"][stage].as_f64().is_some(), "{stage}: {r}");
        }
    }
    let bad = kiln(&["bench", "coherent", fern.to_str().unwrap(), "--resolution", "32", "--steps", "0", "--depth-model", model.to_str().unwrap()]);
    assert!(!bad.status.success() && error_line(&bad).contains("--steps"), "{}", error_line(&bad));
}

// `kiln basis --robust` and the point-cloud path (`--point-cloud`, or a file without faces):
// the same files as `kiln basis`, the robust operator's spectrum (checked against the authors'
// package on a non-manifold mesh), one-line errors.

/// `kiln basis-train` end to end on a small shape: a model, checkpoints and the loss plot; a
/// fine-tuning run from that model with a decaying rate; the fine-tuned model used by
/// `kiln basis --learned`; bad flags named in one line.
#[test]
fn basis_train_fine_tune_and_infer() {
    let dir = temp_dir("basis-train");
    let shape = dir.join("book.off");
    std::fs::write(&shape, book_off()).unwrap();
    let (first, second) = (dir.join("first"), dir.join("second"));
    let small = ["--points", "64", "--probes", "16", "--width", "16", "--layers", "1", "-k", "4", "--checkpoint-every", "2"];
    let mut args = vec!["basis-train", shape.to_str().unwrap(), "--out", first.to_str().unwrap(), "--steps", "4"];
    args.extend(small);
    let out = kiln(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["model.kbasis", "loss.png", "config.json", "checkpoints/step_00000004.ckpt"] {
        assert!(first.join(f).is_file(), "{f} missing");
    }
    let model = first.join("model.kbasis");
    let out = kiln(&["basis-train", shape.to_str().unwrap(), "--out", second.to_str().unwrap(), "--steps", "3", "--init", model.to_str().unwrap(), "--lr-final", "1e-5", "--points", "64", "--probes", "16"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("starting from"), "the start model is named");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(second.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["learn"]["lr_final"].as_f64(), Some(1e-5));
    assert_eq!(config["learn"]["net"]["width"].as_u64(), Some(16), "the network's shape comes from the start model");
    let basis_dir = dir.join("basis");
    let tuned = second.join("model.kbasis");
    let out = kiln(&["basis", shape.to_str().unwrap(), "--learned", tuned.to_str().unwrap(), "--out", basis_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<usize> = std::fs::read_to_string(basis_dir.join("eigenvectors.txt")).unwrap().lines().map(|l| l.split_whitespace().count()).collect();
    assert!(!rows.is_empty() && rows.iter().all(|&c| c == 4));
    // Bad input.
    let missing = dir.join("missing.kbasis");
    let out = kiln(&["basis-train", shape.to_str().unwrap(), "--out", second.to_str().unwrap(), "--init", missing.to_str().unwrap()]);
    assert!(error_line(&out).contains("missing.kbasis"), "{}", error_line(&out));
    let out = kiln(&["basis-train", shape.to_str().unwrap(), "--out", second.to_str().unwrap(), "--lr-final=-1"]);
    assert!(error_line(&out).contains("--lr-final"), "{}", error_line(&out));
    std::fs::remove_dir_all(&dir).ok();
}

fn read_column(path: &Path) -> Vec<f64> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.starts_with('#')).map(|l| l.trim().parse().unwrap()).collect()
}

/// The three-page book of engine/spectral/tests/robust.rs (non-manifold spine) as OFF text.
fn book_off() -> String {
    let mut p: Vec<[f64; 3]> = (0..=4).map(|j| [0.0, 0.0, j as f64 * 0.25]).collect();
    let mut f: Vec<[usize; 3]> = vec![];
    for page in 0..3usize {
        let angle = 2.0 * std::f64::consts::PI * page as f64 / 3.0 + 0.3 * page as f64;
        let base = p.len();
        for i in 1..=3usize {
            for j in 0..=4usize {
                let dz = if (1..4).contains(&j) { 0.1 * (((i + j + page) % 3) as f64 - 1.0) } else { 0.0 };
                p.push([i as f64 * 0.3 * angle.cos(), i as f64 * 0.3 * angle.sin(), j as f64 * 0.25 + dz]);
            }
        }
        let id = |i: usize, j: usize| if i == 0 { j } else { base + (i - 1) * 5 + j };
        for i in 0..3 {
            for j in 0..4 {
                f.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                f.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
            }
        }
    }
    let mut s = format!("OFF\n{} {} 0\n", p.len(), f.len());
    p.iter().for_each(|v| s += &format!("{:.17} {:.17} {:.17}\n", v[0], v[1], v[2]));
    f.iter().for_each(|t| s += &format!("3 {} {} {}\n", t[0], t[1], t[2]));
    s
}


#[test]
fn basis_robust_and_point_cloud() {
    let dir = temp_dir("robust");
    let book = dir.join("book.off");
    std::fs::write(&book, book_off()).unwrap();
    let out_dir = dir.join("robust");
    let out = kiln(&["basis", book.to_str().unwrap(), "--robust", "-k", "6", "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("robust Laplacian"));
    let values = read_column(&out_dir.join("eigenvalues.txt"));
    let reference = read_column(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("engine/spectral/tests/fixtures/robust_book.txt"));
    assert_eq!(values.len(), 6);
    for i in 1..6 {
        assert!((values[i] - reference[i]).abs() < 1e-8 * reference[i], "λ{i} = {} vs robust_laplacian {}", values[i], reference[i]);
    }
    assert_eq!(read_column(&out_dir.join("mass.txt")).len(), 50);
    let rows = std::fs::read_to_string(out_dir.join("eigenvectors.txt")).unwrap();
    assert!(rows.lines().count() == 50 && rows.lines().all(|l| l.split_whitespace().count() == 6));

    // A file without faces takes the point-cloud path; --point-cloud makes a mesh do so too.
    let points: String = book_off().lines().take(2 + 50).enumerate().map(|(i, l)| if i == 1 { "50 0 0\n".to_string() } else { format!("{l}\n") }).collect();
    let cloud = dir.join("points.off");
    std::fs::write(&cloud, points).unwrap();
    let (a, b) = (dir.join("a"), dir.join("b"));
    let out = kiln(&["basis", cloud.to_str().unwrap(), "-k", "4", "--neighbours", "12", "--out", a.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("robust point-cloud Laplacian"));
    let out = kiln(&["basis", book.to_str().unwrap(), "--point-cloud", "-k", "4", "--neighbours", "12", "--out", b.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (va, vb) = (read_column(&a.join("eigenvalues.txt")), read_column(&b.join("eigenvalues.txt")));
    assert_eq!(va, vb);
    assert!(va[0].abs() < 1e-8 && va[1] > 0.1, "{va:?}");

    // Errors: one line naming the cause.
    let out = kiln(&["basis", cloud.to_str().unwrap(), "--neighbours", "2", "--out", a.to_str().unwrap()]);
    assert!(error_line(&out).contains("2 neighbours"), "{}", error_line(&out));
    let out = kiln(&["basis", book.to_str().unwrap(), "--robust", "--learned", "--out", a.to_str().unwrap()]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
