"""Encode rendered images to JPEG / PNG / TIFF bytes.

imagecodecs (libjpeg-turbo, libpng) is used rather than Pillow because it measured
faster on 512 x 512 RGB renders: JPEG q=90 0.95 ms vs 1.03 ms (smooth image) and
1.8 ms vs 3.0 ms (noisy); PNG level 1 19 ms vs 29 ms. TIFF goes through tifffile.
"""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import tifffile

MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tif": "image/tiff"}
PNG_LEVEL = 1  # zlib level: fast; level 6 costs ~7x the time for ~7% fewer bytes


def _check_image(image: np.ndarray, dtypes: tuple) -> np.ndarray:
    image = np.ascontiguousarray(image)
    if image.dtype not in dtypes:
        raise ValueError(f"cannot encode {image.dtype} pixels; expected one of {[str(np.dtype(d)) for d in dtypes]}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"expected a (y, x) grey or (y, x, 3) RGB image, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"cannot encode an empty image of shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def jpeg_level(quality: float) -> int:
    """OMERO's 0..1 compression quality -> libjpeg's 1..100."""
    return int(min(100, max(1, round(quality * 100))))


def encode(image: np.ndarray, fmt: str = "jpeg", quality: float = 0.9) -> bytes:
    """A (y, x) grey or (y, x, 3) RGB uint8 image -> encoded bytes."""
    image = _check_image(image, (np.uint8,))
    if fmt == "jpeg":
        return bytes(imagecodecs.jpeg8_encode(image, level=jpeg_level(quality)))
    if fmt == "png":
        return bytes(imagecodecs.png_encode(image, level=PNG_LEVEL))
    if fmt == "tif":
        return encode_tiff(image)
    raise ValueError(f"unknown image format {fmt!r}; use one of {', '.join(MEDIA_TYPES)}")


def encode_tiff(image: np.ndarray) -> bytes:
    """Uncompressed TIFF (what omero-web's format=tif gives), grey or RGB, uint8 or uint16."""
    image = _check_image(image, (np.uint8, np.uint16))
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, photometric="rgb" if image.ndim == 3 else "minisblack")
    return buffer.getvalue()


def encode_raw_png(image: np.ndarray) -> bytes:
    """Lossless PNG of raw uint8 / uint16 values (grey or RGB), e.g. for exact pixel export."""
    image = _check_image(image, (np.uint8, np.uint16))
    return bytes(imagecodecs.png_encode(image, level=PNG_LEVEL))
