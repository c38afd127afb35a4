"""The page of the online code format (docs/formats/online.md), generated like the others.

An online code's QR is a URL, so the page says how to read it, whom to ask and what the answers
mean; its signed part — the status answer — is a claim table like any format's, rendered by
:mod:`tools.formatdoc`'s sections, with a worked example (a signed answer and its key) that
``tests/test_format_docs.py`` checks as it checks every page.  Pure functions of the format,
``config/regions.toml``, the standard and the client's defaults.
"""
from __future__ import annotations

import json
from typing import Sequence

from config.settings import Region

from tools.formatdoc import sections as doc
from adapters import online, status_client
import standard
from standard import jose

EXAMPLE_TITLE = "Status answer"


def render_online_overview(fmt: online.OnlineFormat, issuers: Sequence[Region], algorithms: Sequence[str],
                           summary: str) -> str:
    rows = [
        ("QR text", f"`<status_url>{fmt.path}<region>/<code id>`: a URL, no claims"),
        ("offered by", ", ".join(doc._region_label(r) for r in issuers)),
        ("status answer", f"`GET <status_url>{fmt.path}<region>/<code id>` → `{{\"jws\": …}}`, "
                          f"a compact JWS with `typ` `{fmt.answer.typ}`"),
        ("JWS `alg`", ", ".join(f"`{a}`" for a in algorithms)),
        ("`iat`, `exp`", f"{doc.TIME_NOTES[fmt.answer.time][0]}, {fmt.answer.time}"),
    ]
    return "\n\n".join([
        f"{doc.MARKER} from adapters/{fmt.name}.py, adapters/status_client.py, config/regions.toml "
        "and docs/standard; edit those, not this page. -->",
        f"# `{fmt.name}` — online health codes: the region's status URL and a code id",
        doc.render_summary(summary),
        doc._table(("", ""), rows),
    ])


def render_online_issuers(fmt: online.OnlineFormat, issuers: Sequence[Region]) -> str:
    rows = [(r.code, r.name, r.name_en, f"`{r.online_url}`", ", ".join(f"`{a}`" for a in r.algorithms))
            for r in issuers]
    return "\n\n".join([
        "## Who offers it",
        "Regions configured with an `online_url` in `config/regions.toml`, beside their signed "
        "format (the address below is the demo's; a deployment names its own):",
        doc._table(("region", "name", "", "status interface (`online_url`)", "registered `alg`"), rows),
        "On the national trust list ([standard](../standard.md) §7) their entries carry "
        f"`\"online\": {{\"format\": \"{fmt.name}\", \"status_url\": …}}`: the only address a "
        "verifier asks about that region's online codes.",
    ])


def render_qr(fmt: online.OnlineFormat) -> str:
    return "\n\n".join([
        "## The QR",
        f"`<status_url>{fmt.path}<region>/<code id>`, at most {online.MAX_URL_CHARS} characters: "
        "`<status_url>` an `http` or `https` origin with an optional path, no user name or "
        "password; `<region>` six digits; `<code id>` the code's `jti`, 8–64 characters of "
        "`[A-Za-z0-9_-]` (this deployment's are 96 random bits). No query and no fragment. "
        "Anything else is refused as `malformed`.",
        "**Only the registered address is asked.** The verifier looks up `<region>`'s "
        "`status_url` on the signed trust list and refuses the code (`origin_unregistered`) "
        "before making any request unless the QR names that same scheme, host, port and path; "
        "it builds the request from the registered address, never from the QR, follows no "
        "redirect, and uses no proxy or credentials from its environment.",
    ])


