// serkit web page: upload a file (POST /v1/predict) or stream the microphone (WS /v1/stream).
// Plain script, no build step, no outside requests. A token given as /?token=... was turned into
// a same-site cookie by the server, which fetch and WebSocket send by themselves.
"use strict";

const COLORS = {
  angry: "#d62728", anger: "#d62728", happy: "#f2a900", happiness: "#f2a900", joy: "#f2a900",
  sad: "#1f77b4", sadness: "#1f77b4", neutral: "#8c8c8c", fear: "#7b3fb3", fearful: "#7b3fb3",
  disgust: "#2ca02c", surprise: "#e377c2", surprised: "#e377c2", boredom: "#8c564b", calm: "#17becf",
};
const SPARE = ["#9467bd", "#bcbd22", "#17becf", "#ff7f0e", "#7f7f7f", "#aec7e8"];
const $ = (id) => document.getElementById(id);
let labels = [];

function color(label) {
  if (COLORS[label]) return COLORS[label];
  const i = Math.max(0, labels.indexOf(label));
  return SPARE[i % SPARE.length];
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models");
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || r.statusText);
    const m = j.models[0];
    labels = m.labels;
    $("model").textContent = `model: ${m.name} (${m.labels.join(", ")})`;
  } catch (e) {
    $("model").textContent = `model not available: ${e.message}`;
    setTimeout(loadModel, 2000);
  }
}

// ------------------------------------------------------------------ rendering
function weightedScores(segments) {
  const acc = {};
  let total = 0;
  for (const s of segments) {
    if (!s.scores) continue;
    const w = Math.max(s.end - s.start, 1e-3);
    total += w;
    for (const [k, v] of Object.entries(s.scores)) acc[k] = (acc[k] || 0) + w * v;
  }
  for (const k in acc) acc[k] /= total || 1;
  return acc;
}

