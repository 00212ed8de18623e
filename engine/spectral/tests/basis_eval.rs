//! Issue 9's evaluation: the basis-comparison measures on an analytic-free reference (the
//! cotangent eigenbasis itself, a random basis), and on real shapes (under `KILN_DATA`):
//! point-cloud matching with the robust Laplacian's basis on a FAUST_r pair, and (feature
//! `learned`) the shipped learned model's alignment on a held-aside FAUST_r shape.

mod common;
use faer::Mat;
use kiln_scene::mesh::Mesh;
use kiln_spectral::basis_eval::{alignment_from_gram, chamfer_hausdorff, compare, cross_gram, m_orthonormalize};
use kiln_spectral::eigen::{eigen_shift_invert, EigenOptions};
use kiln_spectral::laplacian::cotangent;

use common::shapes_dir as data;

/// The unit icosphere subdivided `levels` times, stretched to semi-axes (1, 1.1, 1.25) so that
/// no eigenvalue repeats (642 vertices at 3).
fn ellipsoid(levels: usize) -> Mesh {
    let mut m = common::icosphere(levels);
    for q in &mut m.positions {
        q[1] *= 1.1;
        q[2] *= 1.25;
    }
    Mesh::from_parts("ellipsoid", m.positions, m.faces, None).unwrap()
}

/// Deterministic standard-normal-ish numbers (sum of uniforms).
fn gaussian_matrix(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
    let mut s = seed;
    let mut uniform = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    Mat::from_fn(rows, cols, |_, _| (0..12).map(|_| uniform()).sum::<f64>() - 6.0)
}

#[test]
fn the_cotangent_basis_scores_perfectly_against_itself() {
    let mesh = ellipsoid(3);
    let ops = cotangent(&mesh, "ellipsoid").unwrap();
    let k = 32;
    let b = eigen_shift_invert(&ops, k, EigenOptions::default(), "ellipsoid").unwrap();
    let ks = [5, 10, 20, 32];
    // The same basis with scaled, sign-flipped columns: normalization and signs do not count.
    let scaled = Mat::<f64>::from_fn(mesh.num_vertices(), k, |i, j| b.eigenvectors[(i, j)] * if j % 2 == 0 { -3.0 } else { 0.5 });
    let c = compare(b.eigenvectors.as_ref(), scaled.as_ref(), &ops.mass, &mesh.positions, &ks, 10, mesh.area().sqrt(), "ellipsoid").unwrap();
    assert_eq!(c.cosines.len(), 10);
    for (i, cos) in c.cosines.iter().enumerate() {
        assert!((cos - 1.0).abs() < 1e-9, "cosine {i}: {cos}");
    }
    for p in &c.prefixes {
        assert!((p.alignment - 1.0).abs() < 1e-9, "k={}: alignment {}", p.k, p.alignment);
    }
    // The projection error can only fall as the span grows; Chamfer follows on a smooth shape.
    for w in c.prefixes.windows(2) {
        assert!(w[1].l2 <= w[0].l2 + 1e-12, "L2 error rose from k={} ({}) to k={} ({})", w[0].k, w[0].l2, w[1].k, w[1].l2);
        assert!(w[1].chamfer < w[0].chamfer, "Chamfer rose from k={} ({}) to k={} ({})", w[0].k, w[0].chamfer, w[1].k, w[1].chamfer);
    }
    // An ellipsoid's coordinates lie almost in the first four eigenfunctions (constant and the
    // three linear ones): already small at k = 5.
    assert!(c.prefixes[0].chamfer < 0.05, "k=5 Chamfer {}", c.prefixes[0].chamfer);
    // Reordering two vectors keeps the subspaces of other prefixes but breaks per-index cosines.
    let swapped = Mat::<f64>::from_fn(mesh.num_vertices(), k, |i, j| b.eigenvectors[(i, match j { 1 => 2, 2 => 1, j => j })]);
    let c = compare(b.eigenvectors.as_ref(), swapped.as_ref(), &ops.mass, &mesh.positions, &ks, 10, 1.0, "ellipsoid").unwrap();
    assert!(c.cosines[1] < 1e-9 && c.cosines[2] < 1e-9 && (c.cosines[3] - 1.0).abs() < 1e-9, "{:?}", c.cosines);
    assert!((c.prefixes[0].alignment - 1.0).abs() < 1e-9);
}

