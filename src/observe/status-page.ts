/**
 * The coordinator's live status page: `/` serves one small self-contained HTML page (inline CSS,
 * JS and SVG; no CDN, the machines have no internet) that polls `/status.json` every second and
 * draws the job state, the workers table and the curves. Data goes into the DOM with textContent
 * only, so a worker id can never inject markup.
 *
 * Each chart is an <svg data-chart=NAME> whose data-x0/x1/y0/y1 and data-box attributes give the
 * axes, and each series a <polyline data-series=NAME>: a test (or a person with devtools) can map
 * every vertex back to the value it shows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteHandler } from './http-server';
import type { StatusSnapshot } from './status-page-data';

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>ringtrain status</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
.meta span{margin-right:18px}.badge{padding:2px 8px;border-radius:10px;color:#fff;font-weight:600}
.rendezvous{background:#888}.running{background:#0072b2}.done{background:#009e73}.failed{background:#d55e00}
#reason{color:#d55e00;font-weight:600}#conn{color:#888}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px;margin:14px 0}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
.chart h2{font-size:14px;margin:2px 6px}.legend span{margin:0 8px;font-size:12px}
svg{width:100%;height:auto;display:block}svg text{font-size:11px;fill:#444}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td.l{text-align:left}tr.straggler td{background:#fff1e6}.flag{color:#d55e00;font-weight:700}
</style></head><body>
<h1>ringtrain: <span id="job">...</span> <span id="state" class="badge">...</span></h1>
<div class="meta"><span>generation <b id="generation">-</b></span><span>workers <b id="world">-</b></span><span>step <b id="step">-</b></span>
<span>samples <b id="samples">-</b></span><span>elapsed <b id="elapsed">-</b></span><span id="conn"></span></div>
<div id="reason"></div>
<div class="charts">
<div class="chart"><h2>Loss</h2><div class="legend" id="legend-loss"></div><svg data-chart="loss" viewBox="0 0 480 240"></svg></div>
<div class="chart"><h2>Accuracy</h2><div class="legend" id="legend-accuracy"></div><svg data-chart="accuracy" viewBox="0 0 480 240"></svg></div>
<div class="chart"><h2>Throughput (samples/s)</h2><div class="legend" id="legend-throughput"></div><svg data-chart="throughput" viewBox="0 0 480 240"></svg></div>
<div class="chart"><h2>Learning rate</h2><div class="legend" id="legend-lr"></div><svg data-chart="lr" viewBox="0 0 480 240"></svg></div>
</div>
<h2 style="font-size:16px">Workers</h2>
<table id="workers"><thead><tr><th>rank</th><th class="l">worker</th><th class="l">address</th><th>last heartbeat</th><th title="the epoch it is in, 1-based">epoch</th><th>step</th>
<th>data ms/step</th><th>compute</th><th>comm</th><th title="the part of comm spent waiting for a slower rank">peer wait</th><th>update</th><th>straggler</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
var NS = "http://www.w3.org/2000/svg";
var BOX = { x: 56, y: 10, w: 400, h: 196 };
var COLORS = { "train-step": "#9ecae1", "train": "#0072b2", "val": "#d55e00", "throughput": "#009e73", "lr": "#cc79a7" };
var interval = Number(new URLSearchParams(location.search).get("interval")) || 1000;
function el(tag, attrs, parent) { var e = document.createElementNS(NS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); if (parent) parent.appendChild(e); return e; }
function finite(v) { return typeof v === "number" && isFinite(v); }
function ticks(lo, hi, n) { if (!(hi > lo)) return [lo]; var raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  var step = [1, 2, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return s >= raw; }); var out = [];
  for (var v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v); return out; }
/** A tick label with the decimals its spacing needs: 20, 0.25, 12k, 1e-5. */
function fmt(v, step) { if (v === 0) return "0"; if (Math.abs(v) >= 1e4 && step >= 1e3) return +(v / 1e3).toFixed(Math.max(0, -Math.floor(Math.log10(step / 1e3)))) + "k";
  if (step < 1e-4) return v.toExponential(1); return v.toFixed(Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)))); }
