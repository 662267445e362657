// adain web page: pick a photo and styles, paint an optional mask, then stylize on the server (POST api/stylize)
// or in this browser (local.js: the exported models in onnxruntime-web), and show the result.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  limits: { max_styles: 4, max_upload_bytes: 20 * 2 ** 20 },
  content: null,          // {name, url} (bundled) or {file, url} (upload)
  styles: [],             // every tile: {name, url, file?, selected, weight}
  maskPainted: false,
  resultUrl: null,
  models: null,           // URL of the exported models' manifest (in-browser computation), or null
  server: true,           // false on a static site: in-browser computation only
};

// ------------------------------------------------------------ messages

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

// ------------------------------------------------------------ photo

function setContent(content) {
  if (state.content && state.content.file) URL.revokeObjectURL(state.content.url);
  state.content = content;
  const img = $("content-img");
  img.hidden = false;
  $("content-placeholder").hidden = true;
  img.onerror = () => {
    img.hidden = true;
    $("content-placeholder").hidden = false;
    $("content-placeholder").textContent = `${content.file ? content.file.name : content.name}: this browser cannot show a preview (the server may still read it).`;
  };
  img.onload = resetMask;
  img.src = content.url;
  document.querySelectorAll("#contents .tile").forEach((t) => t.classList.toggle("selected", t.dataset.name === content.name));
}

function takeContentFile(file) {
  if (!file) return;
  clearError();
  if (file.size > state.limits.max_upload_bytes) {
    showError(`${file.name}: ${(file.size / 2 ** 20).toFixed(1)} MiB is over the upload limit of ${(state.limits.max_upload_bytes / 2 ** 20).toFixed(0)} MiB`);
    return;
  }
  setContent({ file, url: URL.createObjectURL(file), name: null });
}

// ------------------------------------------------------------ styles

function orderedStyles() {
  // the API takes bundled names first, then uploaded files: number the styles that way
  const chosen = state.styles.filter((s) => s.selected);
  return [...chosen.filter((s) => !s.file), ...chosen.filter((s) => s.file)];
}

function addStyleTile(style) {
  const tile = document.createElement("button");
  tile.type = "button";
  tile.className = "tile";
  tile.title = style.name;
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = style.name;
  if (style.url) {
    const img = document.createElement("img");
    img.src = style.url;
    img.alt = style.name;
    tile.append(img);
  } else {
    tile.classList.add("stats");  // a style file: statistics, no picture to show
  }
  tile.append(name);
  tile.addEventListener("click", () => toggleStyle(style));
  style.tile = tile;
  $("styles").insertBefore(tile, $("styles").querySelector(".upload"));
  state.styles.push(style);
}

function toggleStyle(style) {
  clearError();
  if (!style.selected && orderedStyles().length >= state.limits.max_styles) {
    showError(`at most ${state.limits.max_styles} styles: unselect one first`);
    return;
  }
  style.selected = !style.selected;
  renderStyles();
}

function renderStyles() {
  const order = orderedStyles();
  for (const s of state.styles) {
    s.tile.classList.toggle("selected", s.selected);
    s.tile.querySelector(".badge")?.remove();
    const i = order.indexOf(s);
    if (i >= 0) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = String(i + 1);
      s.tile.append(badge);
    }
  }
  const box = $("weights");
  box.replaceChildren();
  if (order.length < 2) return;
  const title = document.createElement("p");
  title.className = "hint";
  title.textContent = "Blend (interpolation weights):";
  box.append(title);
  order.forEach((s, i) => {
    const row = document.createElement("label");
    row.className = "w";
    const label = document.createElement("span");
    label.textContent = `${i + 1} ${s.name}`;
    const slider = Object.assign(document.createElement("input"), { type: "range", min: 0, max: 1, step: 0.05, value: s.weight });
    slider.setAttribute("aria-label", `weight of ${s.name}`);
    const out = document.createElement("output");
    out.textContent = Number(s.weight).toFixed(2);
    slider.addEventListener("input", () => { s.weight = Number(slider.value); out.textContent = s.weight.toFixed(2); });
    row.append(label, slider, out);
    box.append(row);
  });
}

// ------------------------------------------------------------ mask

const mask = $("mask");
const maskCtx = mask.getContext("2d");

function resetMask() {
  const img = $("content-img");
  mask.width = img.naturalWidth || 1;
  mask.height = img.naturalHeight || 1;
  state.maskPainted = false;
}

function maskPoint(event) {
  const rect = mask.getBoundingClientRect();
  return [(event.clientX - rect.left) * (mask.width / rect.width), (event.clientY - rect.top) * (mask.height / rect.height)];
}

