// ReaderBench viewer: 16-bit pixels with window/level in the browser, zoom, pan, invert, fit;
// grading by keyboard (class key, confidence digits, Enter submits and moves on); "cannot
// grade" (an indeterminate read with its reason); unsaved answers kept as drafts and never left
// without asking; active time on case; idempotent submits; the next case prefetched; a ruler in
// mm from Pixel Spacing and a thirds overlay, saved with the read; smooth interpolation below
// 400 % zoom; the image fitted to the viewport on load and on resize.
// Plain JavaScript, no build step. Everything it knows about a case comes from the reading API.
(() => {
  "use strict";

  const app = document.getElementById("app");
  const apiBase = app.dataset.api.replace(/next\/$/, "");
  const readBase = app.dataset.readBase;
  const csrf = app.dataset.csrf;
  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const image = document.createElement("canvas"); // the windowed image at native size
  const heat = document.createElement("canvas"); // the heat map, coloured
  const pixelCache = new Map(); // case token -> Promise<ArrayBuffer>

  let kase = JSON.parse($("case-data").textContent);
  let values = null; // Int16Array | Uint16Array of stored values
  // The hip's series: the reader scrolls through its slices (PageUp/PageDown, shift + arrows,
  // shift + wheel); it opens on the slice the study designates, the one that is graded.
  let sliceIndex = 0;
  let sliceMeta = null; // display numbers of the slice shown; null: the designated one's
  let sliceWanted = 0;
  const sliceCache = new Map(); // "token:k" -> Promise<{meta, buffer}>
  // The other hip of the same person beside the case, where the study shows both hips: drawn to the
  // right of the case at the same height, in the same window; B hides or shows it.
  const otherImage = document.createElement("canvas");
  let otherValues = null;
  let bothHips = true;
  const OTHER_GAP = 0.04; // of the case's width, between the two images
  let view = { wc: 0, ww: 1, invert: false, scale: 1, x: 0, y: 0 };
  let selected = null; // class code
  let reasonsOpen = false; // the "cannot grade" reasons are shown
  let requestId = null;
  let busy = false;
  let heatOn = false;
  let heatLoaded = false;
  let presetIndex = 0;
  // Measurement: rulers and thirds overlays in image pixel coordinates (what is stored).
  const MAX_MEASUREMENTS = 20; // the server's limit too
  const RULER = "#ffd400";
  const TICK = "#ff8a00";
  const TICK_HALF = 9; // css px either side of the line
  const SMOOTH_BELOW = 4; // zoom (image px per screen px) from which pixels are shown as blocks
  let tool = null; // null | "line" | "thirds": a left drag draws instead of window/level
  let measurements = []; // [{kind, points: [[x, y], [x, y]]}] of the answer being given
  let measureEdited = false; // drawn or removed since the case (or its stored read) was shown
  let sketch = null; // the measurement being drawn

  // --- request ids: one per case view and stage, so a retry or a double click stores one read
  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // --- active time on case: the clock stops while the tab is hidden
  const timer = {
    acc: 0,
    since: null,
    start() {
      this.acc = 0;
      this.since = document.hidden ? null : performance.now();
    },
    elapsed() {
      return Math.round(this.acc + (this.since === null ? 0 : performance.now() - this.since));
    },
  };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      if (timer.since !== null) timer.acc += performance.now() - timer.since;
      timer.since = null;
    } else if (timer.since === null) {
      timer.since = performance.now();
    }
  });

  // --- network
  async function api(path, options = {}) {
    const response = await fetch(apiBase + path, { credentials: "same-origin", ...options });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      let fields = null;
      try {
        const body = await response.json();
        if (body.error) ({ message, fields = null } = body.error);
      } catch (_) { /* not JSON */ }
      const err = new Error(message);
      err.status = response.status;
      err.fields = fields; // per-field messages of a refused submit: shown next to each field
      throw err;
    }
    return response;
  }
  function fetchPixels(token) {
    if (!pixelCache.has(token)) {
      const p = api(`cases/${token}/pixels/`).then((r) => r.arrayBuffer());
      p.catch(() => pixelCache.delete(token));
      pixelCache.set(token, p);
      if (pixelCache.size > 6) pixelCache.delete(pixelCache.keys().next().value);
    }
    return pixelCache.get(token);
  }

  function fetchSlice(token, k) {
    const key = `${token}:${k}`;
    if (!sliceCache.has(key)) {
      const p = api(`cases/${token}/pixels/?slice=${k}`).then(async (r) => ({
        meta: JSON.parse(r.headers.get("X-Pixel-Meta")),
        buffer: await r.arrayBuffer(),
      }));
      p.catch(() => sliceCache.delete(key));
      sliceCache.set(key, p);
      if (sliceCache.size > 48) sliceCache.delete(sliceCache.keys().next().value);
    }
    return sliceCache.get(key);
  }
  const nSlices = () => Math.max(1, kase.slices || 1);
  const designated = () => kase.designated_slice || 0;
  async function showSlice(k) {
    const n = nSlices();
    k = Math.min(Math.max(k, 0), n - 1);
    sliceWanted = k;
    if (k === sliceIndex) return;
    const token = kase.token;
    let shownMeta = null;
    let buffer;
    try {
      if (k === designated()) buffer = await fetchPixels(token);
      else ({ meta: shownMeta, buffer } = await fetchSlice(token, k));
    } catch (err) {
      say(`Slice ${k + 1}: ${err.message}`, true);
      return;
    }
    if (kase.token !== token || sliceWanted !== k) return; // the reader moved on meanwhile
    const before = meta();
    sliceIndex = k;
    sliceMeta = shownMeta;
    const m = meta();
    values = m.dtype === "int16" ? new Int16Array(buffer) : new Uint16Array(buffer);
    applyWindow(); // the window and level stay as the reader set them
    if (m.rows !== before.rows || m.columns !== before.columns) fit();
    for (const j of [k - 1, k + 1]) if (j >= 0 && j < n && j !== designated()) fetchSlice(token, j);
    $("slice-slider").value = String(k + 1);
  }
  function renderSlices() {
    const n = nSlices();
    $("slices").hidden = n < 2;
    $("slice-slider").max = String(n);
    $("slice-slider").value = String(sliceIndex + 1);
  }

  // --- rendering
  const meta = () => sliceMeta || kase.pixels;
  function presets() {
    const m = meta();
    const range = Math.max(m.max_value - m.min_value, 1);
    return [
      { name: "Default", wc: m.window_center, ww: m.window_width },
      { name: "Full range", wc: m.min_value + range / 2, ww: range },
      { name: "Narrow", wc: m.window_center, ww: Math.max(m.window_width / 2, 1) },
      { name: "Wide", wc: m.window_center, ww: m.window_width * 2 },
    ];
  }
  function render(target, m, stored) {
    // stored values -> grey levels in the reader's window (modality units), on ``target``
    const offset = m.dtype === "int16" ? 32768 : 0;
    const lut = new Uint8ClampedArray(65536);
    const lo = view.wc - view.ww / 2;
    const k = 255 / Math.max(view.ww, 1e-6);
    const invert = view.invert !== m.invert;
    for (let i = 0; i < 65536; i++) {
      const g = ((i - offset) * m.rescale_slope + m.rescale_intercept - lo) * k;
      lut[i] = invert ? 255 - g : g;
    }
    const out = ctx.createImageData(m.columns, m.rows);
    const d = out.data;
    for (let i = 0, j = 0; i < stored.length; i++, j += 4) {
      const g = lut[stored[i] + offset];
      d[j] = g; d[j + 1] = g; d[j + 2] = g; d[j + 3] = 255;
    }
    target.width = m.columns;
    target.height = m.rows;
    target.getContext("2d").putImageData(out, 0, 0);
  }
  function applyWindow() {
    if (!values) return;
    render(image, meta(), values);
    if (otherValues && kase.other_hip) render(otherImage, kase.other_hip.pixels, otherValues);
    draw();
  }
  const otherShown = () => Boolean(bothHips && otherValues && kase.other_hip);
  function otherBox() {
    // where the other hip is drawn, in the case's image coordinates: same displayed height
    const m = meta();
    const o = kase.other_hip.pixels;
    const oAspect = o.pixel_spacing ? o.pixel_spacing[0] / o.pixel_spacing[1] : 1;
    const f = (m.rows * aspect()) / (o.rows * oAspect);
    return { x: m.columns * (1 + OTHER_GAP), y: 0, w: o.columns * f, h: m.rows };
  }
  function aspect() {
    const s = meta().pixel_spacing;
    return s ? s[0] / s[1] : 1; // row spacing / column spacing: height stretch
  }
  function draw() {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (!values) return;
    const m = meta();
    ctx.setTransform(dpr * view.scale, 0, 0, dpr * view.scale * aspect(), dpr * view.x, dpr * view.y);
    // Interpolated (high quality) until pixels are magnified far; then nearest neighbour, so
    // the reader sees the real pixels.
    ctx.imageSmoothingEnabled = view.scale < SMOOTH_BELOW;
    ctx.imageSmoothingQuality = "high";
    canvas.dataset.smoothing = String(ctx.imageSmoothingEnabled);
    canvas.dataset.imageBox = [view.x, view.y, m.columns * view.scale, m.rows * view.scale * aspect()]
      .map((v) => v.toFixed(2)).join(",");
    ctx.drawImage(image, 0, 0);
    if (otherShown()) {
      const b = otherBox();
      ctx.drawImage(otherImage, b.x, b.y, b.w, b.h);
      canvas.dataset.otherBox = [view.x + b.x * view.scale, view.y, b.w * view.scale,
        b.h * view.scale * aspect()].map((v) => v.toFixed(2)).join(",");
    } else {
      delete canvas.dataset.otherBox;
    }
    if (heatOn && heatLoaded && sliceIndex === designated()) { // the model saw that slice
      ctx.globalAlpha = 0.45;
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(heat, 0, 0, meta().columns, meta().rows);
      ctx.globalAlpha = 1;
    }
    drawMeasurements(dpr);
    if (otherShown()) {
      const b = otherBox();
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.font = "13px system-ui, sans-serif";
      const side = kase.other_hip.side === "L" ? "left" : "right";
      const text = `other hip (${side}), not graded`;
      const x = view.x + b.x * view.scale + 4;
      const y = Math.max(view.y, 0) + 4;
      ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
      ctx.fillRect(x - 3, y - 1, ctx.measureText(text).width + 6, 19);
      ctx.fillStyle = "#9fc3ff";
      ctx.fillText(text, x, y + 13);
    }
    updateStatus();
  }
  function fit() {
    const m = meta();
    const w = canvas.clientWidth;
    const h = canvas.clientHeight;
    const width = otherShown() ? otherBox().x + otherBox().w : m.columns; // both hips fit
    view.scale = Math.min(w / width, h / (m.rows * aspect()));
    view.x = (w - width * view.scale) / 2;
    view.y = (h - m.rows * aspect() * view.scale) / 2;
    draw();
  }

  // --- measurement: image pixel coordinates <-> css px on the canvas; lengths from Pixel
  // Spacing, [row mm, column mm]: a step in x crosses columns, a step in y crosses rows.
  const spacing = () => meta().pixel_spacing;
  function toImage(e) {
    const rect = canvas.getBoundingClientRect();
    const m = meta();
    const x = (e.clientX - rect.left - view.x) / view.scale;
    const y = (e.clientY - rect.top - view.y) / (view.scale * aspect());
    return [Math.min(Math.max(x, 0), m.columns), Math.min(Math.max(y, 0), m.rows)];
  }
  const toScreen = ([x, y]) => [view.x + x * view.scale, view.y + y * view.scale * aspect()];
  function lengthMm([[x0, y0], [x1, y1]]) {
    const s = spacing();
    return s ? Math.hypot((x1 - x0) * s[1], (y1 - y0) * s[0]) : null;
  }
  function lengthText(points) {
    const mm = lengthMm(points);
    if (mm !== null) return `${mm.toFixed(1)} mm`;
    const [[x0, y0], [x1, y1]] = points;
    return `${Math.hypot(x1 - x0, y1 - y0).toFixed(1)} px`;
  }
  function drawMeasurements(dpr) {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = "13px system-ui, sans-serif";
    for (const m of sketch ? [...measurements, sketch] : measurements) {
      const [a, b] = m.points.map(toScreen);
      const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
      const nx = len ? -(b[1] - a[1]) / len : 0;
      const ny = len ? (b[0] - a[0]) / len : 1;
      ctx.strokeStyle = RULER;
      ctx.fillStyle = RULER;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(a[0], a[1]);
      ctx.lineTo(b[0], b[1]);
      ctx.stroke();
      for (const p of [a, b]) {
        ctx.beginPath();
        ctx.arc(p[0], p[1], 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
      if (m.kind === "thirds") {
        // the weight-bearing segment in thirds: a tick across it at 1/3 and 2/3
        ctx.strokeStyle = TICK;
        ctx.lineWidth = 2;
        for (const t of [1 / 3, 2 / 3]) {
          const cx = a[0] + (b[0] - a[0]) * t;
          const cy = a[1] + (b[1] - a[1]) * t;
          ctx.beginPath();
          ctx.moveTo(cx - nx * TICK_HALF, cy - ny * TICK_HALF);
          ctx.lineTo(cx + nx * TICK_HALF, cy + ny * TICK_HALF);
          ctx.stroke();
        }
      }
      // the length beside the line, off its middle
      const label = `${lengthText(m.points)}${m.kind === "thirds" ? " · thirds" : ""}`;
      const mx = (a[0] + b[0]) / 2 + nx * 16;
      const my = (a[1] + b[1]) / 2 + ny * 16;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#000";
      ctx.strokeText(label, mx, my);
      ctx.fillStyle = RULER;
      ctx.fillText(label, mx, my);
    }
  }
  function setTool(kind) {
    tool = tool === kind ? null : kind;
    sketch = null;
    $("tool-line").setAttribute("aria-pressed", String(tool === "line"));
    $("tool-thirds").setAttribute("aria-pressed", String(tool === "thirds"));
    canvas.dataset.tool = tool || "";
    renderMeasurements();
    draw();
  }
  function cancelMeasure() {
    // Esc: the line being drawn first, then the tool itself
    if (sketch) sketch = null; else setTool(null);
    draw();
  }
  function finishSketch() {
    const done = sketch;
    sketch = null;
    if (!done) return;
    const [a, b] = done.points.map(toScreen);
    if (Math.hypot(b[0] - a[0], b[1] - a[1]) < 3) { draw(); return; } // a click, not a line
    if (measurements.length >= MAX_MEASUREMENTS) {
      say(`At most ${MAX_MEASUREMENTS} measurements on a case: remove one first (Delete).`, true);
      draw();
      return;
    }
    measurements.push(done);
    measureEdited = true;
    renderMeasurements();
    changed();
    draw();
  }
  function removeMeasurement(index = measurements.length - 1) {
    if (index < 0 || index >= measurements.length) return;
    measurements.splice(index, 1);
    measureEdited = true;
    renderMeasurements();
    changed();
    draw();
  }
  function renderMeasurements() {
    const s = spacing();
    $("measure-note").textContent = s
      ? (tool ? "Drag on the image to measure · Esc cancels · Delete removes the last" : "")
      : "No pixel spacing: lengths in pixels.";
    $("measure-list").replaceChildren(...measurements.map((m, i) => {
      const li = document.createElement("li");
      li.dataset.kind = m.kind;
      const mm = lengthMm(m.points);
      li.dataset.lengthMm = mm === null ? "" : String(mm);
      li.innerHTML = '<span class="kind"></span> <span class="length"></span> <button type="button" class="link remove" title="Remove">remove</button>';
      li.querySelector(".kind").textContent = m.kind === "thirds" ? "thirds" : "ruler";
      li.querySelector(".length").textContent = lengthText(m.points);
      li.querySelector(".remove").addEventListener("click", () => removeMeasurement(i));
      return li;
    }));
  }
  function measurementsPayload() {
    // Points rounded as the server stores them; the length sent is the one they give.
    return measurements.map((m) => {
      const points = m.points.map(([x, y]) => [Math.round(x * 100) / 100, Math.round(y * 100) / 100]);
      return { kind: m.kind, points, length_mm: lengthMm(points) };
    });
  }
  const copyMeasurements = (list) => (Array.isArray(list) ? list : [])
    .filter((m) => m && (m.kind === "line" || m.kind === "thirds") && Array.isArray(m.points))
    .map((m) => ({ kind: m.kind, points: m.points.map(([x, y]) => [Number(x), Number(y)]) }));

  function resetView() {
    const p = presets()[0];
    presetIndex = 0;
    view.wc = p.wc;
    view.ww = p.ww;
    view.invert = false;
    applyWindow();
    fit();
  }
  function setPreset(i) {
    const p = presets()[i];
    presetIndex = i;
    view.wc = p.wc;
    view.ww = p.ww;
    applyWindow();
  }

  // --- mouse: drag = window/level, shift-drag or middle button = pan, wheel = zoom
  let drag = null;
  let pending = false;
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    if (tool && values && e.button === 0 && !e.shiftKey) {
      const p = toImage(e);
      sketch = { kind: tool, points: [p, p] };
      drag = null;
      e.preventDefault();
      return;
    }
    drag = { x: e.clientX, y: e.clientY, pan: e.shiftKey || e.button === 1, wc: view.wc, ww: view.ww, vx: view.x, vy: view.y };
    e.preventDefault();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (sketch) {
      sketch.points[1] = toImage(e);
      draw();
      return;
    }
    if (!drag) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (drag.pan) {
      view.x = drag.vx + dx;
      view.y = drag.vy + dy;
      draw();
      return;
    }
    const m = meta();
    const step = Math.max(m.max_value - m.min_value, 1) / 512;
    view.ww = Math.max(drag.ww + dx * step, step);
    view.wc = drag.wc + dy * step;
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => { pending = false; applyWindow(); });
    }
  });
  const endDrag = () => { drag = null; finishSketch(); };
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", () => { drag = null; sketch = null; draw(); });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    if (e.shiftKey && nSlices() > 1) { // shift + wheel: the series (some browsers send deltaX)
      const d = e.deltaY || e.deltaX;
      if (d) showSlice(sliceIndex + (d > 0 ? 1 : -1));
      return;
    }
    const rect = canvas.getBoundingClientRect();
    const cx = e.clientX - rect.left;
    const cy = e.clientY - rect.top;
    const factor = Math.exp(-e.deltaY * 0.0015);
    const scale = Math.min(Math.max(view.scale * factor, 0.05), 40);
    view.x = cx - ((cx - view.x) * scale) / view.scale;
    view.y = cy - ((cy - view.y) * scale) / view.scale;
    view.scale = scale;
    draw();
  }, { passive: false });
  window.addEventListener("resize", () => fit());

  // --- heat map (AI output), coloured from transparent blue to opaque red
  async function loadHeatmap() {
    const r = await api(`cases/${kase.token}/heatmap/`);
    const rows = Number(r.headers.get("X-Heatmap-Rows"));
    const cols = Number(r.headers.get("X-Heatmap-Columns"));
    const v = new Uint8Array(await r.arrayBuffer());
    heat.width = cols;
    heat.height = rows;
    const hctx = heat.getContext("2d");
    const out = hctx.createImageData(cols, rows);
    for (let i = 0, j = 0; i < v.length; i++, j += 4) {
      const t = v[i] / 255;
      out.data[j] = Math.round(255 * Math.min(1, 2 * t));
      out.data[j + 1] = Math.round(255 * (1 - Math.abs(2 * t - 1)));
      out.data[j + 2] = Math.round(255 * Math.max(0, 1 - 2 * t));
      out.data[j + 3] = Math.round(255 * t);
    }
    hctx.putImageData(out, 0, 0);
    heatLoaded = true;
  }
  async function toggleHeatmap() {
    if (!kase.ai || !kase.ai.has_heatmap) return;
    heatOn = !heatOn;
    $("heatmap-toggle").classList.toggle("on", heatOn);
    if (heatOn && !heatLoaded) {
      try { await loadHeatmap(); } catch (err) { say(`Heat map: ${err.message}`, true); heatOn = false; }
    }
    draw();
  }

  // --- the grading panel
  function say(text, isError = false) {
    const el = $("message");
    el.textContent = text;
    el.classList.toggle("error", isError);
  }
  // Errors that belong to one field are shown next to it (and named in it).
  const fieldErrorIds = { label: "error-class", confidence: "error-confidence", comment: "error-comment" };
  function fieldError(field, text) {
    const id = fieldErrorIds[field];
    if (!id) return false;
    const el = $(id);
    el.textContent = text;
    el.hidden = !text;
    if (field === "confidence") $("confidence").setAttribute("aria-invalid", String(Boolean(text)));
    return true;
  }
  function clearFieldErrors() {
    for (const field of Object.keys(fieldErrorIds)) fieldError(field, "");
  }
  const confidenceRange = () => `0–${kase.confidence_max}`;
  const stageName = { unaided: "unaided", aided: "with the AI output" };
  function renderPanel() {
    const labels = kase.labels;
    for (const el of document.querySelectorAll(".n-classes")) el.textContent = labels.length;
    for (const el of document.querySelectorAll(".confidence-max")) el.textContent = kase.confidence_max;
    $("confidence").max = kase.confidence_max;
    $("confidence-slider").max = kase.confidence_max;
    const classes = $("classes");
    classes.replaceChildren(...labels.map((c, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "class";
      b.dataset.code = c.code;
      b.setAttribute("role", "radio");
      b.setAttribute("aria-checked", String(selected === c.code));
      b.title = c.definition;
      b.innerHTML = `<kbd>${i + 1}</kbd> <span class="code"></span> <span class="name muted"></span>`;
      b.querySelector(".code").textContent = c.code;
      b.querySelector(".name").textContent = c.name !== c.code ? c.name : "";
      b.addEventListener("click", () => choose(c.code));
      return b;
    }));
    $("definitions").replaceChildren(...labels.flatMap((c) => {
      const dt = document.createElement("dt");
      dt.textContent = `${c.code}${c.name !== c.code ? ` — ${c.name}` : ""}`;
      const dd = document.createElement("dd");
      dd.textContent = c.definition || "—";
      return [dt, dd];
    }), ...(() => {
      const dt = document.createElement("dt");
      dt.textContent = "Cannot grade (0)";
      const dd = document.createElement("dd");
      dd.textContent = "The image is non-diagnostic (motion or other artefact, wrong or missing " +
        "slice, hip not assessable): the case is recorded as indeterminate, with your reason.";
      return [dt, dd];
    })());
    const asked = kase.stage;
    $("stage-title").textContent = asked
      ? (kase.reads[asked] ? `Revise your answer (${stageName[asked]})` : `Your answer (${stageName[asked]})`)
      : "Answered";
    for (const id of ["confidence", "confidence-slider", "comment", "submit", "cannot-grade"]) $(id).disabled = !asked;
    if (!asked) closeReasons();
    classes.classList.toggle("disabled", !asked);
    const answers = Object.values(kase.reads).map((r) =>
      `${r.stage === "unaided" ? "Unaided" : "With AI"}: ` +
      (r.indeterminate ? `indeterminate (${r.comment})` : `${r.label}, confidence ${r.confidence}`) +
      `${r.version > 1 ? ` (version ${r.version})` : ""}`);
    $("answers").textContent = answers.join(" · ");
    $("prev").disabled = !kase.prev_token;
    // AI output: present only when the server decided this reader may see it now
    const ai = kase.ai;
    $("ai").hidden = !ai;
    if (ai) {
      $("ai-class").textContent = ai.predicted_label;
      $("ai-probs").replaceChildren(...ai.probabilities.map((p) => {
        const li = document.createElement("li");
        li.innerHTML = '<span class="code"></span><span class="bar"><span></span></span><span class="p"></span>';
        li.querySelector(".code").textContent = p.code;
        li.querySelector(".bar span").style.width = `${(100 * p.p).toFixed(1)}%`;
        li.querySelector(".p").textContent = `${(100 * p.p).toFixed(1)} %`;
        return li;
      }));
      $("heatmap-toggle").hidden = !ai.has_heatmap;
    }
    $("presets").replaceChildren(...presets().map((p, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = p.name;
      b.addEventListener("click", () => setPreset(i));
      return b;
    }));
    document.title = `Case ${kase.number} of ${kase.total} · ${kase.session_name}`;
    updateStatus();
  }

  // --- the answer being given: class, confidence (digits, arrows, slider or box), comment,
  // or a reason the case cannot be graded. Any change makes it "unsaved": it is kept as a draft
  // (restored when the reader comes back to the case) until it is submitted, and moving away
  // asks first.
  let dirty = false;
  let confDigits = null; // digits typed after the class key; null: digits pick a class
  function setConfidence(value) {
    const text = value === null ? "" : String(value);
    $("confidence").value = text;
    $("confidence-slider").value = value === null ? String(Math.round(kase.confidence_max / 2)) : text;
    $("confidence-slider").classList.toggle("unset", value === null);
    fieldError("confidence", "");
  }
  function hasAnswer() {
    return Boolean(selected || $("confidence").value !== "" || $("comment").value.trim() || measureEdited ||
      (reasonsOpen && (reasonInputs().some((r) => r.checked) || $("reason-details").value.trim())));
  }
  function changed() {
    dirty = Boolean(kase.stage) && hasAnswer();
    if (dirty) saveDraft(); else dropDraft();
  }
  function choose(code) {
    if (!kase.stage) return;
    closeReasons();
    selected = code;
    confDigits = ""; // the digits that follow are the confidence
    for (const b of $("classes").children) b.setAttribute("aria-checked", String(b.dataset.code === code));
    $("entry-hint").hidden = false;
    fieldError("label", "");
    say("");
    changed();
  }
  function typeDigit(d) {
    // After the class key: one digit is tenths of the scale (8 → 80 of 100), more digits are
    // the number as typed (8 5 → 85, 1 0 0 → 100); a digit that would leave the scale starts
    // the number over, so the box always shows what Enter will submit.
    const max = kase.confidence_max;
    let digits = confDigits + d;
    const valueOf = (s) => (s.length === 1 && max >= 10 ? Math.round((Number(s) * max) / 10) : Number(s));
    if (valueOf(digits) > max || digits.length > String(max).length) digits = d;
    if (valueOf(digits) > max) {
      fieldError("confidence", `Confidence must be ${confidenceRange()} (typed ${d}).`);
      return;
    }
    confDigits = digits;
    setConfidence(valueOf(digits));
    changed();
  }
  function eraseDigit() {
    confDigits = confDigits.slice(0, -1);
    const max = kase.confidence_max;
    setConfidence(confDigits === "" ? null : (confDigits.length === 1 && max >= 10
      ? Math.round((Number(confDigits) * max) / 10) : Number(confDigits)));
    changed();
  }
  function endDigits() {
    confDigits = null;
    $("entry-hint").hidden = true;
  }
  function nudgeConfidence(direction) {
    if (!kase.stage) return;
    const input = $("confidence");
    const max = kase.confidence_max;
    const step = Math.max(1, Math.round(max / 20));
    const current = input.value === "" ? Math.round(max / 2) - direction * step : Number(input.value);
    setConfidence(Math.min(max, Math.max(0, current + direction * step)));
    confDigits = selected ? "" : null;
    changed();
  }
  function startStage() {
    selected = null;
    requestId = uuid4();
    setConfidence(null);
    $("comment").value = "";
    closeReasons();
    for (const r of document.querySelectorAll("input[name=reason]")) r.checked = false;
    $("reason-details").value = "";
    endDigits();
    clearFieldErrors();
    // the measurements of the reader's latest answer on the case come back with it
    const last = (kase.stage && kase.reads[kase.stage]) || kase.reads.aided || kase.reads.unaided;
    measurements = copyMeasurements(last && last.measurements);
    measureEdited = false;
    sketch = null;
    renderMeasurements();
    dirty = false;
    timer.start();
  }

  // --- drafts: the unsaved answer per case and stage, for this tab only (sessionStorage: it
  // survives a reload, not the closing of the tab, and is never shared with another tab)
  const draftKey = () => `readerbench-draft:${kase.session_token}:${kase.token}:${kase.stage}`;
  function saveDraft() {
    if (!kase.stage) return;
    const reason = reasonInputs().find((r) => r.checked);
    try {
      sessionStorage.setItem(draftKey(), JSON.stringify({
        label: selected, confidence: $("confidence").value, comment: $("comment").value,
        reasons: reasonsOpen, reason: reason ? reason.value : null, details: $("reason-details").value,
        request_id: requestId, elapsed: timer.elapsed(),
        measurements: measureEdited ? measurements : null,
      }));
    } catch (_) { /* storage full or off: the leave prompt still guards the answer */ }
  }
  function dropDraft() {
    try { sessionStorage.removeItem(draftKey()); } catch (_) { /* nothing kept */ }
  }
  function restoreDraft() {
    let draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(draftKey()) || "null"); } catch (_) { draft = null; }
    if (!draft || !kase.stage) return false;
    // A draft whose submit may have reached the server (its answer lost on the way back) keeps
    // its request id, so sending it again stores one read; beside a stored answer it is a
    // revision and gets a new one.
    if (draft.request_id && !kase.reads[kase.stage]) requestId = draft.request_id;
    timer.acc += Number(draft.elapsed) || 0; // time on case counts every visit until submitted
    if (draft.reasons) {
      openReasons();
      const input = reasonInputs().find((r) => r.value === draft.reason);
      if (input) input.checked = true;
      $("reason-details").value = draft.details || "";
    } else if (draft.label && kase.labels.some((c) => c.code === draft.label)) {
      choose(draft.label);
    }
    setConfidence(draft.confidence === "" || draft.confidence === null ? null : Number(draft.confidence));
    $("comment").value = draft.comment || "";
    if (Array.isArray(draft.measurements)) {
      measurements = copyMeasurements(draft.measurements);
      measureEdited = true;
      renderMeasurements();
    }
    endDigits();
    dirty = true;
    saveDraft();
    return true;
  }
  function describeAnswer() {
    if (reasonsOpen) {
      const r = reasonText();
      return r.text ? `cannot grade (${r.text})` : "cannot grade";
    }
    const parts = [selected || "no class"];
    if ($("confidence").value !== "") parts.push(`confidence ${$("confidence").value}`);
    if (measureEdited) parts.push(`${measurements.length} measurement${measurements.length === 1 ? "" : "s"}`);
    return parts.join(", ");
  }

  // --- "cannot grade": an indeterminate read, with the reason as its comment
  const reasonInputs = () => Array.from(document.querySelectorAll("input[name=reason]"));
  function openReasons() {
    if (!kase.stage) return;
    reasonsOpen = true;
    endDigits();
    if (document.activeElement instanceof HTMLElement) document.activeElement.blur(); // keys pick
    $("indeterminate").hidden = false;
    $("cannot-grade").setAttribute("aria-expanded", "true");
    selected = null;
    for (const b of $("classes").children) b.setAttribute("aria-checked", "false");
    say("Why can this case not be graded? 1–4, then Enter (Esc cancels).");
  }
  function closeReasons() {
    if (!reasonsOpen) return;
    reasonsOpen = false;
    $("indeterminate").hidden = true;
    $("cannot-grade").setAttribute("aria-expanded", "false");
    if ($("indeterminate").contains(document.activeElement)) document.activeElement.blur();
  }
  function pickReason(i) {
    const input = reasonInputs()[i];
    if (!input) return;
    input.checked = true;
    if (input.value === "other") $("reason-details").focus();
    say("");
    changed();
  }
  function reasonText() {
    const picked = reasonInputs().find((r) => r.checked);
    const details = $("reason-details").value.trim();
    if (!picked) return { error: "Reason: choose one (1–4)." };
    if (picked.value === "other") {
      return details ? { text: `other: ${details}` } : { error: "Reason: describe it in Details for “other”." };
    }
    return { text: details ? `${picked.value}: ${details}` : picked.value };
  }
  function submitIndeterminate(target) {
    if (busy || !kase.stage) return;
    const reason = reasonText();
    if (reason.error) { say(reason.error, true); return; }
    send({
      stage: kase.stage, indeterminate: true, comment: reason.text, time_ms: timer.elapsed(),
      request_id: requestId, measurements: measurementsPayload(),
    }, target);
  }

  // Enter: submit the answer and move on (to ``target`` when the reader asked to go somewhere,
  // else to the first case still without an answer, or the review once there is none). On a
  // case with nothing to give, or an answered case left unchanged, Enter only moves on.
  function submit(target) {
    if (busy) return;
    if (!kase.stage || (!dirty && kase.reads[kase.stage])) {
      if (target !== undefined) show(target); else advance("");
      return;
    }
    if (reasonsOpen) { submitIndeterminate(target); return; }
    clearFieldErrors();
    const confidence = $("confidence").value.trim();
    let ok = true;
    if (!selected) {
      fieldError("label", `Class: choose one of ${kase.labels.map((c) => c.code).join(", ")} (keys 1–${kase.labels.length}).`);
      ok = false;
    }
    if (confidence === "") {
      fieldError("confidence", `Confidence: give ${confidenceRange()} (digits after the class key, ↑/↓ or the slider).`);
      ok = false;
    } else if (!/^\d+$/.test(confidence) || Number(confidence) > kase.confidence_max) {
      fieldError("confidence", `Confidence must be a whole number ${confidenceRange()} (got ${confidence}).`);
      ok = false;
    }
    if (!ok) { say("Not submitted: see the fields marked.", true); return; }
    send({
      stage: kase.stage, label: selected, confidence: Number(confidence),
      comment: $("comment").value, time_ms: timer.elapsed(), request_id: requestId,
      measurements: measurementsPayload(),
    }, target);
  }
  async function send(payload, target) {
    busy = true;
    moving = true;
    $("submit").disabled = true;
    $("indeterminate-submit").disabled = true;
    const body = JSON.stringify(payload);
    const stageBefore = kase.stage;
    const number = kase.number;
    let saved = null;
    try {
      let response;
      for (let attempt = 0; ; attempt++) {
        try {
          response = await api(`cases/${kase.token}/reads/`, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
            body,
          });
          break;
        } catch (err) {
          // a network failure is retried with the same request id: the server stores one read
          if (err.status || attempt >= 2) throw err;
          await new Promise((r) => setTimeout(r, 400 * (attempt + 1)));
        }
      }
      const data = await response.json();
      dropDraft();
      dirty = false;
      kase = data.case;
      saved = data.read;
    } catch (err) {
      // the answer stays on screen (and in the draft): nothing typed is lost
      const fields = err.fields || {};
      const general = [];
      for (const [field, messages] of Object.entries(fields)) {
        if (!fieldError(field, messages.join(" "))) general.push(messages.join(" "));
      }
      say(general.length ? general.join(" ") : (Object.keys(fields).length
        ? "Not saved: see the fields marked." : `Not saved: ${err.message}`), true);
      stopMoving({ replay: false }); // keys typed for the next case: the reader stays here
    } finally {
      busy = false;
      $("submit").disabled = !kase.stage;
      $("indeterminate-submit").disabled = false;
    }
    if (!saved) return;
    heatLoaded = false;
    heatOn = false;
    const what = saved.indeterminate ? " as indeterminate" : ` (${saved.label}, confidence ${saved.confidence})`;
    const version = saved.version > 1 ? `, version ${saved.version}` : "";
    if (kase.stage && kase.stage !== stageBefore) {
      startStage();
      renderPanel();
      draw();
      say("Unaided answer locked. The AI output is shown: give your final answer.");
      stopMoving({ replay: true });
      return;
    }
    const message = `Saved case ${number}${what}${version}.`;
    if (target !== undefined) await show(target, { message });
    else await advance(message);
  }

  // --- moving between cases (the next one's pixels are fetched ahead)
  async function advance(message) {
    moving = true;
    let data;
    try {
      data = await (await api("next/")).json();
    } catch (err) {
      say(`${message} Could not load the next case: ${err.message}`, true);
      stopMoving({ replay: false });
      return;
    }
    if (data.done) { window.location.href = readBase; return; } // the review of the session
    await show(data.case.token, { detail: data.case, message });
  }
  function go(target) {
    // N, →, P, ←, previous/next: never past an unsaved answer without asking
    if (busy) return;
    if (dirty) { askLeave(target); return; }
    show(target);
  }
  let leaveTarget; // undefined: no question asked
  function askLeave(target) {
    leaveTarget = target;
    $("leave-answer").textContent = describeAnswer();
    $("leave").hidden = false;
  }
  function closeLeave() {
    leaveTarget = undefined;
    $("leave").hidden = true;
  }
  function leaveKeepingDraft() {
    const target = leaveTarget;
    closeLeave();
    saveDraft();
    dirty = false; // kept as a draft: it comes back with the case
    show(target);
  }
  function leaveSaving() {
    const target = leaveTarget;
    closeLeave();
    submit(target);
  }

  async function show(token, { detail = null, message = "" } = {}) {
    if (!token) { window.location.href = readBase; return; }
    $("loading").hidden = false;
    moving = true;
    let shown = false;
    try {
      const [data, buffer] = await Promise.all([
        detail ? Promise.resolve(detail) : api(`cases/${token}/`).then((r) => r.json()),
        fetchPixels(token),
      ]);
      kase = data;
      otherValues = null;
      if (kase.other_hip) {
        const ob = await api(`cases/${token}/other-hip/pixels/`).then((r) => r.arrayBuffer());
        otherValues = kase.other_hip.pixels.dtype === "int16" ? new Int16Array(ob) : new Uint16Array(ob);
      }
      sliceIndex = designated();
      sliceWanted = sliceIndex;
      sliceMeta = null;
      values = kase.pixels.dtype === "int16" ? new Int16Array(buffer) : new Uint16Array(buffer);
      renderSlices();
      history.replaceState(null, "", `${readBase}${token}/`);
      heatOn = false;
      heatLoaded = false;
      startStage();
      renderPanel();
      const restored = restoreDraft();
      say([message, restored ? `Draft restored on case ${kase.number}: not submitted yet (Enter submits).` : ""]
        .filter(Boolean).join(" "), false);
      resetView();
      if (kase.next_token) fetchPixels(kase.next_token);
      shown = true;
    } catch (err) {
      say(err.message, true);
    } finally {
      $("loading").hidden = true;
      stopMoving({ replay: shown });
    }
  }

  function updateStatus() {
    const s = Math.floor(timer.elapsed() / 1000);
    const last = kase.reads.aided || kase.reads.unaided; // this case's latest answer, if any
    const mark = last && last.indeterminate ? " (indeterminate)" : "";
    const slice = nSlices() > 1
      ? ` · slice ${sliceIndex + 1} of ${nSlices()}${sliceIndex === designated() ? " (graded)" : `, graded: ${designated() + 1}`}`
      : "";
    $("status-case").textContent = `Case ${kase.number} of ${kase.total}${mark}${slice} · ${kase.n_done} done · ${kase.condition_display}`;
    $("status-time").textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} on case`;
    $("status-wl").textContent = `W ${Math.round(view.ww)} L ${Math.round(view.wc)}` +
      `${view.invert ? " · inverted" : ""} · zoom ${Math.round(100 * view.scale)} %`;
  }
  setInterval(updateStatus, 1000);

  // --- keyboard: handled on the document before any default action (capture phase), so that
  // what has focus — a button clicked a moment ago, a preset, the slider — never decides what
  // Enter does. Buttons do not take focus from the mouse either.
  function toggleHelp(open = $("help").hidden) {
    $("help").hidden = !open;
  }
  document.addEventListener("mousedown", (e) => {
    if (e.target instanceof Element && e.target.closest("button")) e.preventDefault();
  }, true);
  // Keys typed while an answer is being saved and the next case loads wait for that case (a
  // fast reader types ahead: "2 8 Enter 3 7 Enter" reads two cases), never the case left.
  let moving = false;
  const typedAhead = [];
  function stopMoving({ replay }) {
    moving = false;
    const keys = typedAhead.splice(0);
    if (!replay) return;
    for (const key of keys) {
      onKey({
        key, target: document.body, ctrlKey: false, metaKey: false, altKey: false,
        isComposing: false, preventDefault() {}, stopPropagation() {},
      });
    }
  }
  function onKey(e) {
    const t = e.target;
    const typing = t instanceof HTMLInputElement && t.type !== "button" && t.type !== "radio" && t.type !== "range";
    if (e.key === "Unidentified" || e.isComposing) return;
    if (moving && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      e.stopPropagation();
      typedAhead.push(e.key);
      return;
    }
    // the questions asked on top of the viewer take the keys first
    if (!$("help").hidden) {
      if (e.key === "Escape" || e.key === "?" || e.key === "Enter") { e.preventDefault(); toggleHelp(false); }
      return;
    }
    if (leaveTarget !== undefined) {
      e.preventDefault();
      e.stopPropagation();
      if (e.key === "Enter") leaveSaving();
      else if (e.key === "Escape") closeLeave();
      else if (["n", "N", "p", "P", "ArrowRight", "ArrowLeft"].includes(e.key)) leaveKeepingDraft();
      return;
    }
    if (e.key === "Enter") {
      e.preventDefault();
      e.stopPropagation();
      submit();
      return;
    }
    if (e.key === "Escape") {
      if (typing) t.blur();
      else if (sketch || tool) cancelMeasure();
      else if (reasonsOpen) { closeReasons(); say(""); changed(); }
      else if (confDigits !== null) endDigits();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "?") { e.preventDefault(); toggleHelp(true); return; }
    const n = /^[0-9]$/.test(e.key) ? Number(e.key) : NaN;
    if (!Number.isNaN(n) && kase.stage) {
      e.preventDefault();
      if (reasonsOpen) { if (n >= 1 && n <= reasonInputs().length) pickReason(n - 1); return; }
      if (confDigits !== null) { typeDigit(e.key); return; }
      if (n === 0) { openReasons(); changed(); return; }
      if (n <= kase.labels.length) choose(kase.labels[n - 1].code);
      return;
    }
    if (e.key === "Backspace" && confDigits !== null) { e.preventDefault(); eraseDigit(); return; }
    if (e.shiftKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      showSlice(sliceIndex + (e.key === "ArrowDown" ? 1 : -1));
      return;
    }
    switch (e.key) {
      case "PageUp": e.preventDefault(); showSlice(sliceIndex - 1); break;
      case "PageDown": e.preventDefault(); showSlice(sliceIndex + 1); break;
      case "Home": e.preventDefault(); showSlice(designated()); break;
      case "ArrowUp": e.preventDefault(); nudgeConfidence(1); break;
      case "ArrowDown": e.preventDefault(); nudgeConfidence(-1); break;
      case "ArrowRight": case "n": case "N": e.preventDefault(); go(kase.next_token); break;
      case "ArrowLeft": case "p": case "P": e.preventDefault(); if (kase.prev_token) go(kase.prev_token); break;
      case "c": case "C": e.preventDefault(); $("confidence").focus(); break;
      case "d": case "D": $("definitions").hidden = !$("definitions").hidden; break;
      case "i": case "I": view.invert = !view.invert; applyWindow(); break;
      case "f": case "F": fit(); break;
      case "r": case "R": resetView(); break;
      case "w": case "W": setPreset((presetIndex + 1) % presets().length); break;
      case "h": case "H": toggleHeatmap(); break;
      case "b": case "B": if (kase.other_hip) { bothHips = !bothHips; fit(); } break;
      case "m": case "M": setTool("line"); break;
      case "t": case "T": setTool("thirds"); break;
      case "Delete": removeMeasurement(); break;
      default:
    }
  }
  document.addEventListener("keydown", onKey, true);
  // leaving the page (closing the tab, the sessions link, logging out elsewhere in the tab):
  // the browser asks first while an answer is unsaved; the draft is kept either way
  window.addEventListener("beforeunload", (e) => {
    if (!dirty) return;
    saveDraft();
    e.preventDefault();
    e.returnValue = "";
  });
  $("confidence").addEventListener("input", () => {
    const v = $("confidence").value;
    $("confidence-slider").value = v === "" ? String(Math.round(kase.confidence_max / 2)) : v;
    $("confidence-slider").classList.toggle("unset", v === "");
    endDigits();
    changed();
  });
  $("confidence-slider").addEventListener("input", () => {
    setConfidence(Number($("confidence-slider").value));
    confDigits = selected ? "" : null;
    changed();
  });
  $("comment").addEventListener("input", changed);
  $("reason-details").addEventListener("input", changed);
  for (const r of reasonInputs()) r.addEventListener("change", changed);
  $("submit").addEventListener("click", () => submit());
  $("cannot-grade").addEventListener("click", () => { (reasonsOpen ? closeReasons() : openReasons()); changed(); });
  $("indeterminate-submit").addEventListener("click", () => submitIndeterminate());
  $("indeterminate-cancel").addEventListener("click", () => { closeReasons(); say(""); changed(); });
  $("next").addEventListener("click", () => go(kase.next_token));
  $("prev").addEventListener("click", () => kase.prev_token && go(kase.prev_token));
  $("leave-save").addEventListener("click", leaveSaving);
  $("leave-draft").addEventListener("click", leaveKeepingDraft);
  $("leave-stay").addEventListener("click", closeLeave);
  $("help-toggle").addEventListener("click", () => toggleHelp());
  $("help-close").addEventListener("click", () => toggleHelp(false));
  $("invert").addEventListener("click", () => { view.invert = !view.invert; applyWindow(); });
  $("fit").addEventListener("click", fit);
  $("reset").addEventListener("click", resetView);
  $("heatmap-toggle").addEventListener("click", toggleHeatmap);
  $("tool-line").addEventListener("click", () => setTool("line"));
  $("tool-thirds").addEventListener("click", () => setTool("thirds"));
  $("measure-clear").addEventListener("click", () => {
    if (!measurements.length) return;
    measurements = [];
    measureEdited = true;
    renderMeasurements();
    changed();
    draw();
  });
  $("slice-slider").addEventListener("input", () => showSlice(Number($("slice-slider").value) - 1));
  $("definitions-toggle").addEventListener("click", () => { $("definitions").hidden = !$("definitions").hidden; });

  show(kase.token);
})();
