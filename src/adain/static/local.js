// In-browser stylization: the exported encoder and decoder run in onnxruntime-web (WebAssembly, or
// WebGPU where the browser has it and the WebGPU build is installed); the controls between them are
// the formulas of adain's Python code (ops.py, controls.py, color.py, geometry.py, apps/server/; the lite model's
// lite/runtime.py), written out in plain JS.
// Images are Float32Array in CHW order with their sizes: {data, c, h, w}.

const EPS = 1e-5;
const FORMAT = "adain-onnx";
const FORMAT_VERSION = 1;
const MULTIPLE = 8;
const CACHE = "adain-models";

// ------------------------------------------------------------ runtime and models

let runtime = null; // {ort, backend}
let models = null; // {key, manifest, encoder, decoder}

async function exists(url) {
  try {
    return (await fetch(url, { method: "HEAD" })).ok;
  } catch (_) {
    return false;
  }
}

/** What this browser lacks to compute locally, or null. */
export function missingSupport() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") return "WebAssembly";
  if (typeof OffscreenCanvas === "undefined" && typeof document === "undefined") return "a canvas";
  return null;
}

async function loadRuntime(base) {
  if (runtime) return runtime;
  const lacking = missingSupport();
  if (lacking) throw new Error(`this browser lacks ${lacking}, which computing in the browser needs`);
  const ortFolder = new URL(`${base}ort/`, location.href).href;
  let backend = "wasm";
  let bundle = "ort.wasm.min.mjs";
  if ("gpu" in navigator && (await exists(`${ortFolder}ort.webgpu.min.mjs`))) {
    try {
      if (await navigator.gpu.requestAdapter()) [backend, bundle] = ["webgpu", "ort.webgpu.min.mjs"];
    } catch (_) { /* no adapter: WebAssembly */ }
  }
  const ort = await import(ortFolder + bundle);
  ort.env.wasm.wasmPaths = ortFolder;
  ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  runtime = { ort, backend };
  return runtime;
}

async function cachedBytes(url, digest, onProgress) {
  // Cache Storage keyed by the file's SHA-256: fetched once, reused across visits until the export changes
  const key = `${url}?sha256=${digest}`;
  const cache = self.caches ? await caches.open(CACHE).catch(() => null) : null;
  const hit = cache && (await cache.match(key));
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status}`);
  const total = Number(response.headers.get("Content-Length")) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let seen = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    seen += value.length;
    onProgress(seen, total);
  }
  const bytes = new Uint8Array(seen);
  let offset = 0;
  for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
  const actual = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
  if (actual !== digest) throw new Error(`${url}: does not match its manifest (SHA-256 differs): export the models again`);
  if (cache) await cache.put(key, new Response(bytes)).catch(() => {});
  return bytes;
}

/** Load (once) the exported models listed by the manifest at `manifestUrl`. */
export async function loadModels(manifestUrl, base, onStatus) {
  const { ort, backend } = await loadRuntime(base);
  const response = await fetch(manifestUrl, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${manifestUrl}: the server answered ${response.status}`);
  const manifest = await response.json();
  if (manifest.format !== FORMAT) throw new Error(`${manifestUrl}: not an adain ONNX manifest`);
  if (manifest.format_version !== FORMAT_VERSION) {
    throw new Error(`${manifestUrl}: export format ${manifest.format_version} (made by adain ${manifest.adain_version}); this page reads format ${FORMAT_VERSION}: export again`);
  }
  const key = manifest.files.encoder.sha256 + manifest.files.decoder.sha256;
  if (models && models.key === key) return models;
  const folder = new URL(".", new URL(manifestUrl, location.href)).href;
  const total = manifest.files.encoder.bytes + manifest.files.decoder.bytes;
  const sessions = {};
  let done = 0;
  for (const role of ["encoder", "decoder"]) {
    const entry = manifest.files[role];
    const bytes = await cachedBytes(folder + entry.path, entry.sha256, (seen) => {
      onStatus(`Loading the models… ${((done + seen) / 2 ** 20).toFixed(1)} / ${(total / 2 ** 20).toFixed(1)} MiB`);
    });
    done += entry.bytes;
    onStatus(`Preparing the ${role}…`);
    sessions[role] = await ort.InferenceSession.create(bytes, { executionProviders: backend === "webgpu" ? ["webgpu", "wasm"] : ["wasm"] });
  }
  models = { key, manifest, backend, ...sessions };
  return models;
}

