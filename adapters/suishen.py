"""随申码 (Shanghai): camelCase claims, numeric colour and reason codes, millisecond times."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="suishen",
    title="随申码",
    title_en="Suishen code",
    prefix="SSM:",
    time="millis",
    fields={
        "ver": "version", "region": "regionCode", "sub": "uid", "jti": "codeId",
        "iat": "issuedAt", "exp": "expireAt", "kind": "codeType", "status": "codeColor",
        "reasons": "reasonCodes", "name_masked": "holderName", "id_masked": "certNo",
        "id_type": "certType", "prov": "origin", "dep": "proxy",
    },
    values={
        "status": {"green": 0, "yellow": 1, "red": 2},
        "kind": {"dynamic": 1, "offline": 2},
        "reasons": {"positive_test": 1, "close_contact": 2, "high_risk_travel": 3,
                    "medium_risk_travel": 4, "symptoms": 5, "no_recent_test": 6,
                    "issuer_override": 9, "transcoded": 10, "negative_test": 11,
                    "vaccinated": 12, "recovered": 13, "no_valid_certificate": 14},
        "id_type": {"resident": 1, "passport": 2, "hkmo_permit": 3, "tw_permit": 4,
                    "macau_id": 5, "hk_id": 6, "foreign_permit": 7, "unspecified": 0},
    },
))
