//! The robust (tufted-cover, intrinsic Delaunay) Laplacian: equal to the cotangent Laplacian on
//! intrinsically Delaunay meshes, non-negative weights after flips with the same continuous
//! spectrum, valid operators on non-manifold input, and agreement with the authors' package
//! (`robust_laplacian` 1.1.0: non-manifold meshes and FAUST_r tr_reg_000 as a mesh and as a
//! point cloud; fixtures under tests/fixtures written by scripts/robust_reference.py).

mod common;
use common::icosphere;
use kiln_scene::mesh::Mesh;
use kiln_spectral::eigen::{dense_eigen, eigen_shift_invert, EigenOptions};
use kiln_spectral::laplacian::{cotangent, Operators};
use kiln_spectral::pointcloud::{point_cloud_laplacian, point_cloud_laplacian_with_normals, PointCloudOptions};
use kiln_spectral::robust::{robust_laplacian, tufted_laplacian, RobustOptions};
use std::f64::consts::PI;
use std::path::PathBuf;

use common::kiln_data as data;


/// The unit square as an n × n grid of squares, each split along the same diagonal; interior
/// vertices moved along x by up to ±`jitter` × the spacing (pseudo-random, fixed seed). Any
/// jitter below ½ keeps every triangle positively oriented; a large one makes many obtuse.
fn square_grid(n: usize, jitter: f64) -> Mesh {
    let h = 1.0 / n as f64;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let mut p = Vec::new();
    for j in 0..=n {
        for i in 0..=n {
            let interior = i > 0 && i < n && j > 0 && j < n;
            let dx = if interior { jitter * h * rand() } else { 0.0 };
            p.push([i as f64 * h + dx, j as f64 * h, 0.0]);
        }
    }
    let id = |i: usize, j: usize| (j * (n + 1) + i) as u32;
    let mut f = Vec::new();
    for j in 0..n {
        for i in 0..n {
            f.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
            f.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
        }
    }
    Mesh::from_parts("grid", p, f, None).unwrap()
}

/// Off-diagonal entries (i ≠ j, stored) of the stiffness.
fn off_diagonals(ops: &Operators) -> Vec<f64> {
    let w = ops.stiffness.as_ref();
    (0..w.ncols()).flat_map(|j| w.row_idx_of_col(j).zip(w.val_of_col(j)).filter(move |(i, _)| *i != j).map(|(_, v)| *v)).collect()
}

/// Largest |entry| of the difference of two stiffness matrices, relative to the largest entry.
fn relative_difference(a: &Operators, b: &Operators) -> f64 {
    let (da, db) = (a.stiffness.to_dense(), b.stiffness.to_dense());
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for i in 0..da.nrows() {
        for j in 0..da.ncols() {
            diff = diff.max((da[(i, j)] - db[(i, j)]).abs());
            scale = scale.max(da[(i, j)].abs());
        }
    }
    diff / scale
}

/// A symmetric PSD stiffness with zero row sums (the constants in its kernel), exactly
/// `components` zero eigenvalues, non-negative weights (off-diagonals ≤ 1e-6) and positive mass.
fn assert_valid_laplacian(ops: &Operators, components: usize, what: &str) {
    let w = ops.stiffness.to_dense();
    let n = w.nrows();
    let scale = (0..n).map(|i| w[(i, i)].abs()).fold(0.0, f64::max);
    for i in 0..n {
        let row: f64 = (0..n).map(|j| w[(i, j)]).sum();
        assert!(row.abs() < 1e-12 * scale, "{what}: row {i} sums to {row}");
        for j in 0..i {
            assert!((w[(i, j)] - w[(j, i)]).abs() < 1e-14 * scale, "{what}: asymmetric at ({i},{j})");
        }
    }
    let max_off = off_diagonals(ops).into_iter().fold(f64::NEG_INFINITY, f64::max);
    assert!(max_off <= 1e-6, "{what}: positive off-diagonal {max_off}");
    assert!(ops.mass.iter().all(|&m| m > 0.0), "{what}: non-positive mass");
    let eig = dense_eigen(ops, n).unwrap();
    let top = eig.eigenvalues[n - 1];
    assert!(eig.eigenvalues[0] > -1e-10 * top, "{what}: negative eigenvalue {}", eig.eigenvalues[0]);
    let zeros = eig.eigenvalues.iter().filter(|&&l| l.abs() < 1e-9 * top).count();
    assert_eq!(zeros, components, "{what}: {zeros} zero eigenvalues, expected {components}: {:?}", &eig.eigenvalues[..components + 1]);
}

