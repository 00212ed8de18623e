//! Times the robust Laplacian on one mesh: the mesh operator (tufted cover + intrinsic Delaunay
//! flips), the point-cloud operator of its vertices, and the cotangent operator for scale; the
//! median of REPEATS runs each, as one JSON line (compare with scripts/robust_reference.py).
//! `cargo run --release -p kiln-spectral --example robust_time -- MESH [REPEATS]`

use kiln_scene::mesh::Mesh;
use kiln_spectral::laplacian::cotangent;
use kiln_spectral::pointcloud::{point_cloud_laplacian, PointCloudOptions};
use kiln_spectral::robust::{tufted_laplacian, RobustOptions};
use std::time::Instant;

fn median_seconds<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut times = vec![];
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (out.unwrap(), times[times.len() / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: robust_time MESH [REPEATS]")?;
    let repeats: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let mesh = Mesh::read(path)?;
    let (robust, mesh_s) = median_seconds(repeats, || tufted_laplacian(&mesh.positions, &mesh.faces, RobustOptions::default(), path));
    let robust = robust?;
    let (cloud, cloud_s) = median_seconds(repeats, || point_cloud_laplacian(&mesh.positions, PointCloudOptions::default(), path));
    let cloud = cloud?;
    let (_, cot_s) = median_seconds(repeats, || cotangent(&mesh, path));
    let (_, knn_s) = median_seconds(repeats, || kiln_spectral::pointcloud::knn(&mesh.positions, 30));
    println!(
        "{{\"mesh\": {path:?}, \"vertices\": {}, \"faces\": {}, \"threads\": {}, \"seconds_mesh\": {mesh_s:.4}, \"flips_mesh\": {}, \"seconds_point_cloud\": {cloud_s:.4}, \"seconds_cotangent\": {cot_s:.4}, \"seconds_knn\": {knn_s:.4}, \"area_mesh\": {:.6}, \"area_point_cloud\": {:.6}}}",
        mesh.num_vertices(),
        mesh.num_faces(),
        rayon::current_num_threads(),
        robust.flips,
        robust.operators.total_area(),
        cloud.total_area()
    );
    Ok(())
}