// ------------------------------------------------------------ the lite model (adain/lite/runtime.py)

const LITE_FORMAT = "adain-lite";
let lite = null; // {key, manifest, encoder, decoder}

/** Load (once) the lite model's two graphs listed by the manifest at `manifestUrl`. */
export async function loadLite(manifestUrl, base, onStatus) {
  const { ort, backend } = await loadRuntime(base);
  const response = await fetch(manifestUrl, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${manifestUrl}: the server answered ${response.status}`);
  const manifest = await response.json();
  if (manifest.format !== LITE_FORMAT) throw new Error(`${manifestUrl}: not the lite model's manifest`);
  const key = manifest.files.encoder.sha256 + manifest.files.decoder.sha256;
  if (lite && lite.key === key) return lite;
  const folder = new URL(".", new URL(manifestUrl, location.href)).href;
  const sessions = {};
  for (const role of ["encoder", "decoder"]) {
    const entry = manifest.files[role];
    const bytes = await cachedBytes(folder + entry.path, entry.sha256, (seen) => {
      onStatus(`Loading the lite model… ${(seen / 2 ** 20).toFixed(1)} / ${(entry.bytes / 2 ** 20).toFixed(1)} MiB`);
    });
    sessions[role] = await ort.InferenceSession.create(bytes, { executionProviders: backend === "webgpu" ? ["webgpu", "wasm"] : ["wasm"] });
  }
  lite = { key, manifest, backend, ...sessions };
  return lite;
}

/** The lite encoder on an image: the features the decoder takes (bottleneck, feature1 …) and each stage's {mean, std}. */
async function liteEncode(nets, image) {
  const { ort } = runtime;
  const out = await nets.encoder.run({ image: new ort.Tensor("float32", image.data, [1, image.c, image.h, image.w]) });
  const names = nets.manifest.stats;
  const stats = [];
  for (let i = 0; i < names.length; i += 2) stats.push({ mean: out[names[i]].data, std: out[names[i + 1]].data });
  const features = { bottleneck: out.bottleneck };
  for (let l = 1; l < names.length / 2; l++) features[`feature${l}`] = out[`feature${l}`];
  return { features, stats };
}

/**
 * Stylize with the lite model: the styles' statistics mixed by the weights, blended with the content's own by α,
 * at every stage (as LiteModel.stylize; painted masks run on the server).
 */
export async function stylizeLite(job, nets) {
  if (job.masks) throw new Error("painted masks with the lite model are computed on the server");
  const { ort } = runtime;
  const content = resizeShorter(job.content.image, job.size);
  const { h, w } = content;
  const hits = [];
  const styles = [];
  for (const style of job.styles) {
    if (style.stats) throw new Error(`${style.label}: a style file holds the full model's statistics; the lite model needs the painting`);
    const key = ["lite", nets.key, style.key, job.preserve, job.preserve ? `${job.content.key}@${job.size}` : ""].join("|");
    hits.push(styleCache.has(key));
    if (!styleCache.has(key)) {
      const side = Math.min(job.styleSize, nets.manifest.style_size); // the lite model's scale: larger paintings are shrunk
      const image = Math.min(style.image.h, style.image.w) > side ? resizeShorter(style.image, side) : style.image;
      const [, [netStyle]] = colorInputs(content, [image], job.preserve);
      styleCache.set(key, (await liteEncode(nets, netStyle)).stats);
    }
    styles.push(styleCache.get(key));
  }
  const weights = normaliseWeights(job.weights, styles.length);
  const [netContent] = colorInputs(content, [], job.preserve);
  const padded = padToMultiple(netContent, nets.manifest.multiple);
  const { features, stats: own } = await liteEncode(nets, padded);
  const feeds = { ...features };
  own.forEach((level, l) => {
    for (const kind of ["mean", "std"]) {
      const target = new Float32Array(level[kind].length);
      for (let k = 0; k < target.length; k++) {
        let mixed = 0;
        styles.forEach((s, i) => { mixed += weights[i] * s[l][kind][k]; });
        target[k] = job.alpha * mixed + (1 - job.alpha) * level[kind][k];
      }
      feeds[`${kind}${l + 1}`] = new ort.Tensor("float32", target, [1, target.length, 1, 1]);
    }
  });
  const decoded = (await nets.decoder.run(feeds)).image;
  const [, , H, W] = decoded.dims;
  const out = new Float32Array(3 * h * w);
  for (let k = 0; k < 3; k++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[k * h * w + y * w + x] = clamp01(decoded.data[k * H * W + y * W + x]);
    }
  }
  let image = { data: out, c: 3, h, w };
  if (job.preserve === "luminance") image = keepChroma(image, content);
  return { image, hits };
}

