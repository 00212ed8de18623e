# Shared start of the device scripts (sourced): elapsed-time log, result folders, the
# compressed binaries carried in .device/ unpacked, and the data paths. The caller sets
# DEADLINE's default before sourcing.
set -u
T0=$(date +%s); el() { echo $(($(date +%s) - T0)); }
OUT=${OUT:-device-out}; R=/tmp/kiln-results; mkdir -p "$OUT" "$R"
log() { echo "[$(el)s] $*" | tee -a "$R/session.log"; }
# unpack NAME: .device/NAME.xz → .device/NAME (executable), unless it is already there.
unpack() {
    local f=$PWD/.device/$1
    [ -x "$f" ] || { [ -f "$f.xz" ] && python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$f.xz'), open('$f','wb'))" && chmod +x "$f"; }
}
unpack kiln
bin=$PWD/.device/kiln
export XDG_RUNTIME_DIR=/tmp/xdg RUST_BACKTRACE=1; mkdir -p $XDG_RUNTIME_DIR
D=$PWD/.device
DM="--depth-model $D/models/fastdepth_op13.onnx"
