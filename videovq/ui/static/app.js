// The videovq page: pick or upload a video, draw boxes and brush strokes, track, preview, inpaint, compare.
// Plain JS, no libraries: everything it needs comes from the local server (videovq/ui/app.py).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  video: "", info: null, t: 0, image: null,
  boxes: [],      // {keys: {frame: [x, y, w, h]}, hold, refine, tracked, lost: []}
  strokes: [],    // {frame, points: [[x, y]], radius, all_frames}
  selected: -1, drag: null, result: "", job: null, frameToken: 0,
};

async function api(path, options = {}) {
  options.headers = Object.assign({ "X-Videovq": "1" }, options.headers || {});
  const response = await fetch(path, options);
  if (!response.ok) {
    let text = response.statusText;
    try { text = (await response.json()).error || text; } catch (e) { /* not JSON */ }
    throw new Error(text);
  }
  return response;
}

function setStatus(text) { $("status").textContent = text; }
const jsonPost = (body) => ({ method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });

// -- videos ---------------------------------------------------------------------------------------------------------
async function refreshVideos(select) {
  const data = await (await api("/api/videos")).json();
  const menu = $("video");
  menu.innerHTML = '<option value="">(none)</option>';
  for (const name of data.videos) menu.add(new Option(name, name));
  if ($("preset").options.length === 0) for (const p of data.presets) $("preset").add(new Option(p, p));
  if (select) menu.value = select;
}

async function openVideo(name) {
  state.video = name; state.boxes = []; state.strokes = []; state.selected = -1; state.result = "";
  $("compare").hidden = true; $("download").hidden = true;
  if (!name) return;
  setStatus("loading " + name + "…");
  state.info = await (await api("/api/info?video=" + encodeURIComponent(name))).json();
  $("canvas").width = state.info.width; $("canvas").height = state.info.height;
  $("scrub").max = state.info.frames - 1;
  setStatus(`${name}: ${state.info.frames} frames, ${state.info.width}x${state.info.height}, ${state.info.fps} fps`);
  await showFrame(0);
}

async function upload(file) {
  setStatus("uploading " + file.name + "…");
  try {
    const r = await api("/api/upload?name=" + encodeURIComponent(file.name), { method: "POST", body: file });
    const { name } = await r.json();
    await refreshVideos(name);
    await openVideo(name);
  } catch (e) { setStatus("upload refused: " + e.message); }
}

// -- frames and drawing ---------------------------------------------------------------------------------------------
async function showFrame(t) {
  if (!state.info) return;
  state.t = Math.max(0, Math.min(state.info.frames - 1, t));
  $("scrub").value = state.t;
  $("frame-label").textContent = `frame ${state.t} / ${state.info.frames - 1}`;
  const token = ++state.frameToken;  // scrubbing fast: only the newest frame is drawn
  let response;
  if ($("preview").checked) {
    response = await api("/api/preview", jsonPost({ video: state.video, frame: state.t, spec: spec() }));
  } else {
    response = await api(`/api/frame?video=${encodeURIComponent(state.video)}&t=${state.t}`);
  }
  const bitmap = await createImageBitmap(await response.blob());
  if (token !== state.frameToken) return;
  state.image = bitmap;
  draw();
  if (state.result) {
    $("input-img").src = `/api/frame?video=${encodeURIComponent(state.video)}&t=${state.t}`;
    $("result-img").src = `/api/frame?video=${encodeURIComponent(state.result)}&t=${state.t}`;
  }
}

function rectAt(box, t) {  // the same rule as videovq/io/mask_box.py: linear between keyframes, held outside
  const frames = Object.keys(box.keys).map(Number).sort((a, b) => a - b);
  if (!box.hold && (t < frames[0] || t > frames[frames.length - 1])) return null;
  if (t <= frames[0]) return box.keys[frames[0]];
  if (t >= frames[frames.length - 1]) return box.keys[frames[frames.length - 1]];
  let i = 1;
  while (frames[i] <= t) i++;
  const f0 = frames[i - 1], f1 = frames[i], a = (t - f0) / (f1 - f0);
  return box.keys[f0].map((v, k) => v + a * (box.keys[f1][k] - v));
}