#[test]
fn delaunay_manifold_meshes_give_the_cotangent_operators() {
    // A closed sphere and a flat grid with boundary (right triangles: every diagonal has weight
    // exactly 0, a Delaunay tie the flips must leave alone; boundary edges glue a face's front to
    // its back in the cover).
    for mesh in [icosphere(3), square_grid(12, 0.0)] {
        let r = tufted_laplacian(&mesh.positions, &mesh.faces, RobustOptions::default(), "mesh").unwrap();
        let c = cotangent(&mesh, "mesh").unwrap();
        assert_eq!((r.flips, r.mollification, r.cover_faces), (0, 0.0, 2 * mesh.num_faces()));
        let d = relative_difference(&r.operators, &c);
        assert!(d < 1e-9, "stiffness differs by {d:e} (relative)");
        for (a, b) in r.operators.mass.iter().zip(&c.mass) {
            assert!((a - b).abs() <= 1e-12 * b, "mass {a} vs {b}");
        }
    }
}

#[test]
fn obtuse_triangles_are_flipped_and_the_spectrum_is_kept() {
    // Neumann spectrum of the unit square: π²(a² + b²). The jittered grid has many obtuse
    // triangles (positive cotangent off-diagonals); after the flips every weight is ≥ 0 and both
    // operators approximate the same continuous spectrum.
    let mut exact: Vec<f64> = (0..6).flat_map(|a| (0..6).map(move |b| PI * PI * (a * a + b * b) as f64)).collect();
    exact.sort_by(f64::total_cmp);
    let k = 12;
    let mut errors = vec![];
    for n in [16, 32] {
        let mesh = square_grid(n, 0.45);
        let c = cotangent(&mesh, "grid").unwrap();
        let positive = off_diagonals(&c).into_iter().filter(|&v| v > 1e-9).count();
        assert!(positive > n, "n = {n}: only {positive} positive cotangent off-diagonals: the test needs obtuse triangles");
        let r = tufted_laplacian(&mesh.positions, &mesh.faces, RobustOptions::default(), "grid").unwrap();
        assert!(r.flips > 0);
        let max_off = off_diagonals(&r.operators).into_iter().fold(f64::NEG_INFINITY, f64::max);
        assert!(max_off <= 1e-6, "n = {n}: robust off-diagonal {max_off}");
        let er = eigen_shift_invert(&r.operators, k, EigenOptions::default(), "robust").unwrap();
        let ec = eigen_shift_invert(&c, k, EigenOptions::default(), "cotangent").unwrap();
        let worst = |e: &[f64]| (1..k).map(|i| (e[i] - exact[i]).abs() / exact[i]).fold(0.0, f64::max);
        let (wr, wc) = (worst(&er.eigenvalues), worst(&ec.eigenvalues));
        let between = (1..k).map(|i| (er.eigenvalues[i] - ec.eigenvalues[i]).abs() / ec.eigenvalues[i]).fold(0.0, f64::max);
        println!("n = {n}: {} flips; worst relative error vs π²(a²+b²): robust {wr:.4}, cotangent {wc:.4}; robust vs cotangent {between:.4}", r.flips);
        errors.push((wr, wc, between));
    }
    // Tolerances (measured errors printed above): both within 4 % at n = 16 and 1.5 % at n = 32,
    // and within each other by the same margins; refining the grid shrinks all three errors.
    for ((wr, wc, between), tol) in errors.iter().zip([0.04, 0.015]) {
        assert!(*wr < tol && *wc < tol && *between < tol, "errors {wr} {wc} {between} above {tol}");
    }
    assert!(errors[1].0 < errors[0].0 && errors[1].2 < errors[0].2, "no convergence: {errors:?}");
}