#[test]
fn a_random_basis_aligns_like_a_random_subspace() {
    let mesh = ellipsoid(3);
    let n = mesh.num_vertices();
    let ops = cotangent(&mesh, "ellipsoid").unwrap();
    let b = eigen_shift_invert(&ops, 20, EigenOptions::default(), "ellipsoid").unwrap();
    // Columns M^-½ g, g Gaussian: after M-orthonormalization a uniformly random subspace in the
    // M metric, whose expected alignment with any fixed k-subspace is exactly k/n.
    let g = gaussian_matrix(n, 20, 11);
    let r = Mat::<f64>::from_fn(n, 20, |i, j| g[(i, j)] / ops.mass[i].sqrt());
    let q = m_orthonormalize(r.as_ref(), &ops.mass, "random").unwrap();
    let gram = cross_gram(q.as_ref(), q.as_ref(), &ops.mass);
    for i in 0..20 {
        for j in 0..20 {
            assert!((gram[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
        }
    }
    let c = compare(b.eigenvectors.as_ref(), r.as_ref(), &ops.mass, &mesh.positions, &[5, 10, 20], 5, 1.0, "random").unwrap();
    for p in &c.prefixes {
        let expected = p.k as f64 / n as f64;
        assert!(p.alignment > 0.4 * expected && p.alignment < 2.0 * expected, "k={}: alignment {} vs k/n = {expected}", p.k, p.alignment);
    }
    assert!(alignment_from_gram(cross_gram(b.eigenvectors.as_ref(), b.eigenvectors.as_ref(), &ops.mass).as_ref(), 20) > 0.999);
    // A random basis reconstructs the shape far worse than the eigenbasis at the same k.
    let own = compare(b.eigenvectors.as_ref(), b.eigenvectors.as_ref(), &ops.mass, &mesh.positions, &[10], 0, 1.0, "own").unwrap();
    assert!(c.prefixes[1].chamfer > 5.0 * own.prefixes[0].chamfer, "{} vs {}", c.prefixes[1].chamfer, own.prefixes[0].chamfer);
}

#[test]
fn chamfer_hausdorff_and_bad_input() {
    let a = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
    let b = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 3.0, 0.0]];
    let (c, h) = chamfer_hausdorff(&a, &a);
    assert_eq!((c, h), (0.0, 0.0));
    let (c, h) = chamfer_hausdorff(&a, &b);
    // a → b: 0, 0; b → a: 0, 0, 3 → mean 1. Chamfer ½(0 + 1), Hausdorff 3.
    assert!((c - 0.5).abs() < 1e-12 && (h - 3.0).abs() < 1e-12, "{c} {h}");
    // A basis with a repeated column is refused, naming the shape.
    let m = Mat::<f64>::from_fn(4, 2, |i, _| i as f64 + 1.0);
    let e = m_orthonormalize(m.as_ref(), &[1.0; 4], "twice.off").unwrap_err().to_string();
    assert!(e.contains("twice.off") && e.contains("basis function 1"), "{e}");
    let e = compare(m.as_ref(), m.as_ref(), &[1.0; 3], &[[0.0; 3]; 4], &[1], 1, 1.0, "short.off").unwrap_err().to_string();
    assert!(e.contains("short.off"), "{e}");
}

/// FAUST_r 000 → 001 as point clouds (vertices only) with the robust point-cloud Laplacian's
/// basis: the full matching pipeline without faces, scored by the meshes' ground truth. With
/// the orientation filter only: the fit's orientation term (the default) spoils this pair
/// (22.0, measured; docs/LEARNED_BASIS.md, "Orientation for point clouds").
#[test]
fn faust_pair_as_point_clouds_with_the_point_cloud_laplacian() {
    use kiln_spectral::cloud_match::{cloud_match_config, pointcloud_shape, without_orientation_term};
    use kiln_spectral::eval::{read_vts, GroundTruthDistances};
    use kiln_spectral::geodesic::HeatGeodesics;
    use kiln_spectral::pipeline::{match_shapes, Shape};
    use kiln_spectral::pointcloud::PointCloudOptions;
    let Some(dir) = data("faust_pair_as_point_clouds_with_the_point_cloud_laplacian") else { return };
    let faust = dir.join("faust_r");
    let cfg = without_orientation_term(cloud_match_config(200));
    let load = |i: usize| {
        let m = Mesh::read(faust.join(format!("tr_reg_{i:03}.off"))).unwrap();
        pointcloud_shape(format!("tr_reg_{i:03}"), &m.positions, cfg.k_basis, PointCloudOptions::default()).unwrap()
    };
    let (a, b) = (load(0), load(1));
    // pointcloud_shape only sees the positions: its triangles are built from the points
    // (cloud_orient), consistently oriented, for the orientation term and score.
    assert!([&a, &b].iter().all(|s| !s.mesh.faces.is_empty() && kiln_spectral::pipeline::consistently_oriented(&s.mesh)));
    let r = match_shapes(&a, &b, &cfg, |_| {}).unwrap();
    let mesh_a = Shape::load(faust.join("tr_reg_000.off"), 2).unwrap();
    let heat = HeatGeodesics::new(&mesh_a.mesh, &mesh_a.ops).unwrap();
    let va = read_vts(faust.join("cor/tr_reg_000.vts"), 5000).unwrap();
    let vb = read_vts(faust.join("cor/tr_reg_001.vts"), 5000).unwrap();
    let gt = GroundTruthDistances::new(&heat, &va, mesh_a.mesh.area(), 1);
    let err = gt.mean_error_x100(&vb, &r.p2p);
    println!("FAUST_r 001 → 000 as point clouds, point-cloud Laplacian basis: mean geodesic error x100 {err:.2}");
    assert!(err < THRESHOLD_PCL_PAIR, "error x100 {err}");
}

/// Mean geodesic error ×100 the point-cloud-Laplacian matching of FAUST_r 001 → 000 must beat
/// (measured 1.37 on lavapipe, before the intrinsic-Delaunay flips landed).
const THRESHOLD_PCL_PAIR: f64 = 3.0;

/// The shipped learned model on the held-aside FAUST_r tr_reg_008 (vertices only): its first
/// 10 functions span much of the cotangent eigenbasis's first 10.
#[cfg(feature = "learned")]
#[test]
fn shipped_model_aligns_with_the_cotangent_basis_on_a_held_aside_shape() {
    use kiln_spectral::basis_model::{infer, BasisModel};
    use kiln_spectral::pipeline::Shape;
    let Some(dir) = data("shipped_model_aligns_with_the_cotangent_basis_on_a_held_aside_shape") else { return };
    let model = BasisModel::load(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/learned_basis.kbasis")).unwrap();
    let ctx = kiln_gpu::GpuContext::shared().unwrap();
    let device = kiln_nn::burn_device(&ctx).unwrap();
    let net = model.network(&device).unwrap();
    let shape = Shape::load(dir.join("faust_r/tr_reg_008.off"), 32).unwrap();
    let learned = infer(&net, model.config.density, &shape.mesh.positions).unwrap();
    let c = compare(shape.basis.eigenvectors.as_ref(), learned.basis.as_ref(), &shape.ops.mass, &shape.mesh.positions, &[10, 32], 10, 1.0, "tr_reg_008").unwrap();
    println!("tr_reg_008, shipped model: alignment k=10 {:.3}, k=32 {:.3}; Chamfer k=32 {:.4}", c.prefixes[0].alignment, c.prefixes[1].alignment, c.prefixes[1].chamfer);
    assert!(c.prefixes[0].alignment >= 0.6, "alignment at k = 10: {}", c.prefixes[0].alignment);
}
