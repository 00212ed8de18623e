#!/usr/bin/env bash
# One lease, session 9: the CoherentGS step timed alone (and, when .device/kiln-fusion.xz is
# there, the same commit built with Burn's `fusion` feature in kiln-nn: session 9 measured no
# gain and did not keep the feature), then three `kiln occ bench` processes (standard street,
# seeds 0-2, 3-5, 6-8) beside CoherentGS on fern at full size from flow-triangulated depth
# (--triangulate-depth) until the deadline. Lesson of its run: the benchmarks' splat arms wait
# on the GPU often and crawl when processes share the card; run them alone.
# Run with carry [".gl", ".device"] (.device: kiln.xz, fern/, models/fastdepth_op13.onnx):
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device_occ_seeds.sh
# Each occ arm prints its test metrics as soon as it is evaluated, so a deadline that stops a
# process still leaves the finished arms' numbers in occ_*.log.
DEADLINE=${DEADLINE:-500}
source "$(dirname "$0")/device_common.sh"
if [ "${SMOKE:-0}" = 1 ]; then SIZE="--resolution 48"; BENCH="--warmup 1 --steps 2"; OCC="--quick --seeds 1 --steps 2"; N=4; E=2
else SIZE=""; BENCH="--warmup 12 --steps 10"; OCC="--seeds 3 --steps 600"; N=800; E=160; fi
{ nvidia-smi -L; "$bin" info; } > "$R/info.txt" 2>&1
log "start: $(head -1 "$R/info.txt")"

# ---- Phase 1, alone: the CoherentGS step, its Burn host and GPU parts split ----
unpack kiln-fusion
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
