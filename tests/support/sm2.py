"""SM2 outside the project's code: GM/T 0003's published example, the Z value computed here from
the standard's formula, and gmssl (pure Python, independent of Tongsuo) to sign and verify."""
from __future__ import annotations

import os

from gmssl import sm2 as gmssl_sm2

from standard import sm2

# GM/T 0003.5-2012 (GB/T 32918.5-2017) annex A: signature over the recommended curve, message
# "message digest", signer id "1234567812345678".
EXAMPLE_D = 0x3945208F7B2144B13F36E38AC6D39F9588939369_2860B51A42FB81EF4DF7C5B8
EXAMPLE_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
EXAMPLE_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
EXAMPLE_MESSAGE = b"message digest"
EXAMPLE_ID = b"1234567812345678"
EXAMPLE_E = 0xF0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640
EXAMPLE_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
EXAMPLE_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
EXAMPLE_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA

# The recommended curve's parameters (GM/T 0003.5 §3)
A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


def _b32(n: int) -> bytes:
    return n.to_bytes(32, "big")


def z_value(x: int, y: int, signer_id: bytes = EXAMPLE_ID) -> bytes:
    """Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA), ENTL the id's length in bits (2 bytes)."""
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    return sm2.sm3(entl + signer_id + _b32(A) + _b32(B) + _b32(GX) + _b32(GY) + _b32(x) + _b32(y))


def digest(x: int, y: int, message: bytes, signer_id: bytes = EXAMPLE_ID) -> int:
    """e = SM3(Z ‖ M) as an integer."""
    return int.from_bytes(sm2.sm3(z_value(x, y, signer_id) + message), "big")


def _gmssl(d: int, x: int, y: int) -> gmssl_sm2.CryptSM2:
    signer = gmssl_sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
    signer.public_key = f"{x:064x}{y:064x}"        # set as is: its constructor strips leading "04"s
    return signer


def gmssl_sign(d: int, x: int, y: int, message: bytes, signer_id: bytes = EXAMPLE_ID,
               nonce: int | None = None) -> bytes:
    """r ‖ s by gmssl over e = SM3(Z ‖ M) with ``signer_id``; a random nonce unless given."""
    e = _b32(digest(x, y, message, signer_id))
    k = nonce if nonce is not None else int.from_bytes(os.urandom(32), "big") % (sm2.ORDER - 1) + 1
    signature = _gmssl(d, x, y).sign(e, f"{k:064x}")
    assert signature is not None, "gmssl drew a nonce it cannot use; run again"
    return bytes.fromhex(signature)


def gmssl_verifies(x: int, y: int, message: bytes, signature: bytes) -> bool:
    """gmssl's verdict on r ‖ s over ``message`` with the default signer id."""
    return bool(_gmssl(1, x, y).verify_with_sm3(signature.hex(), message))
