// The ops page's script (gateway/templates/ops.html), a file of its own so the pages'
// Content-Security-Policy allows no inline script.  What the server fills in arrives as JSON in
// <script type="application/json" id="page-data">, which is data, never run.
"use strict";
const PAGE = JSON.parse(document.getElementById("page-data").textContent);
// The data manager's credential arrives in the URL fragment and stays in this tab.
function takeToken() {
  if (!location.hash.startsWith("#token=")) return false;
  sessionStorage.setItem("opsToken", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname);
  return true;
}
takeToken();
window.addEventListener("hashchange", () => { if (takeToken()) load("24h"); });
const REGIONS = PAGE.regions;
const W = HCWords;
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
const COLOURS = {green: "#0a7d32", yellow: "#f2c200", red: "#c4161c", invalid: "#555"};
const PALETTE = ["#1456c2", "#e67e22", "#8e44ad", "#16a085", "#c0392b", "#7f8c8d", "#2c3e50", "#d35400"];
let data = null;

function el(name, attrs, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function hourLabel(iso, days) {
  const b = W.beijing(iso);                        // "YYYY-MM-DD HH:MM 北京时间"
  return days ? b.slice(5, 10) : b.slice(11, 16);
}

// Stacked bars, one per hour; x labels in Beijing time.
function stacked(svg, hours, series, colours) {
  svg.replaceChildren();
  const width = svg.clientWidth || 560, height = 200, left = 36, bottom = 22;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const names = Object.keys(series);
  const totals = hours.map((_, i) => names.reduce((sum, n) => sum + series[n][i], 0));
  const max = Math.max(1, ...totals);
  const bw = (width - left) / hours.length;
  svg.append(el("text", {x: 2, y: 14, "font-size": 11}, String(max)), el("text", {x: 2, y: height - bottom, "font-size": 11}, "0"));
  hours.forEach((h, i) => {
    let y = height - bottom;
    for (const n of names) {
      const v = series[n][i];
      if (!v) continue;
      const bh = (v / max) * (height - bottom - 16);
      y -= bh;
      const rect = el("rect", {x: left + i * bw, y, width: Math.max(1, bw - 1), height: bh, fill: colours[n], "data-series": n, "data-value": v});
      rect.append(el("title", {}, `${hourLabel(h)} ${n}: ${v}`));
      svg.append(rect);
    }
    const days = hours.length > 48;
    const every = days ? 24 : 3;
    if (i % every === 0) svg.append(el("text", {x: left + i * bw, y: height - 6, "font-size": 10}, hourLabel(h, days)));
  });
  svg.append(el("text", {x: width - 2, y: 14, "font-size": 10, "text-anchor": "end"}, "北京时间 UTC+8"));
}

// One row per error: its words on a line of their own (shortened to the Chinese, then smaller,
// until they fit), the bar and the count below — whole on a phone.
function horizontal(svg, counts) {
  svg.replaceChildren();
  const entries = Object.entries(counts).slice(0, 8);
  const width = svg.clientWidth || 560, row = 36;
  svg.setAttribute("viewBox", `0 0 ${width} ${Math.max(1, entries.length) * row + 4}`);
  if (!entries.length) { svg.append(el("text", {x: 10, y: 24, "font-size": 14}, "没有被拒绝的码 · nothing refused")); return; }
  const max = Math.max(...entries.map(([, v]) => v));
  entries.forEach(([code, v], i) => {
    const words = W.error({code});
    const label = el("text", {x: 0, y: i * row + 15, "font-size": 12, "data-label": code}, words);
    svg.append(label);
    if (label.getComputedTextLength() > width) label.textContent = W.halves(words)[0] || words;
    for (let size = 11; size >= 8 && label.getComputedTextLength() > width; size--) label.setAttribute("font-size", size);
    const length = Math.max(2, (v / max) * (width - 48));
    const bar = el("rect", {x: 0, y: i * row + 20, width: length, height: 12, fill: "#555", "data-error": code, "data-value": v});
    svg.append(bar, el("text", {x: length + 6, y: i * row + 31, "font-size": 12}, String(v)));
  });
}

function legend(id, colours, labels) {
  $(id).replaceChildren(...Object.keys(colours).map((k) => {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = colours[k];
    span.append(swatch, labels[k] || k);
    return span;
  }));
}

function draw() {
  if (!data) return;
  const regionColours = {}, regionLabels = {};
  Object.keys(data.scans.by_region).forEach((r, i) => {
    regionColours[r] = PALETTE[i % PALETTE.length];
    regionLabels[r] = REGIONS[r] ? `${REGIONS[r].name} ${r}` : r === "unreadable" ? "无法识别 unreadable" : r;
  });
  stacked($("colour"), data.hours, data.scans.by_colour, COLOURS);
  legend("colour-legend", COLOURS, {green: "绿 green", yellow: "黄 yellow", red: "红 red", invalid: "无效 invalid"});
  stacked($("region"), data.hours, data.scans.by_region, regionColours);
  legend("region-legend", regionColours, regionLabels);
  horizontal($("refused"), data.refused_by_error);
  const lookupColours = {ok: "#1456c2", refused: "#999", rate_limited: "#c4161c"};
  stacked($("lookups"), data.hours, data.lookups, lookupColours);
  legend("lookups-legend", lookupColours, {ok: "成功 ok", refused: "未找到等 refused", rate_limited: "限流 rate-limited"});
  const whole = (text) => text.replace(/-/g, "\u2011").replace(/ /g, "\u00a0");    // breaks only at " — "
  $("range").textContent = `${whole(W.beijing(data.since))} — ${whole(W.beijing(data.until))}`;
  const lookups = Object.values(data.lookups).flat().reduce((a, b) => a + b, 0);
  $("totals").textContent = `扫码 scans ${data.scans.total} · 查询 lookups ${lookups}`;
  $("charts").dataset.state = "drawn";
  $("charts").dataset.window = data.window;
}

async function load(window) {
  $("w24").setAttribute("aria-pressed", String(window === "24h"));
  $("w7").setAttribute("aria-pressed", String(window === "7d"));
  const token = sessionStorage.getItem("opsToken");
  if (!token) {
    $("message").innerHTML = "需要数据管理员凭证 · A data manager's credential is needed: " +
      "<code>healthcode credentials add --role data_manager --id dm-1</code>, then open <code>/ops#token=&lt;token&gt;</code>";
    return;
  }
  const r = await fetch(`/v1/admin/stats?window=${window}`, {headers: {Authorization: `Bearer ${token}`}});
  const body = await r.json();
  if (!r.ok) {
    const why = {unauthorized: "凭证无效或已过期 the credential is not valid", forbidden: "此凭证不是数据管理员的 not a data manager's credential"};
    $("message").textContent = `无法读取 · refused: ${why[body.error.code] || W.error(body.error)}`;
    $("charts").dataset.state = "refused";
    return;
  }
  $("message").textContent = "";
  data = body;
  draw();
}

$("w24").addEventListener("click", () => load("24h"));
$("w7").addEventListener("click", () => load("7d"));
window.addEventListener("resize", draw);
load("24h");