const STYLE_FORMAT = "adain-style/1";

/**
 * A style file's (adain save-style: safetensors) relu4_1 statistics {mean, std}, as adain.io.stylefile reads them,
 * checked against the exported encoder (`encoderIdentity`, from the export's manifest).
 */
export function parseStyleFile(bytes, label, encoderIdentity) {
  const notOne = new Error(`${label}: not a style file (safetensors expected; make one with adain save-style)`);
  if (bytes.byteLength < 10) throw notOne;
  const length = Number(new DataView(bytes).getBigUint64(0, true));
  if (length > bytes.byteLength - 8) throw notOne;
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 8, length)));
  } catch {
    throw notOne;
  }
  const meta = header.__metadata__ || {};
  if (meta.format !== STYLE_FORMAT) throw new Error(`${label}: a safetensors file but not a style file (format ${meta.format}, expected ${STYLE_FORMAT})`);
  if (!encoderIdentity) throw new Error("the models do not say which encoder they hold (an earlier export): export them again to use style files");
  if (meta.encoder !== encoderIdentity) {
    throw new Error(`${label}: made with another encoder (${meta.encoder}; this one is ${encoderIdentity}): make it again with adain save-style`);
  }
  const read = (name) => {
    const entry = header[name];
    if (!entry || entry.dtype !== "F32" || entry.shape.length !== 1 || entry.shape[0] !== 512) {
      throw new Error(`${label}: damaged style file (relu4_1 statistics missing or of the wrong shape)`);
    }
    const [begin, end] = entry.data_offsets;
    const values = Float64Array.from(new Float32Array(bytes.slice(8 + length + begin, 8 + length + end)));
    if (values.length !== 512 || values.some((v) => !Number.isFinite(v))) throw new Error(`${label}: damaged style file (relu4_1 statistics)`);
    return values;
  };
  const stats = { mean: read("relu4_1.mean"), std: read("relu4_1.std") };
  if (stats.std.some((v) => v <= 0)) throw new Error(`${label}: damaged style file (relu4_1 statistics are not finite and positive)`);
  return stats;
}

async function run(session, image) {
  const { ort } = runtime;
  const input = new ort.Tensor("float32", image.data, [1, image.c, image.h, image.w]);
  const output = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
  const [, c, h, w] = output.dims;
  const data = output.data instanceof Float32Array ? output.data : Float32Array.from(output.data);
  return { data, c, h, w };
}

// ------------------------------------------------------------ images

/** An image (ImageBitmap, <img> or canvas) → {data (3, H, W) in [0, 1]}. */
export function imageToTensor(source) {
  const w = source.naturalWidth || source.width;
  const h = source.naturalHeight || source.height;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(source, 0, 0);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const data = new Float32Array(3 * h * w);
  for (let i = 0, n = h * w; i < n; i++) {
    data[i] = rgba[4 * i] / 255;
    data[n + i] = rgba[4 * i + 1] / 255;
    data[2 * n + i] = rgba[4 * i + 2] / 255;
  }
  return { data, c: 3, h, w };
}

