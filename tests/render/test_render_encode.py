"""Encoded bytes decoded by an independent reader (Pillow): PNG/TIFF exact, JPEG close."""

import io

import numpy as np
import pytest
from PIL import Image

from stratascope.render.encode import encode, encode_raw_png, encode_tiff, jpeg_level


def smooth_rgb(h=64, w=80):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 3, y * 3, (x + y) * 2], axis=-1).clip(0, 255).astype(np.uint8)


def decode(data: bytes) -> tuple[str, np.ndarray]:
    img = Image.open(io.BytesIO(data))
    return img.format, np.asarray(img)


def test_png_round_trips_exactly():
    rgb = np.random.default_rng(0).integers(0, 256, (33, 47, 3)).astype(np.uint8)
    fmt, back = decode(encode(rgb, "png"))
    assert fmt == "PNG" and np.array_equal(back, rgb)
    grey = rgb[..., 0].copy()
    fmt, back = decode(encode(grey, "png"))
    assert back.ndim == 2 and np.array_equal(back, grey)


def test_jpeg_is_close_and_quality_matters():
    rgb = smooth_rgb()
    high = encode(rgb, "jpeg", 0.95)
    low = encode(rgb, "jpeg", 0.1)
    fmt, back = decode(high)
    assert fmt == "JPEG" and back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb).mean() < 2.0
    assert len(low) < len(high)
    assert jpeg_level(0) == 1 and jpeg_level(0.9) == 90 and jpeg_level(1) == 100


def test_tiff_round_trips_exactly():
    rgb = smooth_rgb()
    fmt, back = decode(encode(rgb, "tif"))
    assert fmt == "TIFF" and np.array_equal(back, rgb)
    u16 = (np.arange(12 * 10, dtype=np.uint16) * 500).reshape(12, 10)
    fmt, back = decode(encode_tiff(u16))
    assert np.array_equal(back.astype(np.uint16), u16)


def test_raw_png_keeps_16_bit_values():
    u16 = (np.arange(20 * 30, dtype=np.uint32) * 101 % 65536).astype(np.uint16).reshape(20, 30)
    img = Image.open(io.BytesIO(encode_raw_png(u16)))
    assert img.mode.startswith("I") and np.array_equal(np.asarray(img).astype(np.uint16), u16)


@pytest.mark.parametrize(("image", "fmt", "message"), [
    (np.zeros((4, 4), np.uint16), "jpeg", "cannot encode"),
    (np.zeros((4, 4, 2), np.uint8), "png", "expected"),
    (np.zeros((4,), np.uint8), "png", "expected"),
    (np.zeros((0, 4), np.uint8), "png", "empty"),
    (np.zeros((4, 4), np.uint8), "gif", "unknown image format"),
])
def test_bad_input_is_a_clear_error(image, fmt, message):
    with pytest.raises(ValueError, match=message):
        encode(image, fmt)