let last = null;
function paint(event) {
  if (!last) return;
  const [x, y] = maskPoint(event);
  maskCtx.globalCompositeOperation = $("erase").checked ? "destination-out" : "source-over";
  maskCtx.strokeStyle = "#ff4fa3";
  maskCtx.lineCap = maskCtx.lineJoin = "round";
  maskCtx.lineWidth = (Number($("brush").value) / 100) * Math.min(mask.width, mask.height);
  maskCtx.beginPath();
  maskCtx.moveTo(last[0], last[1]);
  maskCtx.lineTo(x, y);
  maskCtx.stroke();
  last = [x, y];
  if (!$("erase").checked) state.maskPainted = true;
}

mask.addEventListener("pointerdown", (e) => { mask.setPointerCapture(e.pointerId); last = maskPoint(e); paint(e); });
mask.addEventListener("pointermove", paint);
mask.addEventListener("pointerup", () => { last = null; });
$("paint").addEventListener("change", () => $("content-img").parentElement.classList.toggle("painting", $("paint").checked));
$("clear-mask").addEventListener("click", () => { maskCtx.clearRect(0, 0, mask.width, mask.height); state.maskPainted = false; });

function maskCanvas() {
  // white where painted, black elsewhere, at the photo's own size
  const out = document.createElement("canvas");
  out.width = mask.width;
  out.height = mask.height;
  const ctx = out.getContext("2d");
  ctx.drawImage(mask, 0, 0);
  ctx.globalCompositeOperation = "source-in";
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.globalCompositeOperation = "destination-over";
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, out.width, out.height);
  return out;
}

function maskBlob() {
  return new Promise((resolve) => maskCanvas().toBlob(resolve, "image/png"));
}

// ------------------------------------------------------------ request

function checkedInputs() {
  // the page's settings, checked: {styles, useMask}
  if (!state.content) throw new Error("choose a photo first");
  const styles = orderedStyles();
  if (styles.length === 0) throw new Error("pick at least one style");
  const useMask = state.maskPainted && $("paint").checked;
  if (useMask && styles.length > 2) throw new Error("a painted mask places two styles: select one or two");
  return { styles, useMask };
}

async function buildForm() {
  const { styles, useMask } = checkedInputs();
  const form = new FormData();
  if (state.content.file) form.append("content", state.content.file, state.content.file.name);
  else form.append("content_name", state.content.name);
  for (const s of styles) {
    if (s.file) form.append("style", s.file, s.file.name);
    else form.append("style_name", s.name);
  }
  if (useMask) form.append("mask", await maskBlob(), "mask.png");
  else if (styles.length > 1) for (const s of styles) form.append("weight", String(s.weight));
  form.append("alpha", $("alpha").value);
  form.append("preserve_color", $("preserve").checked ? $("preserve-mode").value : "none");
  form.append("method", $("method").value);
  form.append("model", $("model").value);
  form.append("refine", $("refine").value);
  form.append("size", $("size").value);
  form.append("format", $("format").value);
  return form;
}

function textureForm() {
  const styles = orderedStyles();
  if (styles.length === 0) throw new Error("pick a style for the texture");
  const style = styles[0];
  const form = new FormData();
  if (style.file) form.append("style", style.file, style.file.name);
  else form.append("style_name", style.name);
  form.append("width", $("size").value);
  form.append("height", $("size").value);
  form.append("method", $("method").value);
  form.append("format", $("format").value);
  return form;
}

function setBusy(busy, text = "") {
  $("go").disabled = busy;
  $("texture").disabled = busy;
  $("progress").hidden = !busy && !text;
  $("status").textContent = text;
  document.querySelector("#result-frame .busy").hidden = !busy;
}

let timer = null;
function stylize() {
  return inBrowser() ? stylizeHere() : stylizeOnServer();
}

function stylizeOnServer() {
  const steps = Number($("refine").value);
  return send("api/stylize", buildForm, steps > 0 ? `Stylizing and refining (${steps} steps, seconds each)` : "Stylizing");
}

async function send(url, makeForm, working) {
  clearError();
  let form;
  try {
    form = await makeForm();
  } catch (err) {
    showError(err.message);
    return;
  }
  const started = performance.now();
  const xhr = new XMLHttpRequest();
  xhr.open("POST", url);
  xhr.responseType = "blob";
  const progress = $("progress");
  const bar = progress.querySelector(".bar");
  progress.classList.remove("working");
  bar.style.width = "0";
  setBusy(true, "Uploading…");
  xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.style.width = `${(100 * e.loaded) / e.total}%`; };
  xhr.upload.onload = () => {
    progress.classList.add("working");
    timer = setInterval(() => { $("status").textContent = `${working}… ${((performance.now() - started) / 1000).toFixed(1)} s`; }, 100);
  };
  const done = (text) => { clearInterval(timer); progress.classList.remove("working"); setBusy(false, text); };
  xhr.onerror = () => { done(""); showError("the server cannot be reached"); };
  xhr.onload = async () => {
    if (xhr.status === 200) {
      done(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      showResult(xhr.response, xhr.getResponseHeader("Content-Disposition"));
      return;
    }
    done("");
    let message = `the server answered ${xhr.status}`;
    try {
      const body = JSON.parse(await xhr.response.text());
      if (body.detail) message = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) { /* not JSON: keep the status line */ }
    showError(message);
  };
  xhr.send(form);
}