def render_asking() -> str:
    c = status_client
    rows = [
        (f"200, JSON `{{\"jws\": \"<compact JWS>\"}}`, at most {c.MAX_ANSWER_BYTES} bytes",
         "the answer is checked (below)"),
        ("404 `{\"error\": {\"code\": \"not_found\"}}`", "`code_unknown`"),
        ("410 `{\"error\": {\"code\": \"code_revoked\"}}`", "`code_revoked`"),
        ("connection refused, no answer in time, HTTP 5xx or 429", "`issuer_unavailable`"),
        ("anything else: another status or a redirect, not JSON, no `jws`, too large",
         "`status_unverifiable`"),
    ]
    return "\n\n".join([
        "## Asking the region",
        f"`GET` with a {c.CONNECT_TIMEOUT:g} s connect and {c.READ_TIMEOUT:g} s read timeout; "
        f"connection failures and HTTP 502–504 are retried {c.RETRIES} times, a slow answer is "
        f"not; a region that failed to answer is not asked again for {c.DOWN_SECONDS:g} s (its "
        "codes get `issuer_unavailable` at once). A good answer may be kept {c.CACHE_SECONDS:g} s (at most {c.CACHE_ENTRIES} "
        "answers) and is verified again at every scan. Defaults; `[format.online]` in the "
        "configuration changes them.",
        doc._table(("the region answers", "verdict"), rows),
        "Every failure is a verdict error with `valid: false` and no colour.",
    ])


def render_answer_checks(fmt: online.OnlineFormat) -> str:
    return "\n\n".join([
        "## The status answer",
        f"A compact JWS (RFC 7515) signed by the region's key, `typ` `{fmt.answer.typ}`, whose "
        "payload is the national claims of [standard](../standard.md) §3 under their national "
        "names, with `jti` = the code id. It is checked as any code: `kid` on the trust list, "
        "the algorithm the region registered, `typ`, the claims schema, `region` = the signer's "
        "region and a region that registered online codes, key status, lifetime caps, validity, "
        "revocation. An answer that is unsigned, forged, signed by another key or region, or "
        "about another code (its `jti` or `region` not those of the URL) is "
        "`status_unverifiable`; `expired`, `key_revoked`, `lifetime_exceeded` and "
        "`code_revoked` keep their own codes. The verdict is then the one the region's signed "
        f"code would give, with `format: \"{fmt.name}\"`.",
        "The sections below describe the answer as the other format pages describe a code. "
        "Where they name a refusal `malformed`, `signature_invalid`, `key_unknown`, "
        "`algorithm_not_allowed`, `issuer_mismatch` or `schema_invalid`, an answer is refused "
        "as `status_unverifiable`, its message naming that code.",
    ])


def render_online_example(fmt: online.OnlineFormat, region: Region, example: doc.Example) -> str:
    claims = doc.example_claims(region.code)
    url = fmt.status_url(region.online_url, region.code, claims["jti"])
    header_b64 = example.qr_text.split(".")[0]
    return "\n\n".join([
        "## Worked example",
        f"Offered by {doc._region_label(region)}, answer signed with `{example.alg}` by a "
        "key made for this page only, derived from the format's name (its public JWK is below); "
        "regenerating the page gives the same example, byte for byte.",
        "### National claims",
        doc._fenced("json", json.dumps(claims, ensure_ascii=False, indent=2)),
        f"### QR text\n\n{len(url)} characters; QR byte mode, error correction M:",
        doc._fenced("text", url),
        f"### {EXAMPLE_TITLE}\n\n`GET {url}` answers `{{\"jws\": …}}` with this JWS "
        f"({len(example.qr_text)} characters):",
        doc._fenced("text", example.qr_text),
        f"### Protected header\n\n{len(header_b64)} base64url characters, decoding to:",
        doc._fenced("json", jose.b64url_decode(header_b64).decode("utf-8")),
        "### Example key",
        "Public JWK of the example signer, with the `kid` and `alg` it would have on the trust list:",
        doc._fenced("json", json.dumps(example.jwk, indent=2)),
    ])


def render_online_page(fmt: online.OnlineFormat, regions: Sequence[Region], example: doc.Example,
                       summary: str = "") -> str:
    schema = standard.load_schema("code-claims.schema.json")
    issuers = doc.regions_using(fmt.name, regions)
    algorithms = doc.algorithms_of(issuers)
    sections = [
        render_online_overview(fmt, issuers, algorithms, summary),
        render_online_issuers(fmt, issuers),
        render_qr(fmt),
        render_asking(),
        render_answer_checks(fmt),
        doc.render_header(fmt.answer, algorithms),
        doc.render_times(fmt.answer),
        doc.render_claims(fmt.answer, schema),
        doc.render_values(fmt.answer, schema),
        doc.render_optional(fmt.answer, schema),
        render_online_example(fmt, doc.example_region(fmt.name, regions), example),
    ]
    return "\n\n".join(sections) + "\n"