/** The first channel of a canvas's luminance (0.299 R + 0.587 G + 0.114 B) × alpha, as adain.io.images.load_mask. */
export function canvasToMask(canvas) {
  const { width: w, height: h } = canvas;
  const rgba = canvas.getContext("2d").getImageData(0, 0, w, h).data;
  const data = new Float32Array(h * w);
  for (let i = 0; i < h * w; i++) {
    const lum = (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255;
    data[i] = lum * (rgba[4 * i + 3] / 255);
  }
  return { data, c: 1, h, w };
}

/** {data (3, H, W)} → an image blob (values clipped to [0, 1] and rounded, as adain.io.images.tensor_to_pil). */
export function tensorToBlob(image, mime) {
  const canvas = document.createElement("canvas");
  canvas.width = image.w;
  canvas.height = image.h;
  const ctx = canvas.getContext("2d");
  const out = ctx.createImageData(image.w, image.h);
  const n = image.h * image.w;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) out.data[4 * i + k] = Math.round(clamp01(image.data[k * n + i]) * 255);
    out.data[4 * i + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, mime, 0.92));
}

const clamp01 = (x) => (x < 0 ? 0 : x > 1 ? 1 : x);

function pyRound(x) {
  // Python's round(): halves to even
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function coefficients(inSize, outSize) {
  // antialiased bilinear (triangle filter widened by the scale), as torch's antialias=True and PIL
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const taps = [];
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights = [];
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const wgt = Math.max(0, 1 - Math.abs((j - center + 0.5) / support));
      weights.push(wgt);
      sum += wgt;
    }
    taps.push({ lo, weights: weights.map((wgt) => (sum > 0 ? wgt / sum : 0)) });
  }
  return taps;
}

/** Resize {data (C, H, W)} to (outH, outW), antialiased bilinear, clipped to [0, 1]. */
export function resize(image, outH, outW) {
  const { c, h, w } = image;
  if (outH === h && outW === w) return image;
  const cx = coefficients(w, outW);
  const cy = coefficients(h, outH);
  const mid = new Float32Array(c * h * outW);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < h; y++) {
      const row = k * h * w + y * w;
      for (let x = 0; x < outW; x++) {
        const { lo, weights } = cx[x];
        let s = 0;
        for (let j = 0; j < weights.length; j++) s += weights[j] * image.data[row + lo + j];
        mid[k * h * outW + y * outW + x] = s;
      }
    }
  }
  const out = new Float32Array(c * outH * outW);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < outH; y++) {
      const { lo, weights } = cy[y];
      for (let x = 0; x < outW; x++) {
        let s = 0;
        for (let j = 0; j < weights.length; j++) s += weights[j] * mid[k * h * outW + (lo + j) * outW + x];
        out[k * outH * outW + y * outW + x] = clamp01(s);
      }
    }
  }
  return { data: out, c, h: outH, w: outW };
}

/** Shorter side to `size` (0 keeps), as adain.geometry.resize_shorter. */
export function resizeShorter(image, size) {
  if (size <= 0) return image;
  const scale = size / Math.min(image.h, image.w);
  return resize(image, Math.max(size, pyRound(image.h * scale)), Math.max(size, pyRound(image.w * scale)));
}

/** Reflect-pad on the bottom/right to a multiple (of 8 by default; replicate where the image is too small), as pad_to_multiple. */
function padToMultiple(image, multiple = MULTIPLE) {
  const { c, h, w } = image;
  const ph = (multiple - (h % multiple)) % multiple;
  const pw = (multiple - (w % multiple)) % multiple;
  if (!ph && !pw) return image;
  const reflect = ph < h && pw < w;
  const H = h + ph;
  const W = w + pw;
  const index = (i, n) => (i < n ? i : reflect ? 2 * (n - 1) - i : n - 1);
  const data = new Float32Array(c * H * W);
  for (let k = 0; k < c; k++) {
    for (let y = 0; y < H; y++) {
      const sy = index(y, h);
      for (let x = 0; x < W; x++) data[k * H * W + y * W + x] = image.data[k * h * w + sy * w + index(x, w)];
    }
  }
  return { data, c, h: H, w: W };
}

// ------------------------------------------------------------ statistics and AdaIN (adain/ops.py)