#[test]
fn non_manifold_inputs_give_valid_operators() {
    // Three pages on one spine: 4 × 3 grids rotated about the z axis, sharing the spine's
    // vertices (non-manifold edges along the spine).
    let mut p: Vec<[f64; 3]> = (0..=4).map(|j| [0.0, 0.0, j as f64 * 0.25]).collect();
    let mut f: Vec<[u32; 3]> = vec![];
    for page in 0..3 {
        let angle = 2.0 * PI * page as f64 / 3.0 + 0.3 * page as f64;
        let base = p.len() as u32;
        for i in 1..=3 {
            for j in 0..=4 {
                // Off the spine and the ends, vertices move along it: obtuse triangles, so
                // flips happen next to the non-manifold edges too.
                let r = i as f64 * 0.3;
                let dz = if (1..4).contains(&j) { 0.1 * (((i + j + page) % 3) as f64 - 1.0) } else { 0.0 };
                p.push([r * angle.cos(), r * angle.sin(), j as f64 * 0.25 + dz]);
            }
        }
        let id = |i: u32, j: u32| if i == 0 { j } else { base + (i - 1) * 5 + j };
        for i in 0..3 {
            for j in 0..4 {
                f.push([id(i, j), id(i + 1, j), id(i + 1, j + 1)]);
                f.push([id(i, j), id(i + 1, j + 1), id(i, j + 1)]);
            }
        }
    }
    let book = Mesh::from_parts("book", p, f, None).unwrap();
    assert_eq!(book.edge_report().non_manifold, 4);

    // Bow tie: two octahedra sharing one vertex (a non-manifold vertex; one component).
    let oct = |c: [f64; 3], s: f64| -> Vec<[f64; 3]> {
        [[1., 0., 0.], [-1., 0., 0.], [0., 1., 0.], [0., -1., 0.], [0., 0., 1.], [0., 0., -1.]].map(|v| [c[0] + s * v[0], c[1] + s * v[1], c[2] + s * v[2]]).to_vec()
    };
    let oct_faces = |m: [u32; 6]| -> Vec<[u32; 3]> {
        let t = [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]];
        t.iter().map(|f: &[usize; 3]| f.map(|k| m[k])).collect()
    };
    let mut p = oct([0.0; 3], 1.0);
    p.extend(oct([2.0, 0.0, 0.0], 1.0).into_iter().skip(1)); // its vertex 0 is (1, 0, 0): shared
    let mut f = oct_faces([0, 1, 2, 3, 4, 5]);
    f.extend(oct_faces([6, 0, 7, 8, 9, 10]));
    let bowtie = Mesh::from_parts("bowtie", p, f, None).unwrap();

    // Duplicate faces (one repeated twice, one repeated with the opposite orientation) on a sphere.
    let mut dup = icosphere(1);
    let (f0, f1) = (dup.faces[0], dup.faces[7]);
    dup.faces.extend([f0, f0, [f1[0], f1[2], f1[1]]]);

    for (mesh, what) in [(&book, "book"), (&bowtie, "bow tie"), (&dup, "duplicates")] {
        let r = tufted_laplacian(&mesh.positions, &mesh.faces, RobustOptions::default(), what).unwrap();
        assert_valid_laplacian(&r.operators, 1, what);
        // The halved cover mass is the area of the faces as given (duplicates counted).
        let area = mesh.area();
        assert!((r.operators.total_area() - area).abs() < 1e-9 * area, "{what}: mass {} vs area {area}", r.operators.total_area());
        println!("{what}: {} faces, {} flips, robust L valid", mesh.num_faces(), r.flips);
        // The same operator as the authors' package on the non-manifold edges and vertex.
        let fixture_name = match what {
            "book" => Some("robust_book.txt"),
            "bow tie" => Some("robust_bowtie.txt"),
            _ => None,
        };
        if let Some(name) = fixture_name {
            let reference = fixture(name);
            let ours = dense_eigen(&r.operators, mesh.num_vertices()).unwrap().eigenvalues;
            assert_eq!(ours.len(), reference.len(), "{what}");
            let top = reference[reference.len() - 1];
            for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
                assert!((a - b).abs() <= 1e-9 * top, "{what}: λ{i} = {a} vs robust_laplacian {b}");
            }
        }
        if what == "book" {
            assert!(r.flips > 0, "the book should need flips");
        }
    }
}

#[test]
fn guards_and_bad_input_get_clear_errors() {
    let mesh = square_grid(16, 0.45);
    let err = |r: kiln_spectral::Result<kiln_spectral::robust::TuftedLaplacian>| r.map(|_| ()).unwrap_err().to_string();
    let e = err(tufted_laplacian(&mesh.positions, &mesh.faces, RobustOptions { max_flips: Some(3), ..Default::default() }, "grid"));
    assert!(e.contains("grid") && e.contains("did not finish within 3 flips"), "{e}");
    // A degenerate (collinear) face is fine with mollification, refused without.
    let p = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 1.0, 0.0]];
    let f = vec![[0, 1, 3], [1, 2, 3], [0, 2, 1]];
    let ok = tufted_laplacian(&p, &f, RobustOptions::default(), "flat").unwrap();
    assert!(ok.mollification > 0.0 && ok.operators.mass.iter().all(|m| m.is_finite() && *m > 0.0));
    assert_valid_laplacian(&ok.operators, 1, "collinear face, mollified");
    let e = err(tufted_laplacian(&p, &f, RobustOptions { mollify: 0.0, ..Default::default() }, "flat"));
    assert!(e.contains("flat") && e.contains("face 2") && e.contains("degenerate"), "{e}");
    let e = err(tufted_laplacian(&p, &[[0, 1, 9]], RobustOptions::default(), "range"));
    assert!(e.contains("face 0 refers to vertex 9"), "{e}");
    let mut nan = p.clone();
    nan[2][1] = f64::NAN;
    let e = err(tufted_laplacian(&nan, &f, RobustOptions::default(), "nan"));
    assert!(e.contains("vertex 2") && e.contains("non-finite"), "{e}");
    let e = err(tufted_laplacian(&p, &[[0, 0, 1], [2, 3, 2]], RobustOptions::default(), "repeats"));
    assert!(e.contains("no faces with three distinct vertices"), "{e}");
    let e = err(tufted_laplacian(&[[1.0; 3]; 3], &[[0, 1, 2]], RobustOptions::default(), "point"));
    assert!(e.contains("zero length"), "{e}");
    let e = point_cloud_laplacian(&nan, PointCloudOptions::default(), "cloud").unwrap_err().to_string();
    assert!(e.contains("point 2") && e.contains("non-finite"), "{e}");
}

