"""北京健康宝 (Beijing): Chinese status words ("未见异常" for green), ISO 8601 times in +08:00."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="jiankangbao",
    title="北京健康宝",
    title_en="Beijing Health Kit",
    prefix="BJJKB:",
    time="iso8601",
    fields={
        "ver": "version", "region": "issuer_area", "sub": "subject", "jti": "serial",
        "iat": "issued", "exp": "valid_until", "kind": "type", "status": "result",
        "reasons": "reasons", "name_masked": "name", "id_masked": "cert_no",
        "id_type": "cert_type", "prov": "provenance", "dep": "on_behalf_of",
    },
    values={
        "status": {"green": "未见异常", "yellow": "黄码", "red": "红码"},
        "kind": {"dynamic": "动态", "offline": "离线"},
    },
))
