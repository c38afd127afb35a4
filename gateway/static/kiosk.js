// The kiosk page's script (gateway/templates/kiosk.html), a file of its own so the pages'
// Content-Security-Policy allows no inline script.  What the server fills in arrives as JSON in
// <script type="application/json" id="page-data">, which is data, never run.
"use strict";
const PAGE = JSON.parse(document.getElementById("page-data").textContent);
// The kiosk's credential arrives in the URL fragment (never sent to the server) and is kept for
// this browser session only: on load, or when staff open the address with #token=… in this tab.
function takeToken() {
  if (!location.hash.startsWith("#token=")) return false;
  sessionStorage.setItem("kioskToken", decodeURIComponent(location.hash.slice(7)));
  history.replaceState(null, "", location.pathname + location.search);
  return true;
}
takeToken();
window.addEventListener("hashchange", () => {
  if (!takeToken()) return;
  $("staff").removeAttribute("style");          // the stylesheet hides the hint again
  $("staff").replaceChildren();
  if ($("result").dataset.status === "error") reset();
});
const KIOSK_ID = PAGE.kiosk_id;
const REGIONS = PAGE.regions;
const W = HCWords;
const $ = (id) => document.getElementById(id);
const zh = (text) => String(text).split(" · ")[0];          // the Chinese half, for speech
let resetTimer = null, spoken = "";

// A kiosk_id comes from the address anyone can type: a command is shown only for one that is a
// credential id (gateway/credentials.py _ID), never one that carries shell syntax.
const CREDENTIAL_ID = /^[A-Za-z0-9._-]{1,64}$/;
function staffHint(why) {
  const el = $("staff");
  const origin = location.origin, id = KIOSK_ID;
  el.innerHTML = "";
  el.append(Object.assign(document.createElement("b"), {textContent: `工作人员请注意 · For staff: ${why}`}),
    document.createElement("br"));
  if (!CREDENTIAL_ID.test(id)) {
    el.append("地址中的 kiosk_id 不是有效的编号（1-64 个字母、数字、'.'、'_' 或 '-'）· " +
              "the kiosk_id in this address is not a valid id (1-64 letters, digits, '.', '_' or '-')");
    el.dataset.command = "none";
    el.style.display = "block";
    return;
  }
  el.append("1. 在网关上运行 · On the gateway run: ", Object.assign(document.createElement("code"),
      {textContent: `healthcode credentials add --role kiosk --id ${id} --kiosk-id ${id}`}),
    document.createElement("br"),
    "2. 用输出的 token 打开 · Open with the printed token: ", Object.assign(document.createElement("code"),
      {textContent: `${origin}/kiosk?kiosk_id=${id}#token=<token>`}));
  el.dataset.command = "shown";
  el.style.display = "block";
}
if (!sessionStorage.getItem("kioskToken")) staffHint("本机尚未登记，无法查询 · this kiosk has no credential yet");

function say(text) {
  spoken = text;
  if (!("speechSynthesis" in window)) return;
  speechSynthesis.cancel();
  const u = new SpeechSynthesisUtterance(text);
  u.lang = "zh-CN";
  u.rate = 0.9;
  speechSynthesis.speak(u);
}

function reset() {
  clearTimeout(resetTimer);
  if ("speechSynthesis" in window) speechSynthesis.cancel();
  const box = $("result");
  box.className = ""; box.dataset.status = "";
  $("ask").style.display = "block";
  $("idnum").value = "";
  $("idnum").focus();
}

function show(kind, {big, who = "", valid = "", more = "", next = "", png = null, speech}) {
  $("ask").style.display = "none";
  const box = $("result");
  box.className = `${kind} shown${png ? "" : " noqr"}`;
  box.dataset.status = kind;
  $("colour").textContent = big;
  $("who").textContent = who;
  $("valid").textContent = valid;
  $("more").textContent = more;
  $("next").textContent = next;
  $("qr").style.display = png ? "block" : "none";
  if (png) $("qr").src = "data:image/png;base64," + png;
  say(speech);
  clearTimeout(resetTimer);
  resetTimer = setTimeout(reset, 60000);      // the next person should not see this one's code
}

