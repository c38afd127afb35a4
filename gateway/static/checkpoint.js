// The checkpoint page's script (gateway/templates/checkpoint.html), a file of its own so the pages'
// Content-Security-Policy allows no inline script.  What the server fills in arrives as JSON in
// <script type="application/json" id="page-data">, which is data, never run.
"use strict";
const PAGE = JSON.parse(document.getElementById("page-data").textContent);
const REGIONS = PAGE.regions;
const FORMATS = PAGE.formats;                      // names people know: 粤康码, EU 数字新冠证书 …
// The national trust-list keys, pinned in the page: an offline verifier trusts a cached trust
// list only under these (docs/standard.md §7), never under a key the list brings itself.
const NATIONAL_KEYS = PAGE.national_keys;
const SHOW_SECONDS = 8;
const $ = (id) => document.getElementById(id);
const W = HCWords;
let checked = 0, hideTimer = null, trust = null, tables = null;

// --- the trust list and format tables, cached for offline use ---------------------------------
const now = () => Math.floor(Date.now() / 1000);
async function refreshTrust() {
  const minSeq = Number(localStorage.getItem("hc.trustSeq") || 0);
  try {
    const [t, f] = await Promise.all([fetch("/v1/trust-list", {cache: "no-store"}).then((r) => r.json()),
                                      fetch(PAGE.formats_url).then((r) => r.json())]);
    const loaded = await HCOffline.loadTrustList(t.jws, NATIONAL_KEYS, now(), minSeq);
    localStorage.setItem("hc.trustList", t.jws);
    localStorage.setItem("hc.trustSeq", String(loaded.seq));
    localStorage.setItem("hc.tables", JSON.stringify(f));
    trust = loaded; tables = f;
  } catch (e) {
    const cached = localStorage.getItem("hc.trustList");
    try {
      if (cached) { trust = await HCOffline.loadTrustList(cached, NATIONAL_KEYS, now(), minSeq); }
      tables = tables || JSON.parse(localStorage.getItem("hc.tables") || "null");
    } catch (err) { trust = null; }
  }
  document.body.dataset.trust = trust && tables ? "ready" : "none";
  document.body.dataset.trustSeq = trust ? String(trust.seq) : "";
}

function setOnline(online) {
  const net = $("net");
  net.className = online ? "" : "offline";
  net.textContent = online ? "联网 online" :
    `离线核验 OFFLINE — 本机按信任列表核验${trust ? `（${W.beijing(trust.payload.iat)}）` : ""} · checked on this device`;
}

// --- alerts: sound and vibration for red and invalid, a short tone for green ------------------
let audio = null;
function tone(freq, start, length, type) {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = type; osc.frequency.value = freq; gain.gain.value = 0.3;
    osc.connect(gain).connect(audio.destination);
    osc.start(audio.currentTime + start); osc.stop(audio.currentTime + start + length);
  } catch (e) { /* no audio device: the screen still says it */ }
}
function alertFor(kind) {
  if (kind === "red" || kind === "invalid") {
    tone(330, 0, 0.25, "square"); tone(330, 0.35, 0.25, "square"); tone(330, 0.7, 0.4, "square");
    if (navigator.vibrate) navigator.vibrate([300, 100, 300, 100, 500]);
  } else if (kind === "yellow") {
    tone(520, 0, 0.3, "triangle");
    if (navigator.vibrate) navigator.vibrate(200);
  } else {
    tone(880, 0, 0.12, "sine");
  }
}

