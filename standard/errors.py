"""One exception hierarchy for the whole project.

Every failure a caller can see carries a stable machine-readable ``code`` (what scripts and
checkpoint apps switch on) and a human ``message`` (what staff read).  HTTP handlers and the CLI
turn these into JSON; nothing else should invent error codes.
"""
from __future__ import annotations


class HealthCodeError(Exception):
    """Base class: ``code`` is stable across releases, ``message`` may be reworded."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


# --- problems with the request itself (HTTP 4xx) ---------------------------------------------
class BadRequest(HealthCodeError):
    code = "bad_request"


class PayloadTooLarge(HealthCodeError):
    code = "payload_too_large"
    http_status = 413


class Unauthorized(HealthCodeError):
    code = "unauthorized"
    http_status = 401


class Forbidden(HealthCodeError):
    code = "forbidden"
    http_status = 403


class NotFound(HealthCodeError):
    code = "not_found"
    http_status = 404


class IdentityNotMatched(NotFound):
    """No resident matches this ID number (and name): an unknown person and a wrong name look
    the same."""
    code = "identity_not_matched"


class StatusOverrideRefused(Forbidden):
    """A colour other than the one the person's issuer decided was asked for by someone who may
    not decide it: only an issuer credential for the person's own region may override."""
    code = "status_override_refused"


class TrustListFull(HealthCodeError):
    """A change would push the signed trust list past the size every verifier accepts; nothing
    was stored."""
    code = "trust_list_full"
    http_status = 413


class RateLimited(HealthCodeError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 60):
        super().__init__(message)
        self.retry_after = retry_after        # seconds; sent as the Retry-After header


class UnknownRegion(HealthCodeError):
    code = "region_unknown"
    http_status = 404


class InvalidIdNumber(HealthCodeError):
    code = "id_number_invalid"


class TranscodeRefused(HealthCodeError):
    """Only a code that verifies can be transcoded."""

    code = "transcode_refused"
    http_status = 422


class UpstreamUnavailable(HealthCodeError):
    """A region's issuer could not be reached: we say so rather than guess a colour."""

    code = "issuer_unavailable"
    http_status = 503


class GatewayUnavailable(HealthCodeError):
    """Answered by the reverse proxy (deploy/nginx/locations.conf), never by a gateway: no
    gateway process answered.  A verification was already retried on the others; any other
    request may or may not have been carried out (the proxy does not repeat it)."""

    code = "gateway_unavailable"
    http_status = 503

