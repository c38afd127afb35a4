// Words people read on the pages (checkpoint, kiosk): one table each, Chinese first.
// Codes (reasons, error codes) stay machine words in the API; these turn them into plain text.
// An unknown reason or error (e.g. a CertLogic rule id) is shown as the text it came with.
"use strict";
const HCWords = (() => {
  const COLOURS = {green: ["绿码", "GREEN"], yellow: ["黄码", "YELLOW"], red: ["红码", "RED"]};
  const REASONS = {positive_test: "核酸阳性 positive test", close_contact: "密切接触 close contact",
    high_risk_travel: "高风险地区旅居 high-risk travel", medium_risk_travel: "中风险地区旅居 medium-risk travel",
    symptoms: "有症状 symptoms", no_recent_test: "未按时检测 no recent test", issuer_override: "发码方判定 issuer decision",
    transcoded: "转码 transcoded", negative_test: "检测阴性 negative test", vaccinated: "已接种 vaccinated",
    recovered: "已康复 recovered", no_valid_certificate: "无有效证明 no valid certificate"};
  // What the person should do next, by reason (kiosk, red and yellow).
  const NEXT = {positive_test: "请立即联系社区或拨打 12320，居家等候 · Call 12320 or your community now and stay home",
    close_contact: "请联系社区，按要求隔离检测 · Contact your community and follow isolation and testing advice",
    high_risk_travel: "请向社区报备行程并做核酸检测 · Report your travel to your community and get tested",
    medium_risk_travel: "请做核酸检测，结果阴性后码会更新 · Get tested; your code updates after a negative result",
    symptoms: "请到发热门诊就诊 · Please visit a fever clinic",
    no_recent_test: "请做核酸检测，结果出来后码会更新 · Get tested; your code updates when the result arrives",
    issuer_override: "请向发码地区咨询（12345） · Ask the issuing region (hotline 12345)",
    no_valid_certificate: "请出示有效的检测或接种证明 · Please show a valid test or vaccination certificate"};
  const ERRORS = {expired: "已过期（截图或旧码）expired — screenshot or old code",
    signature_invalid: "签名无效：伪造或被篡改 forged or altered", key_unknown: "签发方不在信任列表 unknown issuer",
    key_revoked: "签发密钥已吊销 issuer key revoked",
    delegation_invalid: "城市发码未获省级有效授权 city issuer not authorised by its province",
    delegation_withdrawn: "省级已撤回该城市的发码授权 the province withdrew this city's authority", code_revoked: "此码已作废 withdrawn by issuer",
    algorithm_not_allowed: "签名算法不被接受 algorithm not allowed", format_unknown: "无法识别的码 not a health code",
    not_yet_valid: "尚未生效 not yet valid", issuer_mismatch: "签发地区不符 issuer mismatch",
    image_unreadable: "图片中没有可读的二维码 no readable QR code", payload_empty: "没有读到内容 nothing was read",
    payload_too_large: "内容过大 too large", lifetime_exceeded: "有效期超出规定 lives longer than allowed",
    malformed: "码已损坏，无法读取 damaged code", schema_invalid: "内容不合规范 content breaks the standard",
    certificate_invalid: "签发证书已过期 signer certificate expired", key_usage_mismatch: "签发方无权签发此类证明 signer not entitled to this certificate type",
    context_unsupported: "不支持的版本 unsupported version", base45_invalid: "码已损坏 damaged code (Base45)",
    compression_invalid: "码已损坏 damaged code (zlib)", cose_invalid: "码结构错误 not a signed certificate (COSE)",
    cwt_invalid: "证明内容无法读取 certificate content unreadable (CWT)",
    offline_unsupported: "离线时无法核验境外证明或在线码，请联网后再试 foreign certificates and online codes need the network",
    trust_list_invalid: "本机的信任列表无效或过期，请联网刷新 trust list invalid or expired — reconnect",
    code_invalid: "码不可信 code not trustworthy", origin_unregistered: "在线码地址未登记 online code from an unregistered address",
    issuer_unavailable: "发码地区暂时无法查询，请稍后再试 issuing region not answering — try again later",
    status_unverifiable: "发码地区的答复无法核验 issuing region's answer could not be verified",
    code_unknown: "发码地区没有签发过此码 the issuing region never issued this code",
    rules_budget_exceeded: "入境规则过于复杂，无法核验 the entry rules took too much work to check",
    revocations_missing: "本机缺少撤销名单，无法核验境外证明 this verifier lacks the revocation lists for foreign certificates",
    network: "网关无法连接 gateway unreachable"};
  const CERTIFICATES = {vaccination: "疫苗接种证明 vaccination certificate", test: "检测证明 test certificate",
    recovery: "康复证明 recovery certificate", immunization: "疫苗接种证明 vaccination certificate",
    laboratory: "检测证明 test certificate"};
  const RELATIONS = {child: "子女 child", parent: "父母 parent", spouse: "配偶 spouse", ward: "监护 ward", other: "亲属 relative"};

  const reason = (r) => REASONS[r] || String(r);
  // An error in words, never its code: an unknown code reads as its message, else as words.
  const error = (e) => ERRORS[e.code] || e.message || String(e.code || "").replace(/_/g, " ");
  // "签名无效：伪造或被篡改 forged or altered" → ["签名无效：伪造或被篡改", "forged or altered"]
  const halves = (text) => { const m = /^([^A-Za-z]*?)\s*([A-Za-z].*)?$/s.exec(String(text)); return [m[1], m[2] || ""]; };
  // A format by the name people know it by ({name, name_en} from the gateway's adapters).
  const formatName = (formats, name) => {
    const f = (formats || {})[name];
    return !f ? String(name || "") : f.name === f.name_en ? f.name : `${f.name} ${f.name_en}`;
  };
  const next = (reasons) => [...new Set((reasons || []).map((r) => NEXT[r]).filter(Boolean))];

  // Every time people read is Beijing time, and says so (the API speaks UTC, "Z").
  const FORMAT = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false});
  function beijing(value) {
    const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(d.getTime())) return "";
    const p = Object.fromEntries(FORMAT.formatToParts(d).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} 北京时间`;
  }

  return {COLOURS, REASONS, NEXT, ERRORS, CERTIFICATES, RELATIONS, reason, error, halves, formatName, next, beijing};
})();
