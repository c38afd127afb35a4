"""Signing keys held in a PKCS#11 token (an HSM, a smart card; SoftHSM2 in the tests), through
python-pkcs11.

Every key is generated inside the token (C_GenerateKeyPair) as a token object, private,
sensitive and not extractable: no call can read it out (reading CKA_VALUE fails with
CKR_ATTRIBUTE_SENSITIVE), and signing happens in the token.  Both halves are labelled (CKA_LABEL
and CKA_ID) by the key's kid, the short JWK thumbprint of its public key, which is read back from
the token and checked against the label each time a key is loaded.

- ES256: a P-256 key pair (CKM_EC_KEY_PAIR_GEN); CKM_ECDSA signs the SHA-256 digest and gives
  r‖s, which is the JWS signature (brought to low-S by standard.jose like every ES256 signature).
- EdDSA: an Ed25519 key pair (CKM_EC_EDWARDS_KEY_PAIR_GEN); CKM_EDDSA signs the message.
- Nothing else: SM2 and RSA-PSS keys stay in key files (:data:`ALGORITHMS`, which the
  configuration checks as config.settings.TOKEN_ALGORITHMS).

One logged-in session per process, opened on first use (again after a fork, and after the token
failed), used under a lock.  Every failure is a :class:`KeyCustodyUnavailable` with one line
saying what is wrong — never the PIN.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import encode_named_curve_parameters

from standard import jose
from standard.errors import KeyCustodyUnavailable, Malformed

MAX_PIN_BYTES = 256
_CURVES = {"ES256": (KeyType.EC, "secp256r1", Mechanism.EC_KEY_PAIR_GEN),
           "EdDSA": (KeyType.EC_EDWARDS, "1.3.101.112", Mechanism.EC_EDWARDS_KEY_PAIR_GEN)}
_SIGN = {"ES256": Mechanism.ECDSA, "EdDSA": Mechanism.EDDSA}
ALGORITHMS = tuple(_SIGN)
# the session is gone, not the key: the library was initialised again, the token taken out
_SESSION_LOST = (pkcs11.exceptions.SessionHandleInvalid, pkcs11.exceptions.SessionClosed,
                 pkcs11.exceptions.DeviceRemoved, pkcs11.exceptions.TokenNotPresent,
                 pkcs11.exceptions.UserNotLoggedIn, pkcs11.exceptions.ObjectHandleInvalid,
                 pkcs11.exceptions.KeyHandleInvalid)
_PRIVATE_TEMPLATE = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                     Attribute.EXTRACTABLE: False, Attribute.SIGN: True, Attribute.MODIFIABLE: True}
_PUBLIC_TEMPLATE = {Attribute.TOKEN: True, Attribute.VERIFY: True, Attribute.MODIFIABLE: True}


_LIBRARY_PIDS: dict[str, int] = {}                 # module → the process that initialised it


def _library(module: str) -> Any:
    """The loaded module, initialised in this process: python-pkcs11 keeps one per path, and a
    process forked after loading it (gunicorn workers after `serve --demo` seeded keys) must
    initialise it again before use (PKCS#11 §6.7.7)."""
    lib = pkcs11.lib(module)
    pid = os.getpid()
    if _LIBRARY_PIDS.setdefault(module, pid) != pid:
        lib.reinitialize()
        _LIBRARY_PIDS[module] = pid
    return lib


class TokenKey(jose.HeldKey):
    """A key in the token: its public key, and signing by the token."""

    def __init__(self, custody: "TokenCustody", kid: str, alg: str, public: jose.PublicKey):
        self.custody, self.kid, self.alg, self._public = custody, kid, alg, public

    def public_key(self) -> jose.PublicKey:
        return self._public

    def sign_raw(self, message: bytes) -> bytes:
        return self.custody.sign(self.kid, self.alg, message)

    def __repr__(self) -> str:
        return f"TokenKey({self.kid!r}, {self.alg!r})"


def public_key_from_point(alg: str, ec_point: bytes) -> jose.PublicKey:
    """The public key from CKA_EC_POINT — the point as a DER OCTET STRING (PKCS#11 2.40), or bare
    (some tokens) — imported by PyJWT as a JWK, checked like every JWK the project reads."""
    size = 65 if alg == "ES256" else 32
    if len(ec_point) == size + 2 and ec_point[0] == 0x04 and ec_point[1] == size:
        ec_point = ec_point[2:]
    if len(ec_point) != size or (alg == "ES256" and ec_point[0] != 0x04):
        raise ValueError("not a public key of this algorithm")
    if alg == "ES256":
        jwk = {"kty": "EC", "crv": "P-256", "x": jose.b64url_encode(ec_point[1:33]),
               "y": jose.b64url_encode(ec_point[33:])}
    else:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": jose.b64url_encode(ec_point)}
    try:
        key = jose.public_key_from_jwk(jwk)
    except Malformed:
        raise ValueError("not a public key of this algorithm") from None
    if not jose.key_fits(alg, key):
        raise ValueError("not a public key of this algorithm")
    return key


class TokenCustody:
    """The token labelled ``token_label`` in the PKCS#11 library ``module``, logged in with the
    user PIN read from the environment variable ``pin_env`` or the file ``pin_file`` (exactly
    one), holding the keys of ``owners`` (empty: every owner)."""
    kind: str = "pkcs11"
    algorithms: tuple[str, ...] = ALGORITHMS

    def __init__(self, module: str, token_label: str, pin_env: str = "", pin_file: str = "",
                 owners: tuple[str, ...] = ()):
        self.module, self.token_label, self.pin_env, self.pin_file = module, token_label, pin_env, pin_file
        self.owners = tuple(owners)
        self._lock = threading.RLock()
        self._session: Any = None
        self._pid: int | None = None
        self._private: dict[str, Any] = {}           # kid → private key object of the open session
        self._public: dict[str, jose.PublicKey] = {}  # kid → public key (never changes)
        self._refused_pin: str | None = None          # never offered again: a token locks its PIN

    def holds(self, owner: str) -> bool:
        return not self.owners or owner in self.owners

    # -- the session --------------------------------------------------------------------------
    def _where(self) -> str:
        return f"PKCS#11 token {self.token_label[:64]!r}"

    def _pin(self) -> str:
        if self.pin_env:
            pin = os.environ.get(self.pin_env, "")
            if not pin:
                raise KeyCustodyUnavailable(f"the {self._where()}'s PIN is not set: environment variable "
                                            f"{self.pin_env[:64]} is empty or missing")
            return pin
        path = Path(self.pin_file)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_PIN_BYTES + 1)
        except OSError as exc:
            raise KeyCustodyUnavailable(f"cannot read the {self._where()}'s PIN file {str(path)[:200]}: "
                                        f"{exc.strerror or exc.__class__.__name__}") from None
        try:
            pin = raw.decode("utf-8").strip("\r\n")
        except UnicodeDecodeError:
            pin = ""
        if not pin or len(raw) > MAX_PIN_BYTES:
            raise KeyCustodyUnavailable(f"the {self._where()}'s PIN file {str(path)[:200]} holds no PIN "
                                        f"(one line of UTF-8 text, at most {MAX_PIN_BYTES} bytes)")
        return pin

    def _open(self) -> Any:
        """The logged-in session (under the lock)."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        self._session, self._private = None, {}
        module = self.module
        if not Path(module).is_file():
            raise KeyCustodyUnavailable(f"the PKCS#11 module {module[:200]} does not exist")
        pin = self._pin()
        if pin == self._refused_pin:
            raise KeyCustodyUnavailable(f"the {self._where()} refused the PIN (wrong PIN); "
                                        "it is not offered again until it changes")
        try:
            token = _library(module).get_token(token_label=self.token_label)
            try:
                session = token.open(rw=True, user_pin=pin)
            except pkcs11.exceptions.UserAlreadyLoggedIn:
                # PKCS#11 logs in the whole process: another custody of this process opened it
                session = token.open(rw=True)
        except pkcs11.exceptions.NoSuchToken:
            raise KeyCustodyUnavailable(f"no {self._where()} in the module {module[:200]}") from None
        except pkcs11.exceptions.MultipleTokensReturned:
            raise KeyCustodyUnavailable(f"more than one {self._where()} in the module {module[:200]}") from None
        except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange):
            self._refused_pin = pin
            raise KeyCustodyUnavailable(f"the {self._where()} refused the PIN (wrong PIN)") from None
        except pkcs11.exceptions.PinLocked:
            raise KeyCustodyUnavailable(f"the {self._where()}'s PIN is locked (too many wrong PINs)") from None
        except pkcs11.exceptions.PKCS11Error as exc:
            raise KeyCustodyUnavailable(self._failure("cannot be opened", exc)) from None
        self._session, self._pid = session, os.getpid()
        return session

    def _failure(self, what: str, exc: Exception) -> str:
        detail = str(exc).splitlines()[0][:200] if str(exc) else exc.__class__.__name__
        return f"the {self._where()} {what}: {detail}"

    def _drop(self) -> None:
        """Forget the session after a failure: the next use opens a new one (a token put back)."""
        session, self._session, self._private = self._session, None, {}
        if session is not None and self._pid == os.getpid():
            try:
                session.close()
            except pkcs11.exceptions.PKCS11Error:
                pass

    def check(self) -> None:
        with self._lock:
            self._open()

    # -- keys ---------------------------------------------------------------------------------
    def _find(self, session: Any, cls: ObjectClass, kid: str) -> Any:
        found = list(session.get_objects({Attribute.CLASS: cls, Attribute.LABEL: kid}))
        if len(found) != 1:
            raise KeyCustodyUnavailable(f"the {self._where()} holds {len(found)} {cls.name.lower().replace('_', ' ')}"
                                        f" objects labelled {kid[:40]!r}, not one")
        return found[0]

    def generate(self, owner: str, alg: str) -> tuple[str, object]:
        if alg not in _CURVES:
            raise KeyCustodyUnavailable(f"a PKCS#11 token holds {', '.join(ALGORITHMS)} keys, not {alg[:20]}")
        key_type, curve, mechanism = _CURVES[alg]
        pending = "healthcode-pending-" + os.urandom(8).hex()
        with self._lock:
            session = self._open()
            try:
                params = session.create_domain_parameters(
                    key_type, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True)
                public_obj, private_obj = params.generate_keypair(
                    store=True, label=pending, mechanism=mechanism,
                    public_template=_PUBLIC_TEMPLATE, private_template=_PRIVATE_TEMPLATE)
                public = public_key_from_point(alg, bytes(public_obj[Attribute.EC_POINT]))
                kid = jose.short_kid(jose.public_jwk(public))
                for obj in (public_obj, private_obj):
                    obj[Attribute.LABEL] = kid
                    obj[Attribute.ID] = kid.encode("ascii")
            except pkcs11.exceptions.PKCS11Error as exc:
                self._drop()
                raise KeyCustodyUnavailable(self._failure(f"could not generate an {alg} key", exc)) from None
            self._public[kid] = public
            self._private[kid] = private_obj
        return kid, TokenKey(self, kid, alg, public)

    def _public_key(self, session: Any, kid: str, alg: str) -> jose.PublicKey:
        public = self._public.get(kid)
        if public is None:
            point = bytes(self._find(session, ObjectClass.PUBLIC_KEY, kid)[Attribute.EC_POINT])
            try:
                public = public_key_from_point(alg, point)
            except ValueError:
                raise KeyCustodyUnavailable(f"key {kid[:40]} in the {self._where()} is not an {alg} key") from None
            if jose.short_kid(jose.public_jwk(public)) != kid:
                raise KeyCustodyUnavailable(f"the public key labelled {kid[:40]!r} in the {self._where()} "
                                            "is another key (its thumbprint differs from its label)")
            self._public[kid] = public
        return public

    def signing_key(self, owner: str, kid: str, alg: str) -> object:
        if alg not in _SIGN:
            raise KeyCustodyUnavailable(f"a PKCS#11 token holds {', '.join(ALGORITHMS)} keys, not {alg[:20]}")
        with self._lock:
            session = self._open()
            try:
                public = self._public_key(session, kid, alg)
                self._private_key(session, kid)
            except pkcs11.exceptions.PKCS11Error as exc:
                self._drop()
                raise KeyCustodyUnavailable(self._failure(f"could not load key {kid[:40]}", exc)) from None
        return TokenKey(self, kid, alg, public)

    def _private_key(self, session: Any, kid: str) -> Any:
        obj = self._private.get(kid)
        if obj is None:
            obj = self._private[kid] = self._find(session, ObjectClass.PRIVATE_KEY, kid)
        return obj

    def public_jwk(self, owner: str, kid: str) -> dict:
        """From the token; cached for the process (a key's public half never changes)."""
        public = self._public.get(kid)
        if public is None:
            with self._lock:
                session = self._open()
                try:
                    obj = self._find(session, ObjectClass.PUBLIC_KEY, kid)
                    alg = "EdDSA" if obj[Attribute.KEY_TYPE] == KeyType.EC_EDWARDS else "ES256"
                    public = self._public_key(session, kid, alg)
                except pkcs11.exceptions.PKCS11Error as exc:
                    self._drop()
                    raise KeyCustodyUnavailable(self._failure(f"could not read key {kid[:40]}", exc)) from None
        return jose.public_jwk(public)

    def sign(self, kid: str, alg: str, message: bytes) -> bytes:
        """The raw JOSE signature, made in the token (ES256: CKM_ECDSA over SHA-256 → r‖s)."""
        data = hashlib.sha256(message).digest() if alg == "ES256" else message
        with self._lock:
            for retry in (True, False):
                session = self._open()
                try:
                    return bytes(self._private_key(session, kid).sign(data, mechanism=_SIGN[alg]))
                except _SESSION_LOST:
                    self._drop()                       # once more on a new session (a token put back)
                    if retry:
                        continue
                    raise KeyCustodyUnavailable(f"the {self._where()} lost its session") from None
                except pkcs11.exceptions.PKCS11Error as exc:
                    self._drop()
                    raise KeyCustodyUnavailable(self._failure(f"could not sign with key {kid[:40]}", exc)) from None
        raise AssertionError("unreachable")
