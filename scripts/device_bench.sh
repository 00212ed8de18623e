#!/usr/bin/env bash
# The rasterizer benchmark of issue 2 / BENCHMARKS.md on a lent GPU machine, in one call.
# Prepare here (once):  cargo build --release && mkdir -p .device &&
#                       strip -o .device/kiln target/release/kiln && zstd -19 -f .device/kiln
# Then run on the device with carry [".gl", ".device"]:
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device_bench.sh
# Results: $OUT/bench_<N>_<opacity>.json (per-stage GPU medians) and $OUT/info.txt.
set -euo pipefail
OUT="${OUT:-bench-out}"
mkdir -p "$OUT"
bin=.device/kiln
[ -x "$bin" ] || { zstd -d -f .device/kiln.zst -o "$bin"; chmod +x "$bin"; }
"$bin" info > "$OUT/info.txt" 2>&1
for n in 1000000 3000000; do
    for mu in 0 -4; do
        "$bin" bench raster --gaussians "$n" --opacity-mean "$mu" --iters 20 --warmup 5 --json \
            > "$OUT/bench_${n}_${mu}.json" 2>> "$OUT/info.txt"
    done
done
cat "$OUT"/bench_*.json
