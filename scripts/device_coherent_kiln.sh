#!/usr/bin/env bash
# One lease for CoherentGS on kiln's decoder kernels (session 10's GpuDecoder):
#   1. alone: `kiln bench coherent` at fern's full size (504×378, 3 views, 571,536 Gaussians)
#      with the decoders on kiln's kernels, then on Burn (the session-9 baseline, 3.25 steps/s
#      on the H200), same binary, one after the other — the ratio is the result;
#   2. alone: fern full size, --triangulate-depth, kiln's decoders, the whole 13,000-step
#      schedule when the measured rate fits it before the deadline, else the schedule scaled to
#      the steps that fit (the step count is printed); then plain 3DGS, same views and steps.
# Prepare here (see device_common.sh): .device/kiln.xz, .device/fern/, .device/models/.
# Run with carry [".gl", ".device"]:
#   for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash scripts/device_coherent_kiln.sh
# SMOKE=1 runs every command at 48 px for a few steps (a check of the script on lavapipe).
DEADLINE=${DEADLINE:-520}
source "$(dirname "$0")/device_common.sh"
if [ "${SMOKE:-0}" = 1 ]; then SIZE="--resolution 48"; BENCH="--warmup 1 --steps 2"; MAXN=6; E=3
else SIZE=""; BENCH="--warmup 12 --steps 20"; MAXN=13000; E=1000; fi
{ nvidia-smi -L; "$bin" info; } > "$R/info.txt" 2>&1
log "start: $(head -1 "$R/info.txt")"

# ---- 1. The step, alone: kiln's decoders, then Burn's ----
rate=0
# Burn's bench is shorter: its rate is known (3.25 steps/s, session 9); it is here for the
# same-card ratio.
for backend in kiln burn; do
    [ $backend = burn ] && [ "${SMOKE:-0}" != 1 ] && BENCH="--warmup 6 --steps 8"
    timeout 120 "$bin" bench coherent "$D/fern" $SIZE $BENCH $DM --decoder-backend $backend --json > "$R/bench_$backend.json" 2> "$R/bench_$backend.log"
    log "bench coherent ($backend) rc $?: $(python3 -c "import json;d=json.load(open('$R/bench_$backend.json'));print(round(d['steps_per_second'],2), {k: round(v,1) for k,v in d['parts_ms'].items()}, {k: round(v,2) for k,v in d['gpu_stages_ms'].items()})" 2>&1)"
done
rate=$(python3 -c "import json;print(json.load(open('$R/bench_kiln.json'))['steps_per_second'])" 2>/dev/null || echo 1)

# ---- 2. Fern, full size, alone: as many steps as fit, then plain 3DGS on the same budget ----
# Keep 90 s for plain 3DGS and the evaluations; the fit's preparation takes ~20 s.
N=$(python3 -c "print(max(2, min($MAXN, int($rate * ($DEADLINE - $(el) - 110) * 0.9))))")
[ "$N" -lt $MAXN ] && E=$(( (N + 4) / 5 ))
log "coherent: $N steps at ${rate} steps/s measured (eval every $E)"
timeout $(($DEADLINE - $(el) - 80)) "$bin" fit "$D/fern" $SIZE --method coherent --views 3 $DM --triangulate-depth \
    --iters $N --path-frames 4 --checkpoint-every 1000000 --eval-every $E --out "$R/coh" > "$R/coh.log" 2>&1
log "coherent rc $?: $(tail -c 300 "$R/coh.log" | tr '\n' ' ')"
[ -f "$R/coh/eval.jsonl" ] && log "coherent eval: $(tr '\n' ' ' < "$R/coh/eval.jsonl")"
timeout $(($DEADLINE - $(el))) "$bin" fit "$D/fern" $SIZE --views 3 --iters $N --path-frames 4 --checkpoint-every 1000000 \
    --eval-every $E --out "$R/plain" > "$R/plain.log" 2>&1
log "plain rc $?: $(tail -c 200 "$R/plain.log" | tr '\n' ' ')"
[ -f "$R/plain/eval.jsonl" ] && log "plain eval: $(tr '\n' ' ' < "$R/plain/eval.jsonl")"

# ---- Pack: metrics, curves, logs (no clouds or checkpoints) ----
cd "$R"
find . \( -name '*.ply' -o -name 'checkpoints' -o -name '*.bin' -o -name 'path' \) -prune -exec rm -rf {} + 2>/dev/null
python3 -c "import tarfile; t=tarfile.open('$OUT/results.tar.gz','w:gz'); t.add('.'); t.close()"
cp session.log "$OUT/" 2>/dev/null
ls -la "$OUT"