/** series: [{name, label, pts: [[x, y]], markers}] */
function draw(name, series, xLabel, yPin) {
  var svg = document.querySelector('svg[data-chart="' + name + '"]');
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var xs = [], ys = [];
  series.forEach(function (s) { s.pts = s.pts.filter(function (p) { return finite(p[0]) && finite(p[1]); }); s.pts.forEach(function (p) { xs.push(p[0]); ys.push(p[1]); }); });
  var legend = document.getElementById("legend-" + name); legend.textContent = "";
  series.forEach(function (s) { if (!s.pts.length) return; var sp = document.createElement("span"); sp.style.color = COLORS[s.name]; sp.textContent = "\\u25A0 " + s.label + " (" + s.pts.length + ")"; legend.appendChild(sp); });
  if (!xs.length) { el("text", { x: 200, y: 120 }, svg).textContent = "no data yet"; svg.setAttribute("data-points", "0"); return; }
  var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs), y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
  if (yPin && yPin.min !== undefined) y0 = Math.min(y0, yPin.min);
  if (yPin && yPin.max !== undefined) y1 = Math.max(y1, yPin.max);
  if (x1 === x0) { x0 -= 1; x1 += 1; } if (y1 === y0) { var pad = Math.abs(y0) * 0.1 || 1; y0 -= pad; y1 += pad; }
  var X = function (v) { return BOX.x + (v - x0) / (x1 - x0) * BOX.w; }, Y = function (v) { return BOX.y + BOX.h - (v - y0) / (y1 - y0) * BOX.h; };
  ["x0", "x1", "y0", "y1"].forEach(function (k, i) { svg.setAttribute("data-" + k, String([x0, x1, y0, y1][i])); });
  svg.setAttribute("data-box", [BOX.x, BOX.y, BOX.w, BOX.h].join(","));
  var yt = ticks(y0, y1, 4), xt = ticks(x0, x1, 5), ys = yt.length > 1 ? yt[1] - yt[0] : 1, xs2 = xt.length > 1 ? xt[1] - xt[0] : 1;
  yt.forEach(function (v) { var y = Y(v); el("line", { x1: BOX.x, x2: BOX.x + BOX.w, y1: y, y2: y, stroke: "#eee" }, svg); el("text", { x: BOX.x - 4, y: y + 4, "text-anchor": "end" }, svg).textContent = fmt(v, ys); });
  xt.forEach(function (v) { var x = X(v); el("line", { x1: x, x2: x, y1: BOX.y, y2: BOX.y + BOX.h, stroke: "#eee" }, svg); el("text", { x: x, y: BOX.y + BOX.h + 14, "text-anchor": "middle" }, svg).textContent = fmt(v, xs2); });
  el("rect", { x: BOX.x, y: BOX.y, width: BOX.w, height: BOX.h, fill: "none", stroke: "#999" }, svg);
  el("text", { x: BOX.x + BOX.w / 2, y: 238, "text-anchor": "middle" }, svg).textContent = xLabel;
  var total = 0;
  series.forEach(function (s) {
    if (!s.pts.length) return; total += s.pts.length;
    var pts = s.pts.map(function (p) { return X(p[0]).toFixed(2) + "," + Y(p[1]).toFixed(2); }).join(" ");
    el("polyline", { "data-series": s.name, points: pts, fill: "none", stroke: COLORS[s.name], "stroke-width": s.markers ? 2 : 1.5 }, svg);
    if (s.markers) s.pts.forEach(function (p) { el("circle", { cx: X(p[0]).toFixed(2), cy: Y(p[1]).toFixed(2), r: 3, fill: COLORS[s.name] }, svg); });
  });
  svg.setAttribute("data-points", String(total));
}
function text(id, v) { document.getElementById(id).textContent = v; }
function render(s) {
  text("job", s.job); var st = document.getElementById("state"); st.textContent = s.state; st.className = "badge " + s.state;
  text("generation", s.generation); text("world", s.workers.length + "/" + s.worldSize); text("step", s.step); text("samples", s.samples.toLocaleString("en-US"));
  text("elapsed", ((s.nowMs - s.startedAtMs) / 1000).toFixed(0) + " s"); text("reason", s.reason || "");
  var pts = s.points;
  // Epoch results sit at the last step of their epoch; without step points the x axis is epochs.
  var lastStep = {}; pts.forEach(function (p) { lastStep[p.epoch] = p.step; });
  var useSteps = pts.length > 0, xLabel = useSteps ? "step" : "epoch";
  var ex = function (e) { return useSteps ? (lastStep[e.epoch] !== undefined ? lastStep[e.epoch] : NaN) : e.epoch; };
  var split = function (name, key) { return s.epochs.filter(function (e) { return e.split === name; }).map(function (e) { return [ex(e), e[key]]; }); };
  draw("loss", [{ name: "train-step", label: "train (step)", pts: pts.map(function (p) { return [p.step, p.loss]; }) },
    { name: "train", label: "train (epoch)", pts: split("train", "loss"), markers: true }, { name: "val", label: "val (epoch)", pts: split("val", "loss"), markers: true }], xLabel, { min: 0 });
  draw("accuracy", [{ name: "train-step", label: "train (running)", pts: pts.map(function (p) { return [p.step, p.accuracy]; }) },
    { name: "train", label: "train (epoch)", pts: split("train", "accuracy"), markers: true }, { name: "val", label: "val (epoch)", pts: split("val", "accuracy"), markers: true }], xLabel, { max: 1 });
  draw("throughput", [{ name: "throughput", label: "samples/s", pts: useSteps ? pts.map(function (p) { return [p.step, p.samplesPerSec]; }) : split("train", "samplesPerSec") }], xLabel, { min: 0 });
  draw("lr", [{ name: "lr", label: "learning rate", pts: pts.map(function (p) { return [p.step, p.lr]; }) }], xLabel, { min: 0 });
  var body = document.querySelector("#workers tbody"); body.textContent = "";
  s.workers.forEach(function (w) {
    var tr = document.createElement("tr"); tr.setAttribute("data-rank", w.rank); if (w.straggler) tr.className = "straggler";
    var m = w.msPerStep, ms = function (v) { return m ? v.toFixed(1) : "-"; };
    [[w.rank], [w.workerId, "l"], [w.address, "l"], [w.lastHeartbeatAgeSec < 0 ? "-" : w.lastHeartbeatAgeSec.toFixed(1) + " s ago"], [w.epoch + 1], [w.step],
      [ms(m && m.data)], [ms(m && m.compute)], [ms(m && m.communication)], [ms(m && m.peerWait)], [ms(m && m.update)], [w.straggler ? "straggler" : "", w.straggler ? "flag" : ""]]
      .forEach(function (c) { var td = document.createElement("td"); td.textContent = String(c[0]); if (c[1]) td.className = c[1]; tr.appendChild(td); });
    body.appendChild(tr);
  });
  document.body.setAttribute("data-updated", String(s.nowMs));
}
function poll() {
  fetch("status.json", { cache: "no-store" }).then(function (r) { return r.json(); })
    .then(function (s) { text("conn", ""); render(s); }, function () { text("conn", "coordinator unreachable (the job may be over); showing the last state"); })
    .then(function () { setTimeout(poll, interval); });
}
poll();
</script></body></html>
`;

/** `/` and `/status.json` for the coordinator's HTTP server. */
export function statusPageRoutes(snapshot: () => StatusSnapshot): Record<string, RouteHandler> {
  const page: RouteHandler = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(STATUS_PAGE_HTML);
  };
  const json: RouteHandler = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    // NaN (an unknown accuracy) becomes null; the page skips non-finite values.
    res.end(JSON.stringify(snapshot()));
  };
  return { '/': page, '/status.json': json };
}