/// The normals robust_laplacian 1.1.0 estimates: the least principal direction of the
/// neighbours' offsets from Σ neighbours / (k + 1) — not their centroid, so the estimate
/// depends on where the cloud sits relative to the origin (moving FAUST by 10 along x changes
/// the package's total mass from 1.028 to 1.088).
fn reference_normals(points: &[[f64; 3]], k: usize) -> Vec<[f64; 3]> {
    let nbrs = kiln_spectral::pointcloud::knn(points, k);
    nbrs.iter()
        .map(|nb| {
            let mut c = [0.0; 3];
            for &j in nb {
                (0..3).for_each(|a| c[a] += points[j][a]);
            }
            let c = c.map(|x| x / (nb.len() + 1) as f64);
            let mut cov = faer::Mat::<f64>::zeros(3, 3);
            for &j in nb {
                let d: [f64; 3] = std::array::from_fn(|a| points[j][a] - c[a]);
                for a in 0..3 {
                    for b in 0..3 {
                        cov[(a, b)] += d[a] * d[b];
                    }
                }
            }
            let evd = cov.self_adjoint_eigen(faer::Side::Lower).unwrap();
            let u = evd.U();
            [u[(0, 0)], u[(1, 0)], u[(2, 0)]]
        })
        .collect()
}

/// First 30 eigenvalues written by scripts/robust_reference.py.
fn fixture(name: &str) -> Vec<f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.starts_with('#')).map(|l| l.trim().parse().unwrap()).collect()
}

#[test]
fn faust_matches_the_robust_laplacian_package() {
    let Some(data) = data("faust_matches_the_robust_laplacian_package") else { return };
    let mesh = Mesh::read(data.join("shapes/faust_r/tr_reg_000.off")).unwrap();
    let k = 30;
    let mesh_ref = fixture("robust_mesh_tr_reg_000.txt");
    let cloud_ref = fixture("robust_point_cloud_tr_reg_000.txt");
    let ops = robust_laplacian(&mesh, RobustOptions::default(), "tr_reg_000").unwrap();
    let b = eigen_shift_invert(&ops, k, EigenOptions::default(), "tr_reg_000").unwrap();
    let cloud = point_cloud_laplacian(&mesh.positions, PointCloudOptions::default(), "tr_reg_000 points").unwrap();
    let bc = eigen_shift_invert(&cloud, k, EigenOptions::default(), "tr_reg_000 points").unwrap();
    let compat = point_cloud_laplacian_with_normals(&mesh.positions, &reference_normals(&mesh.positions, 30), PointCloudOptions::default(), "tr_reg_000 points").unwrap();
    let bp = eigen_shift_invert(&compat, k, EigenOptions::default(), "tr_reg_000 points").unwrap();
    let rel = |a: &[f64], r: &[f64]| (1..k).map(|i| (a[i] - r[i]).abs() / r[i]).fold(0.0, f64::max);
    let (em, ec, ep) = (rel(&b.eigenvalues, &mesh_ref), rel(&bc.eigenvalues, &cloud_ref), rel(&bp.eigenvalues, &cloud_ref));
    println!("tr_reg_000 vs robust_laplacian 1.1.0, max relative error of λ1..λ29: mesh {em:.2e}; point cloud {ec:.2e}, with the package's normals {ep:.2e}");
    assert!(b.eigenvalues[0].abs() < 1e-8 && bc.eigenvalues[0].abs() < 1e-8 && bp.eigenvalues[0].abs() < 1e-8);
    // Mesh: the same intrinsic Delaunay triangulation, so the same operator up to rounding.
    assert!(em < 1e-9, "mesh: max relative error {em:e}");
    // Point cloud: with the package's normal estimate the remaining differences are where the
    // local Delaunay triangulations break near-ties differently (its angular sweep accepts
    // circumcircles empty within 1e-4 of the neighbourhood size; ours is exact Bowyer–Watson)
    // and the order of coincident duplicate faces around an edge of the cover (measured 1.1e-3).
    assert!(ep < 2e-3, "point cloud with the package's normals: max relative error {ep:e}");
    // With kiln's translation-invariant normals the spectra differ by up to 6.6 % (measured):
    // the package's normal estimate depends on the cloud's position ([`reference_normals`]).
    assert!(ec < 0.08, "point cloud: max relative error {ec:e}");
}
