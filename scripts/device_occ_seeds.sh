#!/usr/bin/env bash
# One lease, session 9: the VoxelSplat benchmark's standard configuration over nine seeds
# (three `kiln occ bench` processes side by side, seeds 0-2, 3-5, 6-8), the CoherentGS step (with and without Burn's kernel fusion)
# after the 2k-slice im2col (timed alone first), and CoherentGS on fern at full size from
# flow-triangulated depth (--triangulate-depth) for as many steps as the deadline allows.
# Run with carry [".gl", ".device"] (.device: kiln.xz, fern/, models/fastdepth_op13.onnx):
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device_occ_seeds.sh
# Each occ arm prints its test metrics as soon as it is evaluated, so a deadline that stops a
# process still leaves the finished arms' numbers in occ_*.log.
set -u
T0=$(date +%s); el() { echo $(($(date +%s) - T0)); }
DEADLINE=${DEADLINE:-500}
OUT=${OUT:-device-out}; R=/tmp/kiln-results; mkdir -p "$OUT" "$R"
log() { echo "[$(el)s] $*" | tee -a "$R/session.log"; }
bin=$PWD/.device/kiln
[ -x "$bin" ] || { python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.device/kiln.xz'), open('$bin','wb'))" && chmod +x "$bin"; }
export XDG_RUNTIME_DIR=/tmp/xdg RUST_BACKTRACE=1; mkdir -p $XDG_RUNTIME_DIR
D=$PWD/.device
DM="--depth-model $D/models/fastdepth_op13.onnx"
if [ "${SMOKE:-0}" = 1 ]; then SIZE="--resolution 48"; BENCH="--warmup 1 --steps 2"; OCC="--quick --seeds 1 --steps 2"; N=4; E=2
else SIZE=""; BENCH="--warmup 12 --steps 10"; OCC="--seeds 3 --steps 600"; N=800; E=160; fi
{ nvidia-smi -L; "$bin" info; } > "$R/info.txt" 2>&1
log "start: $(head -1 "$R/info.txt")"

# ---- Phase 1, alone: the CoherentGS step, its Burn host and GPU parts split ----
# The same step with Burn's kernel fusion (a second binary, built with --features fusion).
fbin=$PWD/.device/kiln-fusion
[ -x "$fbin" ] || { [ -f .device/kiln-fusion.xz ] && python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('.device/kiln-fusion.xz'), open('$fbin','wb'))" && chmod +x "$fbin"; }
for b in kiln kiln-fusion; do
    [ -x "$PWD/.device/$b" ] || continue
    timeout 90 "$PWD/.device/$b" bench coherent "$D/fern" $SIZE $BENCH $DM --json > "$R/bench_$b.json" 2> "$R/bench_$b.log"
    log "bench coherent ($b) rc $?: $(python3 -c "import json;d=json.load(open('$R/bench_$b.json'));print(round(d['steps_per_second'],2), {k: round(v,1) for k,v in d['parts_ms'].items()})" 2>&1)"
done

# ---- Phase 2, side by side until the deadline ----
job() { local name=$1 threads=$2; shift 2; (RAYON_NUM_THREADS=$threads timeout $(($DEADLINE - $(el))) "$@" > "$R/$name.log" 2>&1; echo "rc $? at $(el)s" >> "$R/$name.log") & }
for s in 0 3 6; do job occ_$s 3 "$bin" occ bench $OCC --first-seed $s --json; done
job coh_tri 6 "$bin" fit "$D/fern" $SIZE --method coherent --views 3 $DM --triangulate-depth --iters $N \
    --path-frames 4 --checkpoint-every 1000000 --eval-every $E --out "$R/coh_tri"
wait
log "phase 2 done"
log "coh_tri: $(tail -c 300 "$R/coh_tri.log" | tr '\n' ' ')"
[ -f "$R/coh_tri/eval.jsonl" ] && log "coh_tri eval: $(tr '\n' ' ' < "$R/coh_tri/eval.jsonl")"
for s in 0 3 6; do log "occ_$s: $(grep 'finished:' "$R/occ_$s.log" | tr '\n' ' ') $(tail -1 "$R/occ_$s.log")"; done

# ---- Pack: metrics, curves, logs (no clouds or checkpoints) ----
cd "$R"
find . \( -name '*.ply' -o -name 'checkpoints' -o -name '*.bin' -o -name 'path' \) -prune -exec rm -rf {} + 2>/dev/null
python3 -c "import tarfile; t=tarfile.open('$OUT/results.tar.gz','w:gz'); t.add('.'); t.close()"
cp session.log "$OUT/" 2>/dev/null
ls -la "$OUT"