// --- showing a verdict ----------------------------------------------------------------------
function describe(v) {
  if (!v.valid) return {kind: "invalid", big: "无效 INVALID", holder: "", detail: (v.errors || []).map(W.error).join("\n")};
  const region = REGIONS[v.region] || {name: v.region, name_en: ""};
  const d = v.details || {};
  // Foreign certificates carry no Chinese ID: show what EU / SMART verifier apps show.
  const holder = d.holder ? `${d.holder.name_transliterated}${d.holder.birth_date_masked ? `  出生 born ${d.holder.birth_date_masked}` : ""}`
    : `${v.holder.name_masked}  ${v.holder.id_masked}`;
  const province = region.parent && REGIONS[region.parent];         // a city issues under its province
  const issuedBy = province ? `${region.name}（${province.name}）${region.name_en}, ${province.name_en}` : `${region.name} ${region.name_en}`;
  const lines = [`${issuedBy} · ${W.formatName(FORMATS, v.format)}`.replace("  ", " ")];
  if (v.reasons.length) lines.push(v.reasons.map(W.reason).join("，"));
  if (d.dependent_of) lines.push(`由 ${d.dependent_of.holder_name_masked} 代为出示（${W.RELATIONS[d.dependent_of.relation] || d.dependent_of.relation}）shown by a family member`);
  if (d.transcoded_from) lines.push(`转码自 transcoded from ${(REGIONS[d.transcoded_from.region] || {name: d.transcoded_from.region}).name}`);
  if (d.certificate_type) lines.push(`${W.CERTIFICATES[d.certificate_type] || d.certificate_type}${d.dose ? ` · 剂次 dose ${d.dose}` : ""}`);
  for (const f of (d.business_rules || {}).failed || [])           // CertLogic rules: shown as text
    lines.push(`未通过规则 rule not met: ${f.identifier || ""} ${f.description || ""}`.trim());
  if (d.online) lines.push(`在线码：已向签发地区查询 online code, asked of its region`);
  if (d.issuer && !d.certificate_type) lines.push(`签发方 issuer ${d.issuer}`);
  if (v.expires_at) lines.push(`有效至 valid until ${W.beijing(v.expires_at)}`);
  const [zh, en] = W.COLOURS[v.status] || [v.status, ""];
  return {kind: v.status, big: `${zh} ${en}`, holder, detail: lines.join("\n")};
}

function show(v) {
  const box = $("result");
  const all = Array.isArray(v.codes) && v.codes.length > 1 ? v.codes : [v];
  const main = describe(v);
  checked += 1;
  $("count").textContent = `已核验 ${checked} · checked ${checked}`;
  box.className = main.kind;
  box.dataset.valid = String(Boolean(v.valid));
  box.dataset.status = v.valid ? v.status : "invalid";
  box.dataset.offline = String(Boolean(v.offline));
  $("verdict").textContent = main.big;
  $("holder").textContent = main.holder;
  $("detail").textContent = main.detail;
  $("mode").textContent = v.offline ? `离线核验 OFFLINE — 本机按信任列表 seq ${trust ? trust.seq : "?"} 核验 · verified on this device` : "";
  const codes = $("codes");
  codes.replaceChildren();
  if (all.length > 1) {                         // several codes in one photo: show each of them
    $("detail").textContent = `共 ${all.length} 个码 · ${all.length} codes found`;
    all.forEach((c, i) => {
      const d = describe(c), el = document.createElement("div");
      el.className = "code";
      el.dataset.valid = String(Boolean(c.valid));
      el.dataset.status = c.valid ? c.status : "invalid";
      el.textContent = `${i + 1}. ${d.big}\n${d.holder}`;
      el.style.whiteSpace = "pre-line";
      codes.append(el);
    });
  }
  const worst = all.some((c) => !c.valid) ? "invalid" : all.some((c) => c.status === "red") ? "red" :
    all.some((c) => c.status === "yellow") ? "yellow" : "green";
  alertFor(worst);
  clearTimeout(hideTimer);
  hideTimer = setTimeout(ready, SHOW_SECONDS * 1000);     // ready for the next person on its own
}

function ready() {
  clearTimeout(hideTimer);
  const box = $("result");
  box.className = "idle";
  box.dataset.valid = "";
  box.dataset.status = "waiting";
  $("payload").focus();
}

// --- verifying: the gateway when it answers, this device when it does not --------------------
async function verifyOffline(text) {
  if (!trust || !tables) await refreshTrust();
  setOnline(false);
  if (!trust || !tables) return {valid: false, offline: true, errors: [{code: "trust_list_invalid", message: "no trust list cached"}]};
  if (trust.exp < now()) return {valid: false, offline: true, errors: [{code: "trust_list_invalid", message: "trust list has expired"}]};
  return HCOffline.verify(text, trust, tables, now());
}

