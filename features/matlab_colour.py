"""MATLAB-compatible colour conversions for uint8 RGB images.

LOMO quantises HSV and grey values at bin edges, so these helpers reproduce MATLAB's
arithmetic operation by operation rather than a mathematically equal formula.
"""

import numpy as np

# First row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]), as rgb2gray uses.
GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)

# MATLAB's rgb2hsv converts uint8 by double(x) / 255 (a division, not a multiplication by 1/255).
_UNIT = np.arange(256) / 255


def rgb2gray(images: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of a uint8 ``(..., 3)`` array, returned as uint8.

    The weighted sum is rounded half away from zero, as MATLAB's conversion to uint8 does.
    """
    r, g, b = GRAY_WEIGHTS
    gray = r * images[..., 0] + g * images[..., 1] + b * images[..., 2]
    whole = np.floor(gray)
    # Round half away from zero; `gray - whole` is exact, unlike floor(gray + 0.5).
    rounded = whole + (gray - whole >= 0.5)
    return np.clip(rounded, 0, 255).astype(np.uint8)


def rgb2hsv_channels(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H, S, V of a uint8 ``(..., 3)`` array with MATLAB ``rgb2hsv`` arithmetic.

    Channels are x / 255. Hue takes the red, green, blue cases in that order, so a later
    case wins a tie: (g - b) / d, 2 + (b - r) / d, 4 + (r - g) / d with d = max - min;
    then h / 6, plus 1 where negative, and 0 where d = 0. S = d / max (0 where max = 0),
    V = max. Case selection is done on the integers, which picks the same operands.
    """
    r, g, b = np.moveaxis(images, -1, 0).copy()
    top = np.maximum(np.maximum(r, g), b)
    bottom = np.minimum(np.minimum(r, g), b)
    blue_max, green_max = b == top, g == top
    first = np.where(blue_max, r, np.where(green_max, b, g))
    second = np.where(blue_max, g, np.where(green_max, r, b))
    sector = np.maximum(green_max * np.uint8(2), blue_max * np.uint8(4))

    value = _UNIT[top]
    delta = value - _UNIT[bottom]
    flat = top == bottom
    hue = (sector + (_UNIT[first] - _UNIT[second]) / np.where(flat, 1.0, delta)) / 6
    hue += hue < 0
    hue[flat] = 0.0
    saturation = delta / np.where(top == 0, 1.0, value)
    return hue, saturation, value


def rgb2hsv(images: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2hsv`` of a uint8 ``(..., 3)`` array, as float64 ``(..., 3)`` in [0, 1]."""
    return np.stack(rgb2hsv_channels(images), axis=-1)