/** Per-channel mean and std (population variance + eps) over space, optionally weighted by a mask (h*w). */
function meanStd(feat, mask = null) {
  const { c } = feat;
  const n = feat.h * feat.w;
  const mean = new Float64Array(c);
  const std = new Float64Array(c);
  let total = n;
  if (mask) {
    total = 0;
    for (let i = 0; i < n; i++) total += mask[i];
    if (total <= 0) throw new Error("mask covers no position of the feature map");
  }
  for (let k = 0; k < c; k++) {
    const off = k * n;
    let s = 0;
    for (let i = 0; i < n; i++) s += mask ? feat.data[off + i] * mask[i] : feat.data[off + i];
    const m = s / total;
    let v = 0;
    for (let i = 0; i < n; i++) {
      const d = feat.data[off + i] - m;
      v += mask ? d * d * mask[i] : d * d;
    }
    mean[k] = m;
    std[k] = Math.sqrt(v / total + EPS);
  }
  return { mean, std };
}

function adainWithStats(feat, mean, std, mask = null) {
  const n = feat.h * feat.w;
  const own = meanStd(feat, mask);
  const out = new Float32Array(feat.data.length);
  for (let k = 0; k < feat.c; k++) {
    const scale = std[k] / own.std[k];
    for (let i = 0; i < n; i++) out[k * n + i] = (feat.data[k * n + i] - own.mean[k]) * scale + mean[k];
  }
  return out;
}

// ------------------------------------------------------------ controls (adain/controls.py)

function normaliseWeights(weights, k) {
  if (!weights) return new Array(k).fill(1 / k);
  if (weights.length !== k) throw new Error(`${weights.length} style weights given for ${k} styles`);
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) throw new Error(`style weights must be finite and ≥ 0, got ${weights}`);
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new Error("style weights are all zero");
  return weights.map((w) => w / sum);
}

/** Masks (K of H*W, H and W multiples of 8) → feature-grid masks (area average), overlaps shared. */
function masksToGrid(masks, H, W, h, w) {
  const fy = H / h;
  const fx = W / w;
  masks.forEach((m, k) => { if (!m.some((v) => v > 0)) throw new Error(`mask ${k + 1} covers nothing`); });
  const grid = masks.map((m) => {
    const g = new Float32Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let dy = 0; dy < fy; dy++) for (let dx = 0; dx < fx; dx++) s += clamp01(m[(y * fy + dy) * W + x * fx + dx]);
        g[y * w + x] = s / (fy * fx);
      }
    }
    return g;
  });
  for (let i = 0; i < h * w; i++) {
    let total = 0;
    for (const g of grid) total += g[i];
    if (total > 1) for (const g of grid) g[i] /= Math.max(total, 1e-8);
  }
  return grid;
}

/** The decoder's input t for K styles (stats: [{mean, std}]), as adain.controls.target_features. */
function targetFeatures(feat, stats, { alpha, weights, grid }) {
  const n = feat.h * feat.w;
  let t;
  if (!grid) {
    const wts = normaliseWeights(weights, stats.length);
    const mean = new Float64Array(feat.c);
    const std = new Float64Array(feat.c);
    stats.forEach((s, j) => {
      for (let k = 0; k < feat.c; k++) { mean[k] += wts[j] * s.mean[k]; std[k] += wts[j] * s.std[k]; }
    });
    t = adainWithStats(feat, mean, std);
  } else {
    if (grid.length !== stats.length) throw new Error(`${grid.length} mask maps for ${stats.length} styles`);
    t = new Float32Array(feat.data.length);
    const rest = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (const g of grid) s += g[i];
      rest[i] = Math.max(1 - s, 0);
    }
    for (let k = 0; k < feat.c; k++) for (let i = 0; i < n; i++) t[k * n + i] = feat.data[k * n + i] * rest[i];
    stats.forEach((s, j) => {
      const part = adainWithStats(feat, s.mean, s.std, grid[j]);
      for (let k = 0; k < feat.c; k++) for (let i = 0; i < n; i++) t[k * n + i] += grid[j][i] * part[k * n + i];
    });
  }
  const out = new Float32Array(t.length);
  for (let i = 0; i < t.length; i++) out[i] = alpha * t[i] + (1 - alpha) * feat.data[i];
  return { data: out, c: feat.c, h: feat.h, w: feat.w };
}

