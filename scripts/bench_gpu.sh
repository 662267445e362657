#!/usr/bin/env bash
# One-command GPU benchmark: `adain bench` on CUDA (eager and torch.compile'd with
# frozen weights and CUDA graphs, bf16, channels_last), the variants side by side at 512 px, and
# the throughput of 1920x1080 video frames. Targets on one H100: 512x512 in <= 2 ms per image,
# 1920x1080 at >= 60 frames/s.
#
#   bash scripts/bench_gpu.sh [OUTDIR]        # default OUTDIR: $OUT if set, else bench-gpu/
#
# The compiled step compiles 4 shapes (512 px single and batch, 1920x1080 batch, the video's
# style); expect a few minutes in all on one H100 machine.
#
# Without a CUDA GPU it runs the same steps on CPU at tiny sizes (a check of the script itself;
# those numbers mean nothing). Each step writes OUTDIR/<step>.md and OUTDIR/<step>.err.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-bench-gpu}}"
mkdir -p "$out"
[ -f .venv/bin/activate ] && . .venv/bin/activate
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # works without `pip install -e .` too

if python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    device=cuda sizes="256 512 1024" compare=512 runs=20 batch=8 video=1920x1080 train="--train-batch 8"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" || true
else
    echo "no CUDA GPU: CPU fallback at tiny sizes (checks the script, not the hardware)" >&2
    device=cpu sizes="32" compare=32 runs=1 batch=2 video=64x40 train="--train-batch 1"
fi
python -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' > "$out/versions.txt"

step() {  # step NAME ARGS...: run `adain bench ARGS` into OUTDIR/NAME.{md,err}, report its status
    local name=$1; shift
    echo "== $name: adain bench $*" >&2
    if python -m adain.cli bench "$@" > "$out/$name.md" 2> "$out/$name.err"; then echo "ok   $name" >&2; else echo "FAIL $name (see $out/$name.err)" >&2; status=1; fi
}
status=0
common=(--device "$device" --runs "$runs" --batch "$batch" --sizes $sizes)
step eager "${common[@]}" $train --accuracy
step compiled --device "$device" --runs "$runs" --batch "$batch" --sizes "$compare" --no-train --compile --video "$video"
step compare --device "$device" --runs "$runs" --compare --sizes "$compare"
cat "$out"/eager.md "$out"/compiled.md "$out"/compare.md
exit $status
