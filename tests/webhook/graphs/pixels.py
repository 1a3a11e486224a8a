"""Reading graphs back from their pixels: colours near a point, runs of a colour, text in a region."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def decode(png: bytes) -> NDArray[np.int16]:
    """RGB pixels, rows from the top; int16 so that differences do not wrap."""
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"), dtype=np.int16)


def rgb(colour: str) -> NDArray[np.int16]:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)


def matches(pixels: NDArray[np.int16], colour: str, tolerance: int = 40) -> NDArray[np.bool_]:
    """Which pixels are within `tolerance` (sum of channel differences) of `colour`."""
    return np.abs(pixels - rgb(colour)).sum(axis=-1) <= tolerance  # type: ignore[no-any-return]


def near(pixels: NDArray[np.int16], colour: str, x: float, y: float, radius: int = 3) -> bool:
    """Whether `colour` is drawn within `radius` pixels of (x, y)."""
    xi, yi = round(x), round(y)
    box = pixels[max(yi - radius, 0):yi + radius + 1, max(xi - radius, 0):xi + radius + 1]
    return bool(matches(box, colour).any())


def share(pixels: NDArray[np.int16], colour: str, x0: float, x1: float, y0: float, y1: float) -> float:
    """Fraction of the pixels of a box that have `colour`."""
    box = pixels[round(y0):round(y1), round(x0):round(x1)]
    return float(matches(box, colour, 12).mean()) if box.size else 0.0


def has_text(pixels: NDArray[np.int16], x0: int, x1: int, y0: int, y1: int) -> bool:
    """Dark glyph pixels with variance in a region (a blank or a solid box fails)."""
    region = pixels[y0:y1, x0:x1].mean(axis=-1)
    dark = (region < 100).mean()
    return bool(0.01 < dark < 0.6 and region.std() > 30)
