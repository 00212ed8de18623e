#!/usr/bin/env bash
# A short lease: CoherentGS's step at fern's full size on the GPU, alone, after Burn's
# autotuning, for each way the decoders can compute their convolutions, and without decoders.
# Run with carry [".gl", ".device"]:
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device_probe.sh
set -u
T0=$(date +%s); el() { echo $(($(date +%s) - T0)); }
OUT=${OUT:-probe-out}; mkdir -p "$OUT"
bin=$PWD/.device/kiln
[ -x "$bin" ] || { python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.device/kiln.xz'), open('$bin','wb'))" && chmod +x "$bin"; }
export XDG_RUNTIME_DIR=/tmp/xdg RUST_BACKTRACE=1; mkdir -p $XDG_RUNTIME_DIR
D=$PWD/.device
{ nvidia-smi -L; "$bin" info; } > "$OUT/info.txt" 2>&1
echo "[$(el)s] unpacked" >> "$OUT/log"
DM="--depth-model $D/models/fastdepth_op13.onnx"
for form in ${FORMS:-matmul auto burn}; do
    timeout ${CAP:-50} "$bin" bench coherent "$D/fern" --warmup ${WARMUP:-12} --steps ${STEPS:-10} --decoder-conv $form $DM --json > "$OUT/coh_$form.json" 2> "$OUT/coh_$form.log"
    echo "[$(el)s] coherent $form rc $?" >> "$OUT/log"
done
timeout 30 "$bin" bench coherent "$D/fern" --warmup 5 --steps 15 --no-decoder $DM --json > "$OUT/coh_nodec.json" 2> "$OUT/coh_nodec.log"
echo "[$(el)s] no-decoder rc $?" >> "$OUT/log"
cat "$OUT/log"
for f in "$OUT"/coh_*.json; do echo "== $f"; python3 -c "import json,sys;d=json.load(open('$f'));print(d['steps_per_second'],d['first_step_seconds'],d['parts_ms'])" 2>&1; done
