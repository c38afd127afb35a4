"""深i您 (Shenzhen, a city issuing under Guangdong; its assisted lookup serves elderly people and
children): ``sz_`` claim names, numeric colours, ISO 8601 times in +08:00, ``SZIN1:``."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="shenainin",
    title="深i您",
    title_en="Shen i Nin",
    prefix="SZIN1:",
    time="iso8601",
    fields={
        "ver": "sz_ver", "region": "sz_area", "sub": "sz_uid", "jti": "sz_code", "iat": "sz_issued",
        "exp": "sz_expires", "kind": "sz_kind", "status": "sz_color", "reasons": "sz_reasons",
        "name_masked": "sz_name", "id_masked": "sz_cert", "id_type": "sz_cert_type",
        "prov": "sz_source", "dep": "sz_for",
    },
    values={
        "status": {"green": 1, "yellow": 2, "red": 3},
        "kind": {"dynamic": "app", "offline": "paper"},
    },
))
