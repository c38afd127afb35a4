"""A SMART card payload read by the members a verdict uses (msgspec,
``adapters.shc.card.payload_members_read``) answers as the whole payload parsed (orjson, then
``json``): the same card (issuer, dates, types, rid), the same FHIR facts (holder, names, events)
and the same errors with the same messages — on every vector and on mutations of them — and the
FHIR walk reads no member that the fast read leaves out."""
from __future__ import annotations

import json
import random
import zlib

import pytest

from adapters import shc
from adapters.shc import card as shc_card
from adapters.shc import fhir
from standard import jose
from standard.errors import HealthCodeError
from support.paths import vectors_dir
from support.shc import NOW, DAY, card_payload, immunization, lab

VECTORS = vectors_dir() / "shc"


def _vector_payloads() -> list[bytes]:
    """The inflated payload of every credential in the vectors that inflates."""
    out = []
    for path in sorted(VECTORS.iterdir()):
        if path.suffix not in (".txt", ".smart-health-card"):
            continue
        try:
            tokens = shc_card.credentials(path.read_text(encoding="utf-8").strip())
            for token in tokens:
                out.append(shc_card.inflate(jose.parse(token).payload))
        except HealthCodeError:
            continue
    return out


def _own_payloads() -> list[bytes]:
    """Cards this file writes: vaccinations, lab results, several Patients, a #covid19 type."""
    cards = [card_payload([immunization(NOW - 60 * DAY), immunization(NOW - 30 * DAY, cvx="208")]),
             card_payload([lab(NOW - DAY, "260385009"), lab(NOW - 2 * DAY, "10828004")], exp=NOW + DAY),
             card_payload([immunization(NOW - 9 * DAY, cvx="212", status="entered-in-error")],
                          types=(shc.HEALTH_CARD_TYPE, shc.COVID_TYPE))]
    cards[2]["vc"]["rid"] = "r1"
    return [json.dumps(c).encode() for c in cards]


PAYLOADS = _vector_payloads() + _own_payloads()


def _facts(card: shc_card.Card) -> tuple:
    return (card.iss, card.nbf, card.exp, card.types, card.rid, fhir.holder(card.bundle),
            fhir.name_parts(card.bundle), fhir.events_from_bundle(card.bundle, card.types),
            fhir.events_from_bundle(card.bundle, (shc.COVID_TYPE,), ("207",)))


def _outcome(raw: bytes, members: bool) -> tuple:
    try:
        data = shc_card.payload_members_read(raw) if members else None
        return ("card", _facts(shc_card.card_from(shc_card.parse_payload(raw) if data is None else data)))
    except HealthCodeError as exc:
        return ("error", exc.code, exc.message)


def _same(raw: bytes) -> None:
    assert _outcome(raw, True) == _outcome(raw, False), raw[:200]


def test_vectors_are_read_by_their_members_with_the_same_answer():
    assert len(PAYLOADS) >= 6
    for raw in PAYLOADS:
        _same(raw)
        if raw.startswith(b"\xef\xbb\xbf"):                     # a negative vector: refused before
            continue
        assert shc_card.payload_members_read(raw) is not None       # the fast read answers them
        card = shc_card.read_payload(shc_card.deflate(raw))        # and read_payload takes it
        assert _facts(card) == _outcome(raw, False)[1]


class _Recording(dict):
    """A JSON object that notes which of its members were asked for."""

    def __init__(self, data: dict, asked: set) -> None:
        super().__init__(data)
        self.asked = asked

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def test_the_card_and_the_fhir_walk_read_only_the_members_decoded():
    levels = {name: set() for name in ("payload", "vc", "subject", "bundle", "entry", "resource")}
    for raw in PAYLOADS:
        data = json.loads(raw)
        subject = data["vc"]["credentialSubject"]
        bundle = subject["fhirBundle"]
        entries = [_Recording({**e, "resource": _Recording(e["resource"], levels["resource"])}, levels["entry"])
                   for e in bundle["entry"]]
        subject = _Recording({**subject, "fhirBundle": _Recording({**bundle, "entry": entries}, levels["bundle"])},
                             levels["subject"])
        vc = _Recording({**data["vc"], "credentialSubject": subject}, levels["vc"])
        card = shc_card.card_from(_Recording({**data, "vc": vc}, levels["payload"]))
        _facts(card)
        fhir.to_claims("token", card, "n", "b", "green", [], None, NOW, "US")
    decoded = {"payload": shc_card._Payload, "vc": shc_card._Vc, "subject": shc_card._Subject,
               "bundle": shc_card._Bundle, "entry": shc_card._Entry, "resource": shc_card._Resource}
    for level, asked in levels.items():
        assert asked, level
        assert asked <= set(decoded[level].__struct_fields__), (level, asked)
    assert set(shc_card.FHIR_MEMBERS_READ) == levels["resource"]