function showResult(blob, disposition) {
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const img = $("result");
  img.src = state.resultUrl;
  img.hidden = false;
  $("result-placeholder").hidden = true;
  const link = $("download");
  link.href = state.resultUrl;
  const match = /filename="([^"]+)"/.exec(disposition || "");
  link.download = match ? match[1] : `adain-result.${$("format").value}`;
  link.hidden = false;
}

// ------------------------------------------------------------ in this browser

const inBrowser = () => document.querySelector("input[name='where']:checked")?.value === "browser";

function note(text) {
  $("where-note").textContent = text;
  $("where-note").hidden = !text;
}

function chooseWhere(where, { allowServer = state.server, allowBrowser = true } = {}) {
  $("where-server").disabled = !allowServer;
  $("where-browser").disabled = !allowBrowser;
  $(`where-${where}`).checked = true;
}

async function setUpWhere() {
  if (!state.models && !state.lite) {
    chooseWhere("server", { allowBrowser: false });
    note("In-browser computation needs the exported models: start the server with --models DIR.");
    return;
  }
  const { missingSupport } = await import("./local.js");
  const lacking = missingSupport();
  if (lacking && state.server) {
    chooseWhere("server", { allowBrowser: false });
    note(`This browser lacks ${lacking}: images are computed on the server.`);
  } else if (lacking) {
    chooseWhere("browser");
    note(`This browser lacks ${lacking}, which this page needs: use another browser.`);
  } else if (!state.server) {
    chooseWhere("browser");
    note("This page computes in your browser (no server).");
  } else {
    note("");
  }
}

async function decodeImage(source, label) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(source.file ?? (await (await fetch(source.url)).blob()));
  } catch (_) {
    throw new Error(`${label}: not an image file (or an unsupported format)`);
  }
  const { width: w, height: h } = bitmap;
  if (Math.min(w, h) < 16) throw new Error(`${label}: ${w}x${h} is too small (each side must be at least 16 px)`);
  if (w * h > state.limits.max_pixels) throw new Error(`${label}: ${w}x${h} is over the limit of ${state.limits.max_pixels} pixels`);
  return bitmap;
}

const sourceKey = (s) => (s.file ? `file:${s.file.name}:${s.file.size}:${s.file.lastModified}` : `url:${s.url}`);
const MIME = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

async function stylizeHere() {
  clearError();
  let inputs;
  try {
    inputs = checkedInputs();
    const method = $("method").value;
    if (method !== "adain") throw new Error(`the ${method} method runs on the server only; in this browser the method is adain`);
    if ($("refine").value !== "0") throw new Error("refinement runs on the server only: set Refine to off");
    if ($("model").value === "lite" && !state.lite) throw new Error("this site does not have the lite model: pick the full one");
    if ($("model").value === "full" && !state.models) throw new Error("the full model runs on the server here (start it with --models DIR to compute it in the browser): pick the lite one");
  } catch (err) {
    showError(err.message);
    return;
  }
  const started = performance.now();
  const lite = $("model").value === "lite";
  const progress = $("progress");
  progress.querySelector(".bar").style.width = "0";
  setBusy(true, "Loading the runtime…");
  progress.classList.add("working");
  const done = (text) => { clearInterval(timer); progress.classList.remove("working"); setBusy(false, text); };
  let local;
  let nets;
  try {
    local = await import("./local.js");
    const status = (text) => { $("status").textContent = text; };
    nets = lite ? await local.loadLite(state.lite, "static/", status) : await local.loadModels(state.models, "static/", status);
  } catch (err) {
    done("");
    if (!state.server) { showError(`cannot compute in this browser: ${err.message}`); return; }
    chooseWhere("server", { allowBrowser: false });
    note(`Computing in this browser failed (${err.message}): images are computed on the server.`);
    stylizeOnServer();
    return;
  }
  const computing = performance.now();
  timer = setInterval(() => { $("status").textContent = `Stylizing in this browser… ${((performance.now() - started) / 1000).toFixed(1)} s`; }, 100);
  try {
    const content = state.content;
    const job = {
      content: { key: sourceKey(content), image: local.imageToTensor(await decodeImage(content, `content '${content.file ? content.file.name : content.name}'`)) },
      styles: [],
      weights: null,
      masks: null,
      alpha: Number($("alpha").value),
      preserve: $("preserve").checked ? $("preserve-mode").value : null,
      size: Number($("size").value),
      styleSize: state.limits.style_size,
    };
    for (const [i, s] of inputs.styles.entries()) {
      if (s.file && !s.url) {  // a style file: its statistics, checked against the exported encoder
        job.styles.push({ key: sourceKey(s), label: s.file.name, stats: local.parseStyleFile(await s.file.arrayBuffer(), s.file.name, nets.manifest.encoder_identity) });
      } else {
        job.styles.push({ key: sourceKey(s), image: local.imageToTensor(await decodeImage(s, `style ${i + 1} '${s.name}'`)) });
      }
    }
    if (inputs.useMask) job.masks = [local.canvasToMask(maskCanvas())];
    else if (inputs.styles.length > 1) job.weights = inputs.styles.map((s) => Number(s.weight));
    const { image } = await (lite ? local.stylizeLite(job, nets) : local.stylize(job, nets));
    if (image.h * image.w > state.limits.max_output_pixels) throw new Error(`the output would be ${image.w}x${image.h} = ${image.w * image.h} pixels, over the limit of ${state.limits.max_output_pixels}: ask for a smaller size`);
    const format = $("format").value;
    const blob = await local.tensorToBlob(image, MIME[format]);
    const seconds = (performance.now() - computing) / 1000;
    const stem = (content.file ? content.file.name.replace(/\.[^.]+$/, "") : content.name).replace(/[^A-Za-z0-9._-]+/g, "_");
    showResult(blob, `filename="adain-${stem}.${format}"`);
    done(`Done in ${seconds.toFixed(1)} s in this browser (${nets.backend === "webgpu" ? "WebGPU" : "WebAssembly"})`);
  } catch (err) {
    done("");
    showError(err.message);
  }
}

