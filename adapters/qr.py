"""QR images: render a code's text to PNG, and read the text back from a photo or scan.

Error correction is level M (15 %) as the standard says (§4.3): enough for a cracked phone
screen or a creased printout without pushing long codes to unreadably dense versions.
"""
from __future__ import annotations

import io
import threading

import qrcode
import zxingcpp
from PIL import Image, UnidentifiedImageError

from standard.settings import MAX_IMAGE_BYTES
from standard.errors import CodeTooLarge, ImageUnreadable

MAX_PIXELS = 16_000_000                      # a 4000×4000 photo; a QR scan needs far fewer
Image.MAX_IMAGE_PIXELS = MAX_PIXELS          # Pillow's own bomb check, as a second line
# At most this many images are decoded at once per process (a decode of 16 MP costs ~100 MB);
# the rest wait their turn, up to DECODE_WAIT seconds, then get a clear "busy" verdict.
DECODE_SLOTS = threading.BoundedSemaphore(2)
DECODE_WAIT = 10


def render_png(text: str, box_size: int = 6, border: int = 4) -> bytes:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M,
                         box_size=box_size, border=border)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()


def decode_image(data: bytes) -> list[str]:
    """Every QR text in the image (a SMART Health Card may be printed as several)."""
    if not data:
        raise ImageUnreadable("image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise CodeTooLarge(f"image larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
    if not DECODE_SLOTS.acquire(timeout=DECODE_WAIT):
        raise ImageUnreadable("the image decoder is busy; scan the code again")
    try:
        return _decode(data)
    finally:
        DECODE_SLOTS.release()


def _decode(data: bytes) -> list[str]:
    try:
        image = Image.open(io.BytesIO(data))          # reads the header only
        width, height = image.size
        if width * height > MAX_PIXELS:               # refuse before a pixel is decoded
            raise CodeTooLarge(f"image has {width}×{height} pixels; at most {MAX_PIXELS:,} are read")
        image.load()
    except Image.DecompressionBombError:          # Pillow's own check at open(), above 2 × MAX_PIXELS
        raise CodeTooLarge(f"image has more than {2 * MAX_PIXELS:,} pixels; at most {MAX_PIXELS:,} are read") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageUnreadable("not a readable image") from None
    results = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
    texts = [r.text for r in results if r.valid and r.text]
    if not texts:
        raise ImageUnreadable("no QR code found in the image")
    return texts
