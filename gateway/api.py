"""Public API: verify, batch verify, trust list, regions, health."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

import standard
from config.settings import MAX_BATCH_ITEMS
from standard.errors import BadRequest, CodeError, HealthCodeError, NotFound, PayloadTooLarge
from adapters import qr
from adapters.verifier import ImageVerdicts, Verdict
from gateway.version import __version__
from gateway.batch import Job, dump_answer
from gateway.limits import verification_caller
from gateway.common import check_body, decode_image_b64, json_body, optional_str, principal, service

bp = Blueprint("api", __name__)


def _verify_item(item: dict, place, device):
    """A Verdict for a payload; for an image, ImageVerdicts (every code in it: ``codes``, ``found``)."""
    svc = service()
    if "image_b64" in item:
        try:
            image = decode_image_b64(item["image_b64"])
        except CodeError as exc:
            return ImageVerdicts([svc.verification.record(Verdict.failed(exc), place, device)], 0)
        beyond_first = _image_weight(image) - IMAGE_WEIGHT      # the first megapixel is paid for already
        if beyond_first:
            _charge(beyond_first)
        return svc.verification.verify_image_codes(image, place=place, device=device)
    if "payload" not in item:
        raise BadRequest("give payload (the QR text) or image_b64")
    return svc.verification.verify(item["payload"], place=place, device=device)


IMAGE_WEIGHT = 10       # a megapixel of image costs up to ~0.25 s of CPU to search for codes, a text ~1 ms


def _weight(items) -> int:
    """What a request costs against the per-client limit before any image is read: an image
    counts as IMAGE_WEIGHT items, each further megapixel it decodes as IMAGE_WEIGHT more once its
    header is read (:func:`_image_weight`).  Counting images as one each let one anonymous client,
    inside its 600 a minute, keep two cores busy decoding 16 MP images of 700 bytes each."""
    return max(1, sum(IMAGE_WEIGHT if isinstance(i, dict) and "image_b64" in i else 1 for i in items))


def _image_weight(image: bytes) -> int:
    """IMAGE_WEIGHT per started megapixel the image decodes (at least one): a 16 MP PNG of
    thousands of tiny QR codes held zxing-cpp for 3.7 s, and at 10 items an image one client
    could keep two cores searching.  An image refused before decoding weighs IMAGE_WEIGHT."""
    return IMAGE_WEIGHT * max(1, -(-qr.decoding_pixels(image) // 1_000_000))


def _charge(items: int) -> None:
    """Verification is limited per client (:func:`gateway.limits.verification_caller`)."""
    svc = service()
    svc.verification.charge(verification_caller(svc.credentials, request.headers.get("Authorization", ""),
                                                request.remote_addr or ""), items)


@bp.post("/v1/verify")
def verify():
    _charge(_weight([request.get_json(silent=True)]))
    body = json_body("VerifyRequest")
    verdict = _verify_item(body, optional_str(body, "place"), optional_str(body, "device"))
    return jsonify(verdict.as_dict())


@bp.post("/v1/verify/batch")
def verify_batch():
    raw = request.get_json(silent=True)
    if isinstance(raw, dict) and isinstance(raw.get("items"), list) and len(raw["items"]) > MAX_BATCH_ITEMS:
        raise PayloadTooLarge(f"at most {MAX_BATCH_ITEMS} items per batch")
    _charge(_weight(raw["items"]) if isinstance(raw, dict) and isinstance(raw.get("items"), list) else 1)
    body = json_body("BatchRequest")
    items = body["items"]
    place, device = optional_str(body, "place"), optional_str(body, "device")
    answers = service().verification.answer_batch("items", items, lambda item: _batch_job(item, place, device),
                                                  dump_answer, place=place, device=device)
    # every answer is finished bytes (most from the pool processes): joined, not encoded again
    return current_app.response_class(b'{"results":[' + b",".join(answers) + b"]}\n", mimetype="application/json")


def _batch_job(item: dict, place, device) -> tuple[dict, object]:
    """A batch item → (its id, a ``Job`` for ``verify_many``) or, if it cannot be one, (its id, its
    verdict now): one bad item must not sink the other 499."""
    fields = {"id": item["id"]} if isinstance(item, dict) and "id" in item else {}
    try:
        check_body(item, "VerifyRequest")
        if "image_b64" in item:
            return fields, _verify_item(item, place, device)         # every code in the image, here
        if "payload" not in item:
            raise BadRequest("give payload (the QR text) or image_b64")
        return fields, Job(text=item["payload"])
    except HealthCodeError as exc:
        return fields, Verdict.failed(exc)


@bp.get("/v1/trust-list")
def trust_list():
    svc = service()
    trust = svc.trust.trust_list()
    etag = str(trust.seq)
    if request.if_none_match.contains(etag):
        return "", 304
    response = jsonify(jws=svc.trust.trust_list_jws(), seq=trust.seq,
                       expires_at=standard.rfc3339(trust.expires), trust_list=trust.payload)
    response.set_etag(etag)
    response.cache_control.max_age = 60
    return response


@bp.get("/v1/trust-list/revocations")
def trust_list_revocations():
    """The revocation file the current trust list names by SHA-256 (standard/revocation_file.py);
    ETag = that hash, so a verifier downloads it again only when it changed."""
    held = service().trust.revocation_file_held()
    if held is None:
        raise NotFound("the current trust list names no revocation file")
    if request.if_none_match.contains(held.sha256):
        return "", 304
    response = current_app.response_class(held.data, mimetype="application/json")
    response.set_etag(held.sha256)
    response.cache_control.max_age = 60
    return response


@bp.get("/v1/trust-list/national-keys")
def national_keys():
    """Bootstrap only: verifiers should pin these keys out of band, not fetch them each time."""
    return jsonify(service().trust.national_jwks())


@bp.get("/v1/regions")
def regions():
    return jsonify([r.as_public() for r in service().settings.regions])


@bp.get("/healthz")
def healthz():
    svc = service()
    svc.store.ping()               # proves the store answers, in constant time
    return jsonify(status="ok", version=__version__(), standard=standard.STANDARD_VERSION,
                   regions=len(svc.settings.regions), trust_list_seq=svc.trust.trust_list().seq)


@bp.get("/metrics")
def metrics_endpoint():
    """Operations figures, no personal data — still only for operations staff (and their
    Prometheus, with its own operator credential): counts of refusals tell an attacker too much."""
    principal("operator", "data_manager")
    from gateway import metrics
    return metrics.exposition(), 200, {"Content-Type": "text/plain; version=0.0.4"}