function draw() {
  const ctx = $("canvas").getContext("2d");
  if (state.image) ctx.drawImage(state.image, 0, 0);
  const preview = $("preview").checked;
  state.boxes.forEach((box, i) => {
    const r = rectAt(box, state.t);
    if (!r) return;
    ctx.lineWidth = i === state.selected ? 3 : 1.5;
    ctx.setLineDash(box.keys[state.t] && !box.tracked ? [] : [6, 4]);  // solid on a drawn keyframe
    ctx.strokeStyle = i === state.selected ? "#ffe600" : "#00e0ff";
    ctx.strokeRect(r[0], r[1], r[2], r[3]);
  });
  ctx.setLineDash([]);
  if (!preview) {
    ctx.fillStyle = "rgba(255, 64, 160, 0.5)";
    for (const s of state.strokes) if (s.all_frames || s.frame === state.t) paintStroke(ctx, s);
  }
  if (state.drag && state.drag.kind === "box") {
    const d = state.drag;
    ctx.strokeStyle = "#ffe600"; ctx.lineWidth = 2;
    ctx.strokeRect(d.x0, d.y0, d.x1 - d.x0, d.y1 - d.y0);
  }
}

function paintStroke(ctx, s) {
  ctx.beginPath();
  for (const [x, y] of s.points) { ctx.moveTo(x + s.radius, y); ctx.arc(x, y, s.radius, 0, 2 * Math.PI); }
  ctx.fill();
  if (s.points.length > 1) {
    ctx.save(); ctx.strokeStyle = ctx.fillStyle; ctx.lineWidth = 2 * s.radius; ctx.lineCap = "round";
    ctx.beginPath(); ctx.moveTo(...s.points[0]);
    for (const p of s.points.slice(1)) ctx.lineTo(...p);
    ctx.stroke(); ctx.restore();
  }
}

function canvasPoint(event) {
  const c = $("canvas"), r = c.getBoundingClientRect();
  return [(event.clientX - r.left) * c.width / r.width, (event.clientY - r.top) * c.height / r.height];
}

function tool() { return document.querySelector('input[name="tool"]:checked').value; }

function pointerDown(event) {
  if (!state.info) return;
  $("canvas").setPointerCapture(event.pointerId);
  const [x, y] = canvasPoint(event);
  if (tool() === "box") {
    state.drag = { kind: "box", x0: x, y0: y, x1: x, y1: y };
  } else {
    const stroke = { frame: state.t, points: [[x, y]], radius: Number($("radius").value), all_frames: $("all-frames").checked };
    state.strokes.push(stroke);
    state.drag = { kind: "brush", stroke };
  }
  draw();
}

function pointerMove(event) {
  if (!state.drag) return;
  const [x, y] = canvasPoint(event);
  if (state.drag.kind === "box") { state.drag.x1 = x; state.drag.y1 = y; } else state.drag.stroke.points.push([x, y]);
  draw();
}

function pointerUp() {
  const d = state.drag;
  state.drag = null;
  if (d && d.kind === "box") {
    const rect = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.abs(d.x1 - d.x0), Math.abs(d.y1 - d.y0)].map(Math.round);
    if (rect[2] >= 4 && rect[3] >= 4) {
      if (state.selected >= 0) state.boxes[state.selected].keys[state.t] = rect;
      else {
        state.boxes.push({ keys: { [state.t]: rect }, hold: true, refine: false, tracked: false, lost: [] });
        state.selected = state.boxes.length - 1;
      }
    }
  }
  renderObjects();
  showFrame(state.t);
}

// -- objects: select, track, refine, delete --------------------------------------------------------------------------
function renderObjects() {
  const list = $("objects");
  list.innerHTML = "";
  state.boxes.forEach((box, i) => {
    const li = document.createElement("li");
    li.className = i === state.selected ? "selected" : "";
    const n = Object.keys(box.keys).length;
    li.innerHTML = `<span>box ${i + 1}: ${box.tracked ? "tracked, " + n + " frames" : n + " keyframe" + (n > 1 ? "s" : "")}</span>`;
    const refine = document.createElement("label");
    refine.title = "cut the box to the object (GrabCut)";
    refine.innerHTML = `<input type="checkbox" ${box.refine ? "checked" : ""}> cut`;
    refine.firstChild.onchange = (e) => { box.refine = e.target.checked; showFrame(state.t); };
    li.append(refine, button("track", () => trackBox(i), "track-" + i), button("×", () => removeBox(i)));
    li.querySelector("span").onclick = () => { state.selected = i; renderObjects(); draw(); };
    list.append(li);
  });
  $("lost").textContent = state.boxes.flatMap((b) => b.lost).join("; ");
}

