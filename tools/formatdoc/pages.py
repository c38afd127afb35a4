"""Pages on disk: the worked example made once and read back, stale and orphan pages, writing."""
from __future__ import annotations

import hashlib
import importlib
import json
import re
from pathlib import Path
from typing import Callable, Sequence, Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

import adapters
from adapters.base import JwsClaimFormat
from adapters.contract import FormatAdapter
from adapters.online import OnlineFormat
from config.settings import Region
from standard import jose, sm2
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tools.formatdoc.sections import DOCS_DIR, Example, MARKER, _Signer, example_alg, example_claims, example_region, expected_header, generated_formats, render_page

# --- the example: one fixed key per format, so every regeneration writes the same page -------
EXAMPLE_KEY_SEED = b"healthcode format page example key: "


ExampleKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, sm2.PrivateKey]


def example_key(name: str, alg: str) -> ExampleKey:
    """The example signer of format ``name``: a key derived from the format's name (public on
    purpose — it signs nothing but the page), so its ``kid`` is the same on every run."""
    seed = hashlib.sha256(EXAMPLE_KEY_SEED + f"{name}/{alg}".encode()).digest()
    if alg == "ES256":
        return ec.derive_private_key(int.from_bytes(seed, "big") % (jose.P256_ORDER - 1) + 1, ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    if alg == sm2.NAME:
        return sm_ec.derive_private_key(int.from_bytes(seed, "big") % (sm2.ORDER - 1) + 1, sm_ec.SM2())
    raise ValueError(f"no fixed example key for {alg}")


def _deterministic(text: str, prefix: str, alg: str, key: ExampleKey) -> str:
    """``text`` with its signature made again deterministically: Ed25519 is so already; ES256
    is signed as RFC 6979 says (low-S, like every signature of this project); SM2SM3 with a
    nonce derived from the key and the signing input (:func:`_sm2_deterministic`)."""
    signing_input = text[len(prefix):].rsplit(".", 1)[0]
    if alg == sm2.NAME and sm2.is_key(key):
        return f"{prefix}{signing_input}.{jose.b64url_encode(_sm2_deterministic(signing_input.encode('ascii'), key))}"
    if alg != "ES256" or not isinstance(key, ec.EllipticCurvePrivateKey):
        return text
    r, s = utils.decode_dss_signature(
        key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    s = min(s, jose.P256_ORDER - s)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{prefix}{signing_input}.{jose.b64url_encode(raw)}"


def _sm2_deterministic(message: bytes, key: sm2.PrivateKey) -> bytes:
    """r ‖ s of SM2SM3 over ``message`` with the nonce SHA-256(key ‖ message) (mod n − 1, + 1).
    Tongsuo draws its own nonce, so this one signature (the page's, by a public key) is made
    by gmssl, which takes the nonce as an argument; the page's test verifies it with Tongsuo."""
    from gmssl import sm2 as gmssl_sm2          # test-only dependency (pyproject [test])
    d = key.private_numbers().private_value
    numbers = key.public_key().public_numbers()
    nonce = int.from_bytes(hashlib.sha256(d.to_bytes(32, "big") + message).digest(), "big") % (sm2.ORDER - 1) + 1
    signer = gmssl_sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
    signer.public_key = f"{numbers.x:064x}{numbers.y:064x}"     # set as is: its constructor strips "04"s
    return bytes.fromhex(signer.sign_with_sm3(message, f"{nonce:064x}"))


def make_example(fmt: JwsClaimFormat, regions: Sequence[Region]) -> Example:
    """The example code of the format's first registered algorithm, signed by its fixed key:
    the same text and key on every run."""
    region = example_region(fmt.name, regions)
    alg = example_alg(fmt.name, regions)
    key = example_key(fmt.name, alg)
    jwk = jose.public_jwk(key)
    jwk = {**jwk, "kid": jose.short_kid(jwk), "alg": alg}
    text = fmt.encode(example_claims(region.code), _Signer(alg, jwk["kid"], key))
    return Example(_deterministic(text, fmt.prefix, alg, key), jwk)


_BLOCK = r"### {title}\n.*?```{lang}\n(.*?)\n```"


def parse_example(page: str, title: str = "QR text") -> Example:
    """The example a page carries (its signed text under ``title``, and its key); ValueError
    if it has none."""
    text = re.search(_BLOCK.format(title=re.escape(title), lang="text"), page, re.S)
    key = re.search(_BLOCK.format(title="Example key", lang="json"), page, re.S)
    if not text or not key:
        raise ValueError("page has no worked example")
    try:
        return Example(text.group(1).strip(), json.loads(key.group(1)))
    except ValueError:
        raise ValueError("the example key is not JSON") from None


def example_is_current(fmt: JwsClaimFormat, regions: Sequence[Region], example: Example) -> bool:
    """Does the example still say what the table says — the header and payload this format
    writes today for the example claims — and does its signature verify under its key?"""
    try:
        region = example_region(fmt.name, regions)
        if not fmt.detect(example.qr_text) or example.alg != example_alg(fmt.name, regions):
            return False
        parsed = jose.parse(example.qr_text[len(fmt.prefix):])
        key = jose.public_key_from_jwk(example.jwk)
        jose.check_signature(parsed, key, {example.alg})
        return (parsed.header == expected_header(fmt, example)
                and jose.json_payload(parsed) == fmt.to_native(example_claims(region.code)))
    except Exception:       # noqa: BLE001 — anything unreadable is simply not current
        return False


# --- pages on disk ---------------------------------------------------------------------------
def format_summary(name: str) -> str:
    """The format module's docstring: its own one-line description of the format."""
    return importlib.import_module(f"adapters.{name}").__doc__ or ""


def page_path(directory: Path, name: str) -> Path:
    return Path(directory) / f"{name}.md"


def current_page(name: str, regions: Sequence[Region], directory: Path) -> str | None:
    """The committed page of ``name`` if it carries the format's fixed example and is exactly
    what the generator makes of it, else None."""
    path = page_path(directory, name)
    if not path.is_file():
        return None
    page = path.read_text(encoding="utf-8")
    fmt = adapters.get(name)
    table, render, title = page_kind(fmt)
    try:
        example = parse_example(page, title)
    except ValueError:
        return None
    if example != make_example(table, regions) or not example_is_current(table, regions, example):
        return None
    return page if render(fmt, regions, example, format_summary(name)) == page else None


def page_kind(fmt: FormatAdapter) -> tuple[JwsClaimFormat, Callable[..., str], str]:
    """(the signed table, the page renderer, the example's title) of a format: an online
    format's signed part is its status answer, and its page says how to ask for one."""
    if isinstance(fmt, OnlineFormat):
        from tools.formatdoc import online as onlinedoc
        return fmt.answer, onlinedoc.render_online_page, onlinedoc.EXAMPLE_TITLE
    if isinstance(fmt, JwsClaimFormat):
        return fmt, render_page, "QR text"
    raise TypeError(f"format {fmt.name} is neither a claim table nor an online format: no page is generated for it")


def orphan_pages(regions: Sequence[Region], directory: Path) -> list[Path]:
    """Generated pages of formats that no configured region uses."""
    wanted = {page_path(directory, n).name for n in generated_formats(regions)}
    return sorted(p for p in Path(directory).glob("*.md")
                  if p.name not in wanted and p.read_text(encoding="utf-8").startswith(MARKER))


def stale_pages(regions: Sequence[Region], directory: Path = DOCS_DIR) -> list[str]:
    """File names of pages that are missing, differ from their regeneration, or are orphans."""
    stale = [page_path(directory, n).name for n in generated_formats(regions)
             if current_page(n, regions, directory) is None]
    return stale + [p.name for p in orphan_pages(regions, directory)]


def write_pages(regions: Sequence[Region], directory: Path = DOCS_DIR) -> list[str]:
    """Rewrite stale pages (with the format's fixed example) and remove orphans; a current page
    is left as it is.  Returns what it did."""
    done = []
    Path(directory).mkdir(parents=True, exist_ok=True)
    for name in generated_formats(regions):
        if current_page(name, regions, directory) is not None:
            continue
        fmt = adapters.get(name)
        table, render, _ = page_kind(fmt)
        page = render(fmt, regions, make_example(table, regions), format_summary(name))
        page_path(directory, name).write_text(page, encoding="utf-8")
        done.append(f"wrote {page_path(directory, name)}")
    for orphan in orphan_pages(regions, directory):
        orphan.unlink()
        done.append(f"removed {orphan} (no configured region uses its format)")
    return done