// 3x3 symmetric eigen-decomposition (cyclic Jacobi), for match_color
function eigh3(m) {
  const a = m.map((r) => r.slice());
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off < 1e-30) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(a[p][q]) < 1e-300) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1);
      const s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p];
        const akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k];
        const aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p];
        const vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0][0], a[1][1], a[2][2]], vectors: v };
}

const matmul3 = (a, b) => a.map((row) => [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j]));

function powerOf(m, power, eps) {
  // V diag(λ^power) Vᵀ with λ clamped to ≥ eps
  const { values, vectors: v } = eigh3(m);
  const d = values.map((x) => Math.max(x, eps) ** power);
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => v[i][0] * d[0] * v[j][0] + v[i][1] * d[1] * v[j][1] + v[i][2] * d[2] * v[j][2]));
}

function meanCov(image) {
  const n = image.h * image.w;
  const mean = [0, 1, 2].map((k) => { let s = 0; for (let i = 0; i < n; i++) s += image.data[k * n + i]; return s / n; });
  const cov = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let a = 0; a < 3; a++) {
    for (let b = a; b < 3; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (image.data[a * n + i] - mean[a]) * (image.data[b * n + i] - mean[b]);
      cov[a][b] = cov[b][a] = s / (n - 1);
    }
  }
  return { mean, cov };
}

/** Recolour `style` to the content's RGB mean and covariance, as adain.color.match_color. */
function matchColor(style, content, eps = 1e-5) {
  const s = meanCov(style);
  const c = meanCov(content);
  for (let i = 0; i < 3; i++) { s.cov[i][i] += eps; c.cov[i][i] += eps; }
  const m = matmul3(powerOf(c.cov, 0.5, eps), powerOf(s.cov, -0.5, eps));
  const n = style.h * style.w;
  const out = new Float32Array(style.data.length);
  for (let i = 0; i < n; i++) {
    const x = [0, 1, 2].map((k) => style.data[k * n + i] - s.mean[k]);
    for (let k = 0; k < 3; k++) out[k * n + i] = clamp01(m[k][0] * x[0] + m[k][1] * x[1] + m[k][2] * x[2] + c.mean[k]);
  }
  return { ...style, data: out };
}

const RGB_TO_YIQ = [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];

function inverse3(m) {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}
const YIQ_TO_RGB = inverse3(RGB_TO_YIQ);

function channel(image, row) {
  const n = image.h * image.w;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = row[0] * image.data[i] + row[1] * image.data[n + i] + row[2] * image.data[2 * n + i];
  return out;
}

function meanStdUnbiased(x) {
  let s = 0;
  for (const v of x) s += v;
  const m = s / x.length;
  let q = 0;
  for (const v of x) q += (v - m) ** 2;
  return [m, Math.sqrt(q / (x.length - 1))];
}

/** Grey image of the luminance; with `like`, mean/std matched to like's luminance (luminance_image). */
function luminanceImage(image, like = null) {
  let y = channel(image, RGB_TO_YIQ[0]);
  if (like) {
    const [m, s] = meanStdUnbiased(y);
    const [lm, ls] = meanStdUnbiased(channel(like, RGB_TO_YIQ[0]));
    y = y.map((v) => ((v - m) / (s + 1e-5)) * ls + lm);
  }
  const n = y.length;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) data[i] = data[n + i] = data[2 * n + i] = clamp01(y[i]);
  return { data, c: 3, h: image.h, w: image.w };
}

/** Luminance of `stylized` with the chroma of `content` (keep_chroma). */
function keepChroma(stylized, content) {
  const y = channel(stylized, RGB_TO_YIQ[0]);
  const iq = [channel(content, RGB_TO_YIQ[1]), channel(content, RGB_TO_YIQ[2])];
  const n = y.length;
  const data = new Float32Array(3 * n);
  for (let k = 0; k < 3; k++) {
    const r = YIQ_TO_RGB[k];
    for (let i = 0; i < n; i++) data[k * n + i] = clamp01(r[0] * y[i] + r[1] * iq[0][i] + r[2] * iq[1][i]);
  }
  return { ...stylized, data };
}