async function post(body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 4000);
  try {
    const r = await fetch("/v1/verify", {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({...body, device: "checkpoint-page"}), signal: controller.signal});
    const data = await r.json();
    setOnline(true);
    return r.ok ? data : {valid: false, errors: [data.error]};
  } finally { clearTimeout(timer); }
}

async function check(body, textForOffline) {
  let verdict;
  try {
    if (!navigator.onLine) throw new TypeError("offline");
    verdict = await post(body);
  } catch (e) {                                   // the network is down: verify here
    verdict = textForOffline !== null ? await verifyOffline(textForOffline)
      : {valid: false, offline: true, errors: [{code: "image_unreadable", message: "no readable QR code"}]};
  }
  show(verdict);
  $("payload").value = "";
  $("payload").focus();
}

const checkText = (text) => check({payload: text}, text);

// --- QR from images and the camera: BarcodeDetector where the browser has it, else jsQR -------
const detector = "BarcodeDetector" in window ? new BarcodeDetector({formats: ["qr_code"]}) : null;
async function readQr(source, width, height) {
  if (detector) {
    try { const found = await detector.detect(source); if (found.length) return found[0].rawValue; } catch (e) { /* fall back */ }
  }
  const canvas = $("frame"), scale = Math.min(1, 800 / Math.max(width, height));
  canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
  const found = jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height);
  return found ? found.data : null;
}

let stream = null, lastText = "", lastAt = 0;
async function startCamera() {
  if (stream) return;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false});
  } catch (e) {
    show({valid: false, errors: [{code: "camera", message: "摄像头不可用 camera not available"}]});
    return;
  }
  const video = $("video");
  video.srcObject = stream; video.style.display = "block";
  await video.play();
  document.body.dataset.camera = "on";
  const scan = async () => {
    if (!stream) return;
    if (video.readyState >= 2 && $("result").dataset.status === "waiting") {
      const text = await readQr(video, video.videoWidth, video.videoHeight);
      // The same code held in front of the camera is checked once, not every frame.
      if (text && (text !== lastText || Date.now() - lastAt > 10000)) {
        lastText = text; lastAt = Date.now();
        await checkText(text);
      }
    }
    setTimeout(scan, 200);
  };
  scan();
}

async function checkImage(file) {
  const dataUrl = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(file); });
  let text = null;
  try {
    const img = new Image();
    img.src = dataUrl;
    await img.decode();
    text = await readQr(img, img.naturalWidth, img.naturalHeight);
  } catch (e) { text = null; }
  await check({image_b64: dataUrl.split(",")[1]}, text);
}

$("check").addEventListener("click", () => checkText($("payload").value));
$("camera").addEventListener("click", startCamera);
$("payload").addEventListener("keydown", (e) => { if (e.key === "Enter") checkText($("payload").value); });
$("result").addEventListener("click", ready);
// A USB/Bluetooth scanner types wherever the focus is: its characters go to the code field.
document.addEventListener("keydown", (e) => {
  const box = $("payload");
  if (e.target === box || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key.length === 1) { box.focus(); box.value += e.key; e.preventDefault(); }
  else if (e.key === "Enter" && box.value) { e.preventDefault(); checkText(box.value); }
});
$("image").addEventListener("change", () => {
  const file = $("image").files[0];
  if (file) checkImage(file);
  $("image").value = "";
});
window.addEventListener("online", () => { setOnline(true); refreshTrust(); });
window.addEventListener("offline", () => setOnline(false));
refreshTrust();
setInterval(refreshTrust, 10 * 60 * 1000);
// Keep the page itself for offline reloads (a service worker; absent on plain-http origins).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/checkpoint-sw.js", {scope: "/checkpoint"})
    .then(() => navigator.serviceWorker.ready).then(() => { document.body.dataset.sw = "ready"; })
    .catch(() => { document.body.dataset.sw = "none"; });
}
if (new URLSearchParams(location.search).get("camera") === "1") startCamera();
