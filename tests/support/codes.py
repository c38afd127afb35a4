"""Codes for the test residents (tests/residents.py), and reading codes back: a verdict's error
code, the high-S twin of a signature, the QR codes of a printed PDF as a phone reads them."""
from __future__ import annotations

import io

from adapters import qr
from issuers import make_person
from residents import RESIDENTS
from standard import jose


def issue(service, region="440000", **kw):
    """A code for ``region``'s test resident, issued by ``service``."""
    id_number, name, id_type = RESIDENTS[region]
    return service.issuing.issue(region, make_person(id_number, name, id_type), **kw)


def error_code(verdict) -> str:
    assert not verdict.valid and verdict.status is None and verdict.holder is None
    return verdict.errors[0]["code"]


def high_s_twin(token: str) -> str:
    head, body, sig = token.split(".")
    raw = jose.b64url_decode(sig)
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{body}.{jose.b64url_encode(raw[:32] + (jose.P256_ORDER - s).to_bytes(32, 'big'))}"


def pdf_qr_texts(pdf_path, tmp_path, dpi: int = 150) -> list[list[str]]:
    """Render every page at ``dpi`` with PDFium (pypdfium2) and read the QR codes back, as a
    phone camera would read a printout."""
    import pypdfium2
    pdf = pypdfium2.PdfDocument(str(pdf_path))
    out = []
    for page in pdf:
        buffer = io.BytesIO()
        page.render(scale=dpi / 72).to_pil().save(buffer, format="PNG")
        out.append(sorted(qr.decode_image(buffer.getvalue())))
    pdf.close()
    return out