function renderBars(scores, top) {
  const box = $("bars");
  box.replaceChildren();
  const names = labels.length ? labels.filter((l) => l in scores) : Object.keys(scores);
  for (const k of names) {
    const row = el("div", { class: "row" + (k === top ? " top" : "") });
    row.append(el("span", {}, k));
    const track = el("div", { class: "track" });
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * scores[k]).toFixed(1)}%`;
    fill.style.background = color(k);
    track.append(fill);
    row.append(track, el("span", { class: "num" }, scores[k].toFixed(2)));
    box.append(row);
  }
}

function renderChart(segments, duration) {
  const svg = $("chart");
  svg.replaceChildren();
  const W = svg.clientWidth || 600, H = svg.clientHeight || 220;
  const L = 34, R = 10, T = 18, B = 24;
  const t1 = Math.max(duration || 0, ...segments.map((s) => s.end), 1);
  const x = (t) => L + ((W - L - R) * t) / t1;
  const y = (p) => T + (H - T - B) * (1 - p);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  for (const p of [0, 0.5, 1]) {
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: y(p), y2: y(p), stroke: "#e3e7ee" }));
    svg.append(el("svg:text", { x: L - 6, y: y(p) + 4, "text-anchor": "end", "font-size": 10, fill: "#5b6473" },
                  p.toFixed(1)));
  }
  const step = t1 > 20 ? 5 : t1 > 8 ? 2 : 1;
  for (let t = 0; t <= t1 + 1e-9; t += step) {
    svg.append(el("svg:text", { x: x(t), y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#5b6473" },
                  `${t}s`));
  }
  const names = labels.length ? labels : Object.keys((segments[0] || {}).scores || {});
  for (const s of segments) {
    // a band on top coloured by the segment's label, then each label's score as a level line
    const band = el("svg:rect", { x: x(s.start), y: 2, width: Math.max(1, x(s.end) - x(s.start)), height: 10,
                                  fill: s.label ? color(s.label) : "#cfd5df" });
    band.append(el("svg:title", {}, `${s.start.toFixed(2)}-${s.end.toFixed(2)} s: ${s.label || "no speech"}`));
    svg.append(band);
    if (!s.scores) continue;
    for (const k of names) {
      if (!(k in s.scores)) continue;
      svg.append(el("svg:line", { x1: x(s.start), x2: x(s.end), y1: y(s.scores[k]), y2: y(s.scores[k]),
                                  stroke: color(k), "stroke-width": k === s.label ? 3 : 1.5,
                                  "stroke-linecap": "round" }));
    }
  }
  const leg = $("legend");
  leg.replaceChildren();
  for (const k of names) {
    const item = el("span");
    const sw = el("i");
    sw.style.background = color(k);
    item.append(sw, document.createTextNode(k));
    leg.append(item);
  }
}

function renderTable(segments) {
  const body = $("segments").querySelector("tbody");
  body.replaceChildren();
  for (const s of segments) {
    const top = s.scores && s.label ? s.scores[s.label] : null;
    const tr = el("tr");
    tr.append(el("td", {}, s.start.toFixed(2)), el("td", {}, s.end.toFixed(2)),
              el("td", {}, s.label || "no speech"), el("td", {}, top === null ? "" : top.toFixed(2)));
    body.append(tr);
  }
}

function render(title, result, segments) {
  $("result").hidden = false;
  const scores = result.scores && Object.keys(result.scores).length ? result.scores : weightedScores(segments);
  let top = result.label;
  if (top === undefined) top = Object.keys(scores).sort((a, b) => scores[b] - scores[a])[0];
  const dur = result.duration !== undefined ? `${result.duration.toFixed(1)} s` : "";
  $("title").textContent = `${title} ${dur ? "\u00b7 " + dur : ""} \u00b7 ${top || "no speech found"}`;
  renderBars(scores, top);
  renderChart(segments, result.duration);
  renderTable(segments);
}

// ------------------------------------------------------------------ upload
async function upload(file) {
  if (!file) return;
  setStatus(`analysing ${file.name}\u2026`);
  document.body.dataset.state = "busy";
  const fd = new FormData();
  fd.append("file", file, file.name);
  try {
    const r = await fetch("/v1/predict?segments=true", { method: "POST", body: fd });
    const j = await r.json();
    if (!r.ok || j.error) throw new Error(j.error || `HTTP ${r.status}`);
    render(j.file, j, j.segments || []);
    setStatus(`${j.segments ? j.segments.length : 0} segment(s)`);
    document.body.dataset.state = "result";
  } catch (e) {
    $("result").hidden = true;  // not the previous file's result under this file's error
    setStatus(e.message, true);
    document.body.dataset.state = "error";
  }
}

const drop = $("drop");
$("file").addEventListener("change", (e) => upload(e.target.files[0]));
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
for (const ev of ["dragenter", "dragover"]) {
  drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
for (const ev of ["dragleave", "drop"]) {
  drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
}
drop.addEventListener("drop", (e) => upload(e.dataTransfer.files[0]));

// ------------------------------------------------------------------ microphone
let live = null;

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule("/static/pcm-worklet.js");
  const src = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, "pcm-capture");
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/v1/stream`);
  ws.binaryType = "arraybuffer";
  const segments = [];
  live = { stream, ctx, ws, node, segments };
  ws.onopen = () => {
    ws.send(JSON.stringify({ sample_rate: ctx.sampleRate }));
    node.port.onmessage = (e) => {  // Float32Array at ctx.sampleRate -> 16-bit PCM
      if (ws.readyState !== WebSocket.OPEN) return;
      const f = e.data, pcm = new Int16Array(f.length);
      for (let i = 0; i < f.length; i++) pcm[i] = Math.max(-1, Math.min(1, f[i])) * 0x7fff;
      ws.send(pcm.buffer);
    };
    src.connect(node);
    const mute = ctx.createGain();  // pulled by the destination so that the worklet keeps running
    mute.gain.value = 0;
    node.connect(mute).connect(ctx.destination);
    setStatus("listening\u2026 results appear as each speech window ends");
    document.body.dataset.state = "recording";
  };
  ws.onmessage = (e) => {
    const w = JSON.parse(e.data);
    if (w.error) { setStatus(w.error, true); return; }
    segments.push(w);
    const end = segments[segments.length - 1].end;
    render("Microphone (live)", { duration: end }, segments);
    setStatus(`${segments.length} window(s) so far`);
    document.body.dataset.segments = String(segments.length);
  };
  ws.onclose = (e) => {
    if (e.code !== 1000 && e.code !== 1005) setStatus(`stream closed (${e.code} ${e.reason || ""})`, true);
    else if (live === null) setStatus(`done: ${segments.length} window(s)`);
    stopRecording(false);
  };
}

function stopRecording(sendEnd) {
  const l = live;
  if (!l) return;
  live = null;
  l.node.port.onmessage = null;
  l.stream.getTracks().forEach((t) => t.stop());
  l.ctx.close();
  if (sendEnd && l.ws.readyState === WebSocket.OPEN) l.ws.send(JSON.stringify({ type: "end" }));
  $("record").classList.remove("on");
  $("record").textContent = "\u25cf Record";
  document.body.dataset.state = "stopped";
}

$("record").addEventListener("click", async () => {
  if (live) { stopRecording(true); return; }
  $("record").classList.add("on");
  $("record").textContent = "\u25a0 Stop";
  try {
    await startRecording();
  } catch (e) {
    setStatus(`microphone: ${e.message}`, true);
    $("record").classList.remove("on");
    $("record").textContent = "\u25cf Record";
  }
});

loadModel();