class StoreUnavailable(HealthCodeError):
    """The data store cannot take this read or write now (a search cluster without a master,
    shards without a copy, a store that does not answer): try again after ``retry_after``
    seconds.  Nothing was half-written that the caller must undo.  Verification needs no store
    and keeps answering."""

    code = "store_unavailable"
    http_status = 503

    def __init__(self, message: str, *, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after        # seconds; sent as the Retry-After header


# --- problems with a code being verified (reported inside a verdict, HTTP 200) ---------------
class CodeError(HealthCodeError):
    """The code is not trustworthy; the verdict says why."""

    code = "code_invalid"


class EmptyPayload(CodeError):
    code = "payload_empty"


class CodeTooLarge(CodeError):
    code = "payload_too_large"


class UnknownFormat(CodeError):
    code = "format_unknown"


class Malformed(CodeError):
    code = "malformed"


class ContextUnsupported(Malformed):
    """A foreign code's context prefix (e.g. ``HC2:``) names a version this gateway does not read."""

    code = "context_unsupported"


class Base45Invalid(Malformed):
    code = "base45_invalid"


class CompressionInvalid(Malformed):
    code = "compression_invalid"


class CoseInvalid(Malformed):
    """Not a COSE_Sign1 structure (EU DCC): nothing can be verified."""

    code = "cose_invalid"


class CwtInvalid(Malformed):
    """The signed CWT payload or its health certificate claim cannot be decoded."""

    code = "cwt_invalid"


class ImageUnreadable(CodeError):
    code = "image_unreadable"


class SignatureInvalid(CodeError):
    code = "signature_invalid"


class UnknownKey(CodeError):
    code = "key_unknown"


class KeyRevoked(CodeError):
    code = "key_revoked"


class AlgorithmNotAllowed(CodeError):
    code = "algorithm_not_allowed"


class KeyUsageMismatch(CodeError):
    """A signer certificate is not entitled to sign this kind of certificate (EU DCC key usage)."""

    code = "key_usage_mismatch"


class CertificateInvalid(CodeError):
    """A trust anchor certificate is unusable: outside its validity, wrong key type, unparsable."""

    code = "certificate_invalid"


class IssuerMismatch(CodeError):
    code = "issuer_mismatch"


class Expired(CodeError):
    code = "expired"


class NotYetValid(CodeError):
    code = "not_yet_valid"


class LifetimeExceeded(CodeError):
    """exp − iat is longer than the standard (or the issuing region) allows for its kind."""

    code = "lifetime_exceeded"


class SchemaInvalid(CodeError):
    code = "schema_invalid"


class CodeRevoked(CodeError):
    code = "code_revoked"


class RevocationsMissing(CodeError):
    """The trust list names a revocation file (standard/revocation_file.py) this verifier does
    not hold: a foreign code is refused rather than verified without its revocation lists."""
    code = "revocations_missing"


# --- online codes (docs/standard.md §4.4): the colour is asked of the issuing region -----------
class OriginUnregistered(CodeError):
    """An online code points at an address its region did not register: refused before any
    request is made, so a QR cannot make a verifier fetch an arbitrary URL."""

    code = "origin_unregistered"


class IssuerUnreachable(CodeError):
    """The verdict form of ``issuer_unavailable``: the region's status interface is down, slow
    or failing, so there is no colour to show."""

    code = "issuer_unavailable"


class StatusUnverifiable(CodeError):
    """The region answered, but not with a status we can trust (unsigned, forged, another
    region's or another code's, garbage)."""

    code = "status_unverifiable"


class CodeUnknown(CodeError):
    """The issuing region says it never issued this online code id."""

    code = "code_unknown"


class DelegationInvalid(CodeError):
    """Signed by a city's key, but the city's trust-list entry carries no delegation from its
    province that verifies, names this city and province, is within its validity at the code's
    issue time and now, and covers the code's kind and holder's area (§7.1)."""
    code = "delegation_invalid"


class DelegationWithdrawn(CodeError):
    """Signed by a city's key while its province has withdrawn the city's delegation (§7.1).
    Raised, not reported in a verdict, when a withdrawn city is asked to issue: the request is
    sound but the city has no authority to issue now (HTTP 403; nothing issued)."""
    code = "delegation_withdrawn"
    http_status = 403


class CertLogicInvalid(BadRequest):
    """A CertLogic expression the specification does not allow, or a type mismatch found while
    evaluating it (adapters/eu_dcc/certlogic.py).  A business rule that raises this has failed."""

    code = "certlogic_invalid"


class CertLogicLimit(CertLogicInvalid):
    """A CertLogic expression too deep, too large or doing too much work to be evaluated."""

    code = "certlogic_limit"


class RulesBudgetExceeded(CodeError):
    """The business rules for one certificate, all evaluations together (the search for when a
    green ends included), did more CertLogic work than one verification may: the verdict fails
    closed instead of taking seconds or minutes."""

    code = "rules_budget_exceeded"


class RuleSetInvalid(BadRequest):
    """An imported business rule or value set does not follow the EU's rule format."""

    code = "rule_set_invalid"


# --- the command line and the machine it runs on (exit 2, one line) ---------------------------
class PathNotFound(BadRequest):
    """A file named on the command line, or the directory a command is to write into, does not
    exist."""

    code = "path_not_found"


class PathUnusable(BadRequest):
    """A path that exists but cannot be used: not readable or writable, a directory where a file
    belongs (or the reverse), an I/O error."""

    code = "path_unusable"


class FileInvalid(BadRequest):
    """A file is not what the command reads: binary where text belongs, not UTF-8, not JSON."""

    code = "file_invalid"


class PortInUse(HealthCodeError):
    """``healthcode serve``: something already answers on the address it was to listen on."""

    code = "port_in_use"


class ConfigInvalid(HealthCodeError):
    """The deployment's configuration contradicts the standard; found at start-up, never served."""

    code = "config_invalid"
    http_status = 500


class KeyCustodyUnavailable(HealthCodeError):
    """The key custody the configuration names cannot be used: the PKCS#11 module does not load,
    the token is not there, the PIN is missing or wrong, a key is not in the token.  Found at
    start-up (the gateway refuses to start); later (a token pulled out) nothing is signed."""

    code = "key_custody_unavailable"
    http_status = 503


class TrustListInvalid(HealthCodeError):
    code = "trust_list_invalid"
    http_status = 500


def undecodable_codes() -> frozenset:
    """Codes that say the input was not a readable code at all (junk, not a forgery attempt)."""
    found, todo = set(), [Malformed, EmptyPayload, CodeTooLarge, UnknownFormat, ImageUnreadable]
    while todo:
        cls = todo.pop()
        found.add(cls.code)
        todo.extend(cls.__subclasses__())
    return frozenset(found)
