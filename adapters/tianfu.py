"""天府健康通 (Sichuan): Ed25519 signatures, one-letter colours, short English claims."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="tianfu",
    title="天府健康通",
    title_en="Tianfu health pass",
    prefix="TFJKT:",
    typ="tf+jwt",
    fields={
        "ver": "v", "region": "area", "sub": "pid", "jti": "cid", "iat": "iat", "exp": "exp",
        "kind": "mode", "status": "color", "reasons": "why", "name_masked": "nm",
        "id_masked": "idno", "id_type": "idtype", "prov": "src", "dep": "for",
    },
    values={
        "status": {"green": "G", "yellow": "Y", "red": "R"},
        "kind": {"dynamic": "online", "offline": "print"},
    },
))
