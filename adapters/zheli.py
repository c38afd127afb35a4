"""浙江健康码 (Zhejiang, via 浙里办): one-letter colours and kinds, two-letter reason codes,
``zj_`` claim names, millisecond times, ``ZJHC1:``.

This module, one ``[[region]]`` entry in config/regions.toml and its tests are all that onboarding
the province took — the worked example in docs/onboarding.md."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="zheli",
    title="浙江健康码",
    title_en="Zhejiang health code",
    prefix="ZJHC1:",
    time="millis",
    fields={
        "ver": "zj_v", "region": "zj_area", "sub": "zj_uid", "jti": "zj_no", "iat": "zj_from",
        "exp": "zj_to", "kind": "zj_kind", "status": "zj_color", "reasons": "zj_why",
        "name_masked": "zj_name", "id_masked": "zj_cert", "id_type": "zj_cert_type",
        "prov": "zj_source", "dep": "zj_proxy",
    },
    values={
        "status": {"green": "G", "yellow": "Y", "red": "R"},
        "kind": {"dynamic": "D", "offline": "P"},
        "reasons": {"positive_test": "PT", "close_contact": "CC", "high_risk_travel": "HR",
                    "medium_risk_travel": "MR", "symptoms": "SY", "no_recent_test": "NT",
                    "issuer_override": "IO", "transcoded": "TC", "negative_test": "NG",
                    "vaccinated": "VC", "recovered": "RC", "no_valid_certificate": "NC"},
    },
))