def _edits(text: str) -> list[str]:
    """Hand-made changes of one payload's JSON text at the places the two reads could differ."""
    body = text[1:]
    out = [
        '{"iss":"https://first.example",' + body,               # duplicate members: the last wins
        text[:-1] + ',"iss":"https://last.example"}',
        text[:-1] + ',"nbf":1600000000}', text[:-1] + ',"vc":null}', text[:-1] + ',"vc":{}}',
        text.replace('"iss"', '"i\\u0073s"', 1), text.replace('"resourceType":"Patient"', '"resource\\u0054ype":"Patient"'),
        text.replace('"birthDate"', '"birthDate":"2000-01-01","birthDate"'),
        text.replace('"resourceType":"Patient"', '"resourceType":"Patient","resourceType":"Coverage"'),
        text.replace('"resourceType":"Patient"', '"resourceType":"Coverage","resourceType":"Patient"'),
        text.replace('"name":', '"name":"X","name":'), text.replace('"name":', '"name":[],"x":'),
        text.replace('"entry":', '"entry":[],"entry":'), text.replace('"entry":[', '"entry":[1,'),
        text.replace('"entry":[', '"entry":[{},'), text.replace('"entry":[', '"entry":[{"resource":[]},'),
        text.replace('"entry":[', '"entry":[{"resource":null},'), text.replace('"entry":[', '"entry":{"a":['),
        text.replace('"entry":[', '"entry":[' + '{"resource":{"resourceType":"X"}},' * 30),
        text.replace('"type":[', '"type":[1,'), text.replace('"type":[', '"type":"'),
        text.replace('"resourceType":"Bundle"', '"resourceType":"Bundlex"'),
        text.replace('"fhirBundle"', '"fhirBundlex"'), text.replace('"credentialSubject"', '"credentialSubjectx"'),
        text[:-1] + ',"rid":"outside vc"}', text.replace('"type":[', '"rid":' + '"' + "r" * 65 + '","type":['),
        text + " ", " " + text + "\n\t\r", text + "x", text + "{}", "\ufeff" + text, text[:-1],
        text.replace('"status"', '"status":"final","status"'), text.replace("}", "}" * 2, 1),
        text.replace('"family":', '"family":"Dup","family":'), text.replace('"given":', '"given":["Dup"],"given":'),
        text.replace('"family":', '"fam\\u0069ly":"Esc","family":'), text.replace('"coding":', '"coding":[],"coding":'),
    ]
    for value in ("18446744073709551616", "-9223372036854775809", "9223372036854775808", "1e400", "-1e400",
                  "1.5", "1e-400", '"1600000000"', "true", "null", "NaN", "Infinity", "-0", "4102444800",
                  "12345678901234567890123", "0.0000001e16"):
        out.append(text[:-1] + f',"nbf":{value}}}')
        out.append(text[:-1] + f',"exp":{value}}}')
        # a member nobody reads holds it
        out.append(text.replace('"resourceType":"Bundle"', f'"resourceType":"Bundle","unread":[{value}]'))
    for unread in ('"\\ud800"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"', '"a\\u0000b"', '"\\x"', '"\x01"',
                   '"\x7f"', "01", "1.", ".5", "-", "+1", "[1,]", '{"a":1,}', "tru", "[" * 1030 + "]" * 1030,
                   "[" * 1000 + "]" * 1000, '{"a":1,"a":{"b":2}}', '"\u2028\u00e9\U0001F600"'):
        out.append(text.replace('"resourceType":"Bundle"', f'"resourceType":"Bundle","unread":{unread}'))
        out.append(text.replace('"name":', f'"name":{unread},"name":'))
    return out


@pytest.mark.parametrize("index", range(len(PAYLOADS)))
def test_edited_payloads_answer_alike(index):
    text = json.dumps(json.loads(PAYLOADS[index]), separators=(",", ":"), ensure_ascii=False)
    for edited in _edits(text):
        _same(edited.encode("utf-8", "surrogatepass"))
    for raw in (b"\xef\xbb\xbf" + text.encode(), text.encode().replace(b'"Bundle"', b'"Bundle","u":"\xff"'),
                text.encode().replace(b'"Bundle"', b'"Bundle","u":"\xc0\x80"'),
                text.encode().replace(b'"Bundle"', b'"Bundle","u":"\xed\xa0\x80"'), b"", b"[]", b"null", b"1"):
        _same(raw)


def test_random_mutations_answer_alike():
    rng = random.Random(22)
    significant = b'{}[],:"\\0123456789-+.eE \x00\x1f\x7f\x80\xff'
    for raw in PAYLOADS:
        for _ in range(1000):
            data = bytearray(raw)
            for _ in range(rng.choice((1, 1, 2, 3))):
                at = rng.randrange(len(data))
                action = rng.randrange(3)
                if action == 0:
                    data[at] = rng.choice(significant) if rng.random() < 0.7 else rng.randrange(256)
                elif action == 1:
                    del data[at]
                else:
                    data.insert(at, rng.choice(significant))
            _same(bytes(data))


def test_a_payload_msgspec_refuses_is_read_whole():
    raw = PAYLOADS[0].replace(b'"Bundle"', b'"Bundle","deep":' + b"[" * 1030 + b"]" * 1030, 1)
    assert shc_card.payload_members_read(raw) is None
    assert _outcome(raw, True) == _outcome(raw, False)
    assert zlib.decompress(shc_card.deflate(raw), -15) == raw