const PROBLEMS = {
  id_number_invalid: "身份证号码有误，请重新放置身份证 · Card could not be read, please try again",
  identity_not_matched: "没有找到您的健康码，请找工作人员帮助 · No code found, please ask staff",
  issuer_unavailable: "暂时查不到，请稍后再试或出示纸质码 · Not available now, please try later or show a printed code",
  rate_limited: "请稍等片刻再试 · Please wait a moment",
  unauthorized: "本机尚未登记，请找工作人员 · This kiosk is not set up, please ask staff",
  forbidden: "本机无权查询，请找工作人员 · This kiosk may not look up codes, please ask staff"};

async function lookUp() {
  const idNumber = $("idnum").value.trim();
  if (!idNumber) return;
  try {
    const r = await fetch("/v1/kiosk/lookup?png=1", {
      method: "POST",
      headers: {"Content-Type": "application/json",
                "Authorization": "Bearer " + (sessionStorage.getItem("kioskToken") || "")},
      body: JSON.stringify({id_number: idNumber, kiosk_id: KIOSK_ID})});
    const data = await r.json();
    if (!r.ok || !data.valid) {
      const e = data.error || (data.errors || [])[0] || {};
      if (e.code === "unauthorized" || e.code === "forbidden") staffHint("网关拒绝了本机的凭证 · the gateway refused this kiosk's credential");
      const msg = PROBLEMS[e.code] || `请找工作人员帮助 · Please ask staff${W.ERRORS[e.code] ? `\n${W.error(e)}` : ""}`;
      show("error", {big: "请找工作人员", more: msg, speech: `${zh(msg)}。`});
      return;
    }
    const [colourZh, colourEn] = W.COLOURS[data.status];
    const region = REGIONS[data.region] || {name: data.region};
    // a city's code names the city and the province it issues under, as the verdict does
    const issuedBy = data.issuer && data.issuer.parent_name ? `${data.issuer.name}（${data.issuer.parent_name}）` : region.name;
    const reasons = data.reasons.filter((x) => x !== "issuer_override" || data.status !== "green");
    const steps = data.status === "green" ? [] : W.next(data.reasons);
    const nextText = data.status === "green" ? "请向工作人员出示 · Show this to staff"
      : (steps.length ? steps : ["请向工作人员咨询 · Please ask staff"]).join("\n");
    const reasonText = data.status === "green" ? "" : `原因 Reason: ${reasons.map(W.reason).join("，") || "—"}`;
    show(data.status, {
      big: `${colourZh} ${colourEn}`, who: `${data.holder.name_masked}  ${data.holder.id_masked}`,
      valid: `有效至 valid until ${W.beijing(data.expires_at)}`, more: [issuedBy, reasonText].filter(Boolean).join("\n"),
      next: `${data.status === "green" ? "" : "下一步 Next: "}${nextText}`, png: data.png_b64,
      speech: `${colourZh}。${reasonText ? `原因：${reasons.map((x) => zh(W.reason(x)).split(" ")[0]).join("，")}。` : ""}` +
              `${nextText.split("\n").map((x) => zh(x)).join("。")}。`});
  } catch (err) {
    show("error", {big: "请找工作人员", more: "网络故障 · Network problem, please ask staff", speech: "网络故障，请找工作人员。"});
  }
}

$("go").addEventListener("click", lookUp);
$("idnum").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); lookUp(); } });
$("again").addEventListener("click", reset);
$("speak").addEventListener("click", () => say(spoken));
// A card reader types the number and Enter wherever the focus is: a new card while a result is
// showing starts the next person's lookup.
document.addEventListener("keydown", (e) => {
  if (e.target === $("idnum")) return;
  if (/^[0-9Xx]$/.test(e.key)) {
    if ($("result").dataset.status) reset();
    $("idnum").value += e.key;
    $("idnum").focus();
    e.preventDefault();
  } else if (e.key === "Enter" && !$("result").dataset.status) { lookUp(); }
});
