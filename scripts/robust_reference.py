"""Reference eigenvalues of Sharp & Crane's robust Laplacian (`pip install robust-laplacian`,
1.1.0) for kiln's tests: engine/spectral/tests/fixtures/robust_*.txt.

Usage: python scripts/robust_reference.py SHAPES_DIR OUT_DIR [REPEATS]
For FAUST_r tr_reg_000 (raw coordinates): the mesh Laplacian (`mesh_laplacian`, mollify 1e-5)
and the point-cloud Laplacian of its vertices (`point_cloud_laplacian`, 30 neighbours,
mollify 1e-5); the first 30 eigenvalues of L x = lambda M x by scipy's shift-invert
`eigsh(L, k=30, M=M, sigma=1e-8)`, one per line. Also all eigenvalues (dense) of two small
non-manifold meshes built exactly as in engine/spectral/tests/robust.rs: the three-page book
and the bow tie of two octahedra. Prints one JSON line with the versions and the median time
of building each FAUST operator (REPEATS runs, default 5).
"""
import json, sys, time
import numpy as np
import scipy, scipy.linalg, scipy.sparse.linalg as sla
import robust_laplacian
from importlib.metadata import version


def read_off(path):
    with open(path) as f:
        words = f.read().split()
    assert words[0] == "OFF", path
    nv, nf = int(words[1]), int(words[2])
    vals = words[4:]
    verts = np.array(vals[: 3 * nv], dtype=np.float64).reshape(nv, 3)
    rest = np.array(vals[3 * nv : 3 * nv + 4 * nf], dtype=np.int64).reshape(nf, 4)
    assert (rest[:, 0] == 3).all(), "triangles only"
    return verts, rest[:, 1:]


def timed(fn, repeats):
    ts, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return out, float(np.median(ts))


def book():
    """Three pages (4 x 3 grids) on one spine, vertices moved along it: non-manifold edges."""
    p, f = [[0.0, 0.0, j * 0.25] for j in range(5)], []
    for page in range(3):
        angle, base = 2 * np.pi * page / 3 + 0.3 * page, len(p)
        for i in range(1, 4):
            for j in range(5):
                dz = 0.1 * (((i + j + page) % 3) - 1.0) if 1 <= j < 4 else 0.0
                p.append([i * 0.3 * np.cos(angle), i * 0.3 * np.sin(angle), j * 0.25 + dz])
        idx = lambda i, j: j if i == 0 else base + (i - 1) * 5 + j
        for i in range(3):
            for j in range(4):
                f += [[idx(i, j), idx(i + 1, j), idx(i + 1, j + 1)], [idx(i, j), idx(i + 1, j + 1), idx(i, j + 1)]]
    return np.array(p), np.array(f)


def bowtie():
    """Two octahedra sharing one vertex (a non-manifold vertex)."""
    unit = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)
    tris = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]])
    p = np.vstack([unit, (unit + [2.0, 0, 0])[1:]])
    second = np.array([6, 0, 7, 8, 9, 10])
    return p, np.vstack([tris, second[tris]])


shapes, out = sys.argv[1], sys.argv[2]
repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
verts, faces = read_off(f"{shapes}/faust_r/tr_reg_000.off")
report = {"robust_laplacian": version("robust_laplacian"), "scipy": scipy.__version__, "vertices": len(verts), "faces": len(faces)}
for name, build in [
    ("mesh", lambda: robust_laplacian.mesh_laplacian(verts, faces, mollify_factor=1e-5)),
    ("point_cloud", lambda: robust_laplacian.point_cloud_laplacian(verts, mollify_factor=1e-5, n_neighbors=30)),
]:
    (L, M), secs = timed(build, repeats)
    vals = np.sort(sla.eigsh(L, k=30, M=M, sigma=1e-8, return_eigenvectors=False))
    np.savetxt(f"{out}/robust_{name}_tr_reg_000.txt", vals, fmt="%.12e",
               header=f"robust_laplacian {report['robust_laplacian']} {name}_laplacian(tr_reg_000, mollify 1e-5"
               + (", 30 neighbours" if name == "point_cloud" else "") + "), eigsh k=30 sigma=1e-8")
    report[f"seconds_{name}"] = secs
    report[f"offdiag_positive_{name}"] = int(((L - scipy.sparse.diags(L.diagonal())) > 1e-12).sum())
for name, (p, f) in [("book", book()), ("bowtie", bowtie())]:
    L, M = robust_laplacian.mesh_laplacian(p, f, mollify_factor=1e-5)
    vals = scipy.linalg.eigh(L.toarray(), M.toarray(), eigvals_only=True)
    np.savetxt(f"{out}/robust_{name}.txt", vals, fmt="%.12e",
               header=f"robust_laplacian {report['robust_laplacian']} mesh_laplacian({name}, mollify 1e-5), all eigenvalues (scipy.linalg.eigh)")
print(json.dumps(report))
