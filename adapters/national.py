"""The national standard code (docs/standard.md §4): ``CNHC1:`` + compact JWS of the national
claims, unchanged.  Any region may issue it; it is also what transcoding produces."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

NATIONAL_CLAIMS = ("ver", "region", "sub", "jti", "iat", "exp", "kind", "status", "reasons",
                   "name_masked", "id_masked", "id_type", "prov", "dep")

ADAPTER = register(JwsClaimFormat(
    name="national",
    title="全国健康码",
    title_en="national health code",
    prefix="CNHC1:",
    typ="hc+jwt",
    fields={claim: claim for claim in NATIONAL_CLAIMS},
))
