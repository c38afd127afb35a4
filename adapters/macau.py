"""澳門健康碼 (Macau): Portuguese claim names, Portuguese status words, Macau ID numbers
(BIR, ``1234567(8)``), ``MOHC1:``.  Transcodable with 粤康码 both ways (docs/standard.md §8)."""
from adapters.base import JwsClaimFormat
from adapters.contract import register

ADAPTER = register(JwsClaimFormat(
    name="macau",
    title="澳门健康码",
    title_en="Macau health code",
    prefix="MOHC1:",
    typ="JWT",
    fields={
        "ver": "versao", "region": "regiao", "sub": "sujeito", "jti": "codigo",
        "iat": "emitido_em", "exp": "valido_ate", "kind": "modalidade", "status": "estado",
        "reasons": "motivos", "name_masked": "titular", "id_masked": "documento",
        "id_type": "tipo_documento", "prov": "origem", "dep": "dependente",
    },
    values={
        "status": {"green": "verde", "yellow": "amarelo", "red": "vermelho"},
        "kind": {"dynamic": "dinamico", "offline": "impresso"},
        "id_type": {"resident": "bir_continente", "passport": "passaporte", "hkmo_permit": "salvo_conduto",
                    "tw_permit": "salvo_conduto_tw", "macau_id": "bir", "hk_id": "hkid",
                    "foreign_permit": "estrangeiro", "unspecified": "nenhum"},
        "reasons": {"positive_test": "teste_positivo", "close_contact": "contacto_proximo",
                    "high_risk_travel": "viagem_risco_alto", "medium_risk_travel": "viagem_risco_medio",
                    "symptoms": "sintomas", "no_recent_test": "sem_teste_recente",
                    "issuer_override": "decisao_emissor", "transcoded": "convertido",
                    "negative_test": "teste_negativo", "vaccinated": "vacinado", "recovered": "recuperado",
                    "no_valid_certificate": "sem_certificado"},
    },
))
