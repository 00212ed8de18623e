"""pyFM 1.3.1 baseline for `kiln bench spectral`: the README pipeline on FAUST_r pairs, timed per pair.

Usage: python scripts/pyfm_spectral.py SHAPES_DIR OUT_DIR [N_PAIRS]
Needs `pip install pyfmaps==1.3.1` (scipy, potpourri3d, robust_laplacian come with it).
Writes OUT_DIR/<j>_<i>.txt (0-based point map j -> i, kiln's format) and prints one JSON line
per pair plus a summary; evaluate the maps with `kiln eval-match` for identical error figures.
"""
import json, sys, time
import numpy as np
import scipy.sparse.linalg as sla
from pyFM.mesh import TriMesh
from pyFM.functional import FunctionalMapping

shapes, out = sys.argv[1], sys.argv[2]
n_pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 72
faust = f"{shapes}/faust_r"
pairs = [(i, j) for i in range(9) for j in range(9) if i != j]
if n_pairs < len(pairs):
    pairs = pairs[:: max(1, len(pairs) // n_pairs)][:n_pairs]

# Eigensolver alone (scipy shift-invert eigsh, as in pyFM's laplacian_spectrum).
m = TriMesh.load(f"{faust}/tr_reg_000.off")
W, A = m._build_cotan_operators()
eig = {}
for k in (30, 100, 200):
    ts = []
    for _ in range(3):
        t = time.perf_counter()
        sla.eigsh(W, k=k, M=A, sigma=-0.01)
        ts.append(time.perf_counter() - t)
    eig[k] = sorted(ts)[1]
print(json.dumps({"eigsh_seconds": eig}), flush=True)

times = []
for i, j in pairs:
    t0 = time.perf_counter()
    m1 = TriMesh.load(f"{faust}/tr_reg_{i:03d}.off", area_normalize=True, center=True)
    m2 = TriMesh.load(f"{faust}/tr_reg_{j:03d}.off", area_normalize=True, center=True)
    model = FunctionalMapping(m1, m2)
    model.preprocess(descr_type="WKS", subsample_step=2)
    t1 = time.perf_counter()
    model.fit(K=30, w_descr=1e0, w_lap=1e-1, w_dcomm=1e0, w_orient=1e0)
    p2p = model.get_p2p()
    t2 = time.perf_counter()
    fm = model.zoomout_refine(nit=16, step=5)
    p2p_zo = model.get_p2p(fm)
    t3 = time.perf_counter()
    np.savetxt(f"{out}/{j}_{i}_init.txt", p2p, fmt="%d")
    np.savetxt(f"{out}/{j}_{i}.txt", p2p_zo, fmt="%d")
    times.append(t3 - t0)
    print(json.dumps({"a": i, "b": j, "seconds_preprocess": t1 - t0, "seconds_fit": t2 - t1, "seconds_zoomout": t3 - t2, "seconds_total": t3 - t0}), flush=True)
print(json.dumps({"pairs": len(times), "mean_seconds_per_pair": float(np.mean(times))}))
