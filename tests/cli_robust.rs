//! `kiln basis --robust` and the point-cloud path (`--point-cloud`, or a file without faces):
//! the same files as `kiln basis`, the robust operator's spectrum (checked against the authors'
//! package on a non-manifold mesh), one-line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).output().expect("run kiln")
}

fn read_column(path: &PathBuf) -> Vec<f64> {
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

fn one_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ") && !l.contains("XDG_RUNTIME_DIR")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{stderr}");
    lines[0].to_string()
}

#[test]
fn basis_robust_and_point_cloud() {
    let dir = std::env::temp_dir().join(format!("kiln-cli-robust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
    assert!(one_error_line(&out).contains("2 neighbours"), "{}", one_error_line(&out));
    let out = kiln(&["basis", book.to_str().unwrap(), "--robust", "--learned", "--out", a.to_str().unwrap()]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(&dir).ok();
}