// ------------------------------------------------------------ wiring

function dropTarget(element) {
  element.addEventListener("dragover", (e) => { e.preventDefault(); element.classList.add("over"); });
  element.addEventListener("dragleave", () => element.classList.remove("over"));
  element.addEventListener("drop", (e) => {
    e.preventDefault();
    element.classList.remove("over");
    takeContentFile(e.dataTransfer.files[0]);
  });
}

$("content-file").addEventListener("change", (e) => takeContentFile(e.target.files[0]));
$("drop").addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("content-file").click(); });
dropTarget($("drop"));
dropTarget($("content-frame"));

$("style-file").addEventListener("change", (e) => {
  clearError();
  for (const file of e.target.files) {
    if (file.size > state.limits.max_upload_bytes) { showError(`${file.name}: over the upload limit`); continue; }
    const statsOnly = /\.safetensors$/i.test(file.name);
    const style = { name: file.name.replace(/\.[^.]+$/, ""), url: statsOnly ? null : URL.createObjectURL(file), file, selected: false, weight: 1 };
    addStyleTile(style);
    if (orderedStyles().length < state.limits.max_styles) style.selected = true;
  }
  e.target.value = "";
  renderStyles();
});

$("alpha").addEventListener("input", () => { $("alpha-value").textContent = Number($("alpha").value).toFixed(2); });
$("preserve").addEventListener("change", () => { $("preserve-mode").disabled = !$("preserve").checked; });
$("go").addEventListener("click", stylize);
$("texture").addEventListener("click", () => send("api/texture", textureForm, "Making the texture"));
document.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) stylize(); });

async function init() {
  try {
    const info = await (await fetch("api/info")).json();
    state.limits = info.limits;
    state.models = info.models ?? null;
    state.lite = info.lite ?? null;
    state.server = info.server ?? true;
    $("texture").hidden = !state.server;  // textures are made by the server only
    setUpWhere();
    $("max-styles").textContent = info.limits.max_styles;
    const sizes = [...$("size").options];
    for (const opt of sizes) opt.disabled = Number(opt.value) > info.limits.max_size;
    if ($("size").selectedOptions[0].disabled) $("size").value = sizes.filter((o) => !o.disabled).pop()?.value ?? "0";
    for (const c of info.contents) {
      const tile = document.createElement("button");
      tile.type = "button";
      tile.className = "tile";
      tile.dataset.name = c.name;
      tile.title = c.name;
      tile.innerHTML = `<img src="${c.url}" alt="${c.name}">`;
      tile.addEventListener("click", () => { clearError(); setContent({ name: c.name, url: c.url }); });
      $("contents").append(tile);
    }
    info.styles.forEach((s, i) => addStyleTile({ name: s.name, url: s.url, selected: i === 0, weight: 1 }));
    renderStyles();
  } catch (err) {
    showError(`cannot load the bundled examples: ${err.message}`);
  }
}

init();