function button(text, onclick, id) {
  const b = document.createElement("button");
  b.textContent = text; b.onclick = onclick;
  if (id) b.id = id;
  return b;
}

function removeBox(i) {
  state.boxes.splice(i, 1);
  state.selected = -1;
  renderObjects(); showFrame(state.t);
}

async function trackBox(i) {
  const box = state.boxes[i], rect = rectAt(box, state.t);
  if (!rect) { setStatus("the box has no rectangle on this frame: draw one first"); return; }
  setStatus("tracking from frame " + state.t + "…");
  try {
    const r = await api("/api/track", jsonPost({ video: state.video, frame: state.t, box: rect }));
    const data = await r.json();
    box.keys = {};
    data.boxes.forEach((b, t) => { if (b) box.keys[t] = b; });
    box.hold = false; box.tracked = true;
    box.lost = data.lost.map((l) => l.text);
    setStatus(`followed on ${Object.keys(box.keys).length} of ${state.info.frames} frames`);
  } catch (e) { setStatus("tracking failed: " + e.message); }
  renderObjects(); showFrame(state.t);
}

function spec() {
  return {
    boxes: state.boxes.map((b) => ({ keys: b.keys, hold: b.hold, refine: b.refine })),
    strokes: state.strokes,
    dilate: Number($("dilate").value),
  };
}

// -- inpainting -----------------------------------------------------------------------------------------------------
async function runJob() {
  if (!state.video) { setStatus("open a video first"); return; }
  $("run").disabled = true; $("download").hidden = true;
  try {
    const r = await api("/api/jobs", jsonPost({ video: state.video, preset: $("preset").value, spec: spec() }));
    pollJob((await r.json()).id);
  } catch (e) {
    $("job-state").textContent = "refused: " + e.message;
    $("run").disabled = false;
  }
}

async function pollJob(id) {
  let job;
  try { job = await (await api("/api/jobs/" + id)).json(); } catch (e) { setTimeout(() => pollJob(id), 1000); return; }
  $("progress").value = job.progress;
  let text = job.state === "done" ? `done in ${job.elapsed} s` : `${job.state}: ${job.stage} (${job.elapsed} s)`;
  if (job.bar) {  // the pipeline's current step loop
    const left = job.bar.eta === null ? "" : `, about ${job.bar.eta} s left`;
    text += ` — ${job.bar.desc} ${job.bar.n}/${job.bar.total}${left}`;
  }
  $("job-state").textContent = text + (job.error ? " — " + job.error : "");
  $("job-state").dataset.state = job.state;
  $("log").textContent = job.log.join("\n");
  $("log").scrollTop = $("log").scrollHeight;
  if (job.state === "queued" || job.state === "running") { setTimeout(() => pollJob(id), 500); return; }
  $("run").disabled = false;
  if (job.state === "done") {
    state.result = job.output;
    $("compare").hidden = false;
    $("download").href = "/files?path=" + encodeURIComponent(job.output);
    $("download").download = job.output.split("/").pop();
    $("download").textContent = "download " + job.output;
    $("download").hidden = false;
    showFrame(state.t);
  }
}

// -- wiring ---------------------------------------------------------------------------------------------------------
$("video").onchange = (e) => openVideo(e.target.value).catch((err) => setStatus(err.message));
$("upload").onchange = (e) => { if (e.target.files.length) upload(e.target.files[0]); };
$("scrub").oninput = (e) => showFrame(Number(e.target.value));
$("prev").onclick = () => showFrame(state.t - 1);
$("next").onclick = () => showFrame(state.t + 1);
$("preview").onchange = () => showFrame(state.t);
$("dilate").onchange = () => showFrame(state.t);
$("new-box").onclick = () => { state.selected = -1; renderObjects(); draw(); };
$("undo-stroke").onclick = () => { state.strokes.pop(); showFrame(state.t); };
$("clear").onclick = () => { state.boxes = []; state.strokes = []; state.selected = -1; renderObjects(); showFrame(state.t); };
$("run").onclick = runJob;
$("canvas").addEventListener("pointerdown", pointerDown);
$("canvas").addEventListener("pointermove", pointerMove);
$("canvas").addEventListener("pointerup", pointerUp);
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
  if (e.key === "ArrowLeft") showFrame(state.t - 1);
  if (e.key === "ArrowRight") showFrame(state.t + 1);
});
refreshVideos().catch((e) => setStatus(e.message));
