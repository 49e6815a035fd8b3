// protoflow explorer: plain JavaScript, no external assets.
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;
let start = null;            // {sample: i} or {unit: u}
const RANGES = { gamma: [0, 1, 0.01], lam: [0.001, 1, 0.001], trust: [0.005, 1, 0.005] };

function fmt(x) { return x === undefined || x === null ? "–" : Number(x).toFixed(4); }

function setStart(s, text) {
  start = s;
  $("start-text").textContent = text;
  document.querySelectorAll("#gallery figure").forEach((f) =>
    f.classList.toggle("selected", s.sample !== undefined && Number(f.dataset.index) === s.sample));
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

async function load() {
  info = await (await fetch("/api/info")).json();
  $("run-info").textContent = `${info.run}: ${info.dataset}, ${info.model} (${info.n_units} units), ` +
    `controller ${info.controller}` + (info.baseline ? ` against ${info.baseline}` : "");
  $("run").textContent = "Run " + info.controller + (info.baseline ? " and " + info.baseline : "");
  for (const name of [info.controller, info.baseline].filter(Boolean)) {  // one summary row each
    const row = document.createElement("tr");
    row.innerHTML = `<td></td><td id="${name}-final-bmu"></td><td id="${name}-length"></td>` +
      `<td id="${name}-confidence"></td><td id="${name}-target-p"></td>`;
    row.firstChild.textContent = name;
    $("summary-rows").appendChild(row);
  }
  $("map").src = (await (await fetch("/api/map")).json()).png;
  const gallery = $("gallery");
  for (const g of info.gallery) {
    const f = document.createElement("figure");
    f.dataset.index = g.index;
    f.title = `sample ${g.index}` + (g.label === null ? "" : `, label ${g.label}`);
    if (info.images) {
      const img = document.createElement("img");
      img.src = `/api/sample/${g.index}.png`;
      img.alt = f.title;
      f.appendChild(img);
    }
    const cap = document.createElement("figcaption");
    cap.textContent = g.label === null ? `#${g.index}` : `${g.label}`;
    f.appendChild(cap);
    f.addEventListener("click", () => setStart({ sample: g.index }, `sample ${g.index}` +
      (g.label === null ? "" : ` (label ${g.label})`)));
    gallery.appendChild(f);
  }
  $("start-unit").max = info.n_units - 1;
  $("target-unit").max = info.n_units - 1;
  $("start-unit").addEventListener("change", (e) => {
    if (e.target.value !== "") setStart({ unit: Number(e.target.value) }, `unit ${e.target.value}`);
  });
  const sel = $("target-label");
  for (const c of info.classes) {
    const o = document.createElement("option");
    o.value = c; o.textContent = c;
    sel.appendChild(o);
  }
  if (!info.classes.length) document.querySelector("input[value=unit]").checked = true;
  const params = $("params");
  for (const [name, p] of Object.entries(info.tunable)) {
    const [lo, hi, step] = RANGES[name] || [0, 1, 0.01];
    const label = document.createElement("label");
    label.title = p.doc;
    label.innerHTML = `${name} <input type="range" min="${lo}" max="${hi}" step="${step}">` +
      ` <input type="number" step="any" class="param" data-name="${name}" style="width:6em">`;
    const range = label.querySelector("input[type=range]");
    const num = label.querySelector("input[type=number]");
    range.value = num.value = p.value;
    range.addEventListener("input", () => { num.value = range.value; });
    num.addEventListener("input", () => { range.value = num.value; });
    params.appendChild(label);
  }
  $("steps").value = info.steps;
  $("run").addEventListener("click", runPaths);
  if (info.gallery.length) {
    const g = info.gallery[0];
    setStart({ sample: g.index }, `sample ${g.index}` + (g.label === null ? "" : ` (label ${g.label})`));
  }
  document.body.dataset.ready = "1";
}

function request() {
  const kind = document.querySelector("input[name=target-kind]:checked").value;
  const target = kind === "unit" ? { unit: Number($("target-unit").value) }
    : { label: $("target-label").value };
  const params = {};
  document.querySelectorAll("input.param").forEach((i) => { params[i.dataset.name] = Number(i.value); });
  return { start, target, steps: Number($("steps").value), params };
}

async function runPaths() {
  if (!start) { showError("pick a start first"); return; }
  showError("");
  $("status").textContent = "running…";
  delete document.body.dataset.done;
  const t0 = performance.now();
  const resp = await fetch("/api/paths", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(request()),
  });
  const out = await resp.json();
  $("status").textContent = "";
  if (!resp.ok) { showError(out.error); document.body.dataset.done = "error"; return; }
  for (const [name, c] of Object.entries(out.controllers)) {
    $(`${name}-final-bmu`).textContent = c.final_bmu;
    $(`${name}-length`).textContent = fmt(c.path_length);
    $(`${name}-confidence`).textContent = c.confidence ? fmt(c.confidence[c.confidence.length - 1]) : "–";
    $(`${name}-target-p`).textContent = c.target_probability ?
      fmt(c.target_probability[c.target_probability.length - 1]) : "–";
  }
  $("summary").hidden = false;
  $("timing").textContent = `${out.steps} steps to ${out.target.length > 1 ? "the units of class " +
    out.target_label : "unit " + out.target[0]}: computed in ${(out.elapsed_s * 1000).toFixed(0)} ms ` +
    `(round trip ${(performance.now() - t0).toFixed(0)} ms)`;
  for (const key of ["strips", "curves", "maps"]) {
    const img = $(key);
    if (out.figures[key]) { img.src = out.figures[key]; img.hidden = false; } else { img.hidden = true; }
  }
  document.body.dataset.done = "1";
}

load().catch((e) => showError(`could not load the run: ${e}`));
