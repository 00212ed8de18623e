//! Mesh and point-cloud IO: round trips through every format, the error cases, and the real
//! shape files under `KILN_DATA` (skipped with a note when unset).

use kiln_scene::mesh::{Mesh, MeshError, PointCloud};
use std::path::PathBuf;

fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kiln-mesh-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &std::path::Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn tetra() -> Mesh {
    Mesh::from_parts(
        "tetra",
        vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        Some(vec![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]]),
    )
    .unwrap()
}

#[test]
fn round_trip_every_format_with_colours() {
    let dir = tmp_dir("rt");
    let m = tetra();
    for ext in ["obj", "off", "ply"] {
        let p = dir.join(format!("t.{ext}"));
        m.write(&p).unwrap();
        let back = Mesh::read(&p).unwrap();
        assert_eq!(back.positions, m.positions, "{ext}");
        assert_eq!(back.faces, m.faces, "{ext}");
        let c = back.colors.expect(ext);
        for (a, b) in c.iter().zip(m.colors.as_ref().unwrap()) {
            for k in 0..3 {
                assert!((a[k] - b[k]).abs() < 1.0 / 255.0, "{ext}: {a:?} vs {b:?}");
            }
        }
        let cloud = PointCloud::read(&p).unwrap();
        assert_eq!(cloud.positions, m.positions);
    }
    let r = m.edge_report();
    assert_eq!((r.edges, r.boundary, r.non_manifold, r.unreferenced_vertices), (6, 0, 0, 0));
    assert!((m.area() - (1.5 + 3f64.sqrt() / 2.0)).abs() < 1e-12);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn tolerated_variants() {
    let dir = tmp_dir("tol");
    // OFF with CRLF, comments, counts on the header line, a quad and a degenerate triangle.
    let p = write(&dir, "q.off", b"OFF 5 3 0\r\n# comment\r\n0 0 0\r\n1 0 0\r\n1 1 0\r\n0 1 0\r\n9 9 9\r\n4 0 1 2 3\r\n3 0 0 1\r\n3 0 1 2\r\n");
    let m = Mesh::read(&p).unwrap();
    assert_eq!(m.faces, vec![[0, 1, 2], [0, 2, 3], [0, 1, 2]]);
    assert_eq!(m.dropped_faces, 1);
    assert_eq!(m.edge_report().unreferenced_vertices, 1);
    // OBJ with v/vt/vn corners, negative indices and a group; vertex order kept.
    let p = write(&dir, "a.obj", b"# x\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\ng part\nf 3/1 -3/1 2/1\n");
    let m = Mesh::read(&p).unwrap();
    assert_eq!(m.positions[2], [0.0, 1.0, 0.0]);
    assert_eq!(m.faces, vec![[2, 0, 1]]);
    // ASCII PLY with an extra property and element.
    let p = write(
        &dir,
        "a.ply",
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nproperty float nx\nelement face 1\nproperty list uchar int vertex_index\nelement edge 1\nproperty int a\nproperty int b\nend_header\n0 0 0 1\n1 0 0 1\n0 1 0 1\n3 0 1 2\n0 1\n",
    );
    let m = Mesh::read(&p).unwrap();
    assert_eq!(m.faces, vec![[0, 1, 2]]);
    assert!(m.colors.is_none());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_gets_clear_errors() {
    let dir = tmp_dir("bad");
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("empty.off", b"OFF\n0 0 0\n", "empty mesh"),
        ("nofaces.obj", b"v 0 0 0\nv 1 0 0\n", "no faces"),
        ("nan.off", b"OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", "vertex 1 has a non-finite"),
        ("range.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "refers to vertex 7"),
        ("range.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "refers to vertex 3"),
        ("short.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n", "file ends before face 0"),
        ("junk.off", b"OFF\n3 1 0\n0 0 0\n1 zero 0\n0 1 0\n3 0 1 2\n", "line 4: bad coordinate"),
        ("x.stl", b"solid", "unsupported mesh format"),
        ("trunc.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\nend_header\n\0\0\0\0", "ends early"),
    ];
    for (name, content, expect) in cases {
        let p = write(&dir, name, content);
        let e = Mesh::read(&p).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains(expect), "{name}: {msg:?} lacks {expect:?}");
    }
    assert!(matches!(Mesh::read(dir.join("missing.off")), Err(MeshError::Io { .. })));
    assert!(PointCloud::from_f32("splats", &[[0.0, f32::NAN, 0.0]]).is_err());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn real_shapes_load() {
    let Some(data) = std::env::var_os("KILN_DATA").map(PathBuf::from) else {
        println!("real_shapes_load: skipped, KILN_DATA is not set");
        return;
    };
    let m = Mesh::read(data.join("shapes/faust_r/tr_reg_000.off")).unwrap();
    assert_eq!((m.num_vertices(), m.num_faces()), (4999, 9994));
    let r = m.edge_report();
    assert_eq!((r.boundary, r.non_manifold), (0, 0));
    let m = Mesh::read(data.join("shapes/smal_r/cougar.obj")).unwrap();
    assert!(m.num_vertices() > 5000 && m.edge_report().boundary == 0);
    let m = Mesh::read(data.join("shapes/cactus/cactus.off")).unwrap();
    assert_eq!((m.num_vertices(), m.num_faces()), (1856, 3708));
    let m = Mesh::read(data.join("meshes/suzanne.obj")).unwrap();
    assert_eq!(m.num_vertices(), 507);
    assert_eq!(m.num_faces(), 468 * 2 + 32);
}
