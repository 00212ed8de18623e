//! Test meshes and data paths shared by the spectral test files (each file uses a subset).
#![allow(dead_code)]

use kiln_scene::mesh::Mesh;
use std::collections::HashMap;
use std::path::PathBuf;

/// `$KILN_DATA`, or None (and a note) when it is not set: data-driven tests skip then.
pub fn kiln_data(test: &str) -> Option<PathBuf> {
    match std::env::var_os("KILN_DATA").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            println!("{test}: skipped, KILN_DATA is not set");
            None
        }
    }
}

/// `$KILN_DATA/shapes` (see [`kiln_data`]).
pub fn shapes_dir(test: &str) -> Option<PathBuf> {
    kiln_data(test).map(|d| d.join("shapes"))
}

/// Unit icosphere subdivided `levels` times (642 vertices at 3).
pub fn icosphere(levels: usize) -> Mesh {
    let t = (1.0 + 5f64.sqrt()) / 2.0;
    let unit = |v: [f64; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        v.map(|x| x / n)
    };
    let mut p: Vec<[f64; 3]> = [
        [-1., t, 0.], [1., t, 0.], [-1., -t, 0.], [1., -t, 0.], [0., -1., t], [0., 1., t],
        [0., -1., -t], [0., 1., -t], [t, 0., -1.], [t, 0., 1.], [-t, 0., -1.], [-t, 0., 1.],
    ]
    .into_iter()
    .map(unit)
    .collect();
    let mut f: Vec<[u32; 3]> = vec![
        [0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
        [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1],
    ];
    for _ in 0..levels {
        let mut mid: HashMap<(u32, u32), u32> = HashMap::new();
        let mut nf = Vec::new();
        for tri in &f {
            let mut m = [0u32; 3];
            for k in 0..3 {
                let (a, b) = (tri[k], tri[(k + 1) % 3]);
                m[k] = *mid.entry((a.min(b), a.max(b))).or_insert_with(|| {
                    let (pa, pb) = (p[a as usize], p[b as usize]);
                    p.push(unit([(pa[0] + pb[0]) / 2., (pa[1] + pb[1]) / 2., (pa[2] + pb[2]) / 2.]));
                    (p.len() - 1) as u32
                });
            }
            nf.extend([[tri[0], m[0], m[2]], [tri[1], m[1], m[0]], [tri[2], m[2], m[1]], [m[0], m[1], m[2]]]);
        }
        f = nf;
    }
    Mesh::from_parts("icosphere", p, f, None).unwrap()
}
