#!/usr/bin/env bash
# Vendor onnxruntime-web (npm) into src/adain/static/ort/, the page's in-browser runtime.
#
#   scripts/vendor_onnxruntime_web.sh            # the WebAssembly build (committed: 14 MB)
#   scripts/vendor_onnxruntime_web.sh --webgpu   # also the WebGPU build (27 MB more, not committed)
#
# Needs npm (it only downloads the package tarball: npm pack). VERSION overrides the version.
set -euo pipefail
version="${VERSION:-1.30.0}"
dest="$(cd "$(dirname "$0")/.." && pwd)/src/adain/static/ort"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "onnxruntime-web@$version" >/dev/null && tar xzf onnxruntime-web-*.tgz)
files=(ort.wasm.min.mjs ort-wasm-simd-threaded.mjs ort-wasm-simd-threaded.wasm)
if [[ "${1:-}" == "--webgpu" ]]; then
  files+=(ort.webgpu.min.mjs ort-wasm-simd-threaded.asyncify.mjs ort-wasm-simd-threaded.asyncify.wasm)
fi
mkdir -p "$dest"
for f in "${files[@]}"; do cp "$tmp/package/dist/$f" "$dest/"; done
du -ch "${files[@]/#/$dest/}" | tail -1
echo "onnxruntime-web $version: ${files[*]} in $dest"