function colorInputs(content, styles, mode) {
  if (mode === "color") return [content, styles.map((s) => matchColor(s, content))];
  if (mode === "luminance") return [luminanceImage(content), styles.map((s) => luminanceImage(s, content))];
  return [content, styles];
}

/** Bilinear-resize a mask to the content's size; its aspect ratio must match (adain.apps.masks.resize_mask). */
function resizeMask(mask, h, w, label) {
  if (Math.abs(mask.w / mask.h - w / h) > 0.02 * (w / h)) throw new Error(`${label}: ${mask.w}x${mask.h} does not have the content's aspect ratio (${w}x${h})`);
  return resize(mask, h, w).data;
}

/** K masks, or K − 1 (style 1 takes the rest), as adain.apps.masks.complete_masks. */
function completeMasks(masks, k) {
  if (masks.length === k) return masks;
  const rest = new Float32Array(masks[0].length);
  let top = 0;
  for (let i = 0; i < rest.length; i++) {
    let s = 0;
    for (const m of masks) s += m[i];
    rest[i] = clamp01(1 - s);
    top = Math.max(top, rest[i]);
  }
  if (top < 1 / 255) throw new Error("the masks cover the whole image: nothing is left for style 1");
  return [rest, ...masks];
}

// ------------------------------------------------------------ the whole run (server.Service.render)

const styleCache = new Map();

/**
 * Stylize in the browser.
 * @param {object} job {content: {key, image}, styles: [{key, image} or {key, label, stats} (a style file's,
 *   parseStyleFile)], weights|null, masks: [{data,h,w}]|null,
 *   alpha, preserve: null|"color"|"luminance", size, styleSize}
 * @returns {Promise<{image, hits}>} the result {data (3, H, W)} and which styles came from the cache
 */
export async function stylize(job, nets) {
  const content = resizeShorter(job.content.image, job.size);
  const { h, w } = content;
  let masks = null;
  if (job.masks) masks = completeMasks(job.masks.map((m, i) => resizeMask(m, h, w, `mask ${i + 1}`)), job.styles.length);
  const hits = [];
  const stats = [];
  for (const style of job.styles) {
    if (style.stats) {
      if (job.preserve) throw new Error(`${style.label}: colour preservation recolours the painting, a style file holds only its statistics: use the painting`);
      stats.push(style.stats);
      hits.push(true);
      continue;
    }
    const key = [style.key, job.preserve, job.preserve ? `${job.content.key}@${job.size}` : ""].join("|");
    if (!styleCache.has(key)) {
      const image = resizeShorter(style.image, job.styleSize);
      const [, [netStyle]] = colorInputs(content, [image], job.preserve);
      styleCache.set(key, meanStd(await run(nets.encoder, netStyle)));
      hits.push(false);
    } else {
      hits.push(true);
    }
    stats.push(styleCache.get(key));
  }
  const [netContent] = colorInputs(content, [], job.preserve);
  const padded = padToMultiple(netContent);
  const feat = await run(nets.encoder, padded);
  let grid = null;
  if (masks) {
    const paddedMasks = masks.map((m) => padToMultiple({ data: m, c: 1, h, w }));
    grid = masksToGrid(paddedMasks.map((m) => m.data), padded.h, padded.w, feat.h, feat.w);
  }
  const t = targetFeatures(feat, stats, { alpha: job.alpha, weights: job.weights, grid });
  const decoded = await run(nets.decoder, t);
  const out = new Float32Array(3 * h * w);
  for (let k = 0; k < 3; k++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) out[k * h * w + y * w + x] = clamp01(decoded.data[k * decoded.h * decoded.w + y * decoded.w + x]);
    }
  }
  let image = { data: out, c: 3, h, w };
  if (job.preserve === "luminance") image = keepChroma(image, content);
  return { image, hits };
}
