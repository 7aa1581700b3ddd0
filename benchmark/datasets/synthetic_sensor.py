"""What a Kinect v1 makes of the rendered scene: depth noise and holes, RGB exposure.

Depth, in this order:

1. axial noise, Gaussian with the standard deviation that Nguyen, Izadi and Lovell
   (2012, "Modeling Kinect sensor noise for improved 3D reconstruction and tracking")
   fitted to a Kinect v1:
   sigma(z, theta) = 1.2 mm + 1.9 mm/m^2 (z - 0.4 m)^2 + 0.1 mm m^0.5 / sqrt(z)
   * theta^2 / (pi/2 - theta)^2, with theta the angle between ray and surface normal;
2. quantisation: the sensor measures disparity in 1/8 pixel steps with a focal length
   of 580 px and a 7.5 cm baseline, so depth comes in steps of about z^2 / 348 mm/m
   (26 mm at 3 m, 72 mm at 5 m, as reported by Khoshelham and Elberink, 2012);
3. holes (0): the projector's shadow left of every depth step (its width follows from
   the baseline and the two depths), a band of about 1.5 sensor pixels lost along
   depth discontinuities (a crop pixel next to a step is lost with probability
   1.5 / sensor pixels per crop pixel), surfaces seen at grazing angles (> 78
   degrees), glass, and anything outside the 0.5-8 m range; a caller may add its own
   per-pixel drop-out probability (dark hair).
"""

from __future__ import annotations

import cv2
import numpy as np

FOCAL_PX = 580.0
BASELINE_M = 0.075
SUBPIXEL = 8.0
RANGE_M = (0.5, 8.0)
GRAZING_COS = float(np.cos(np.radians(78.0)))
EDGE_BAND_PX = 1.5


def kinect_sigma(z: np.ndarray, cos_theta: np.ndarray | float = 1.0) -> np.ndarray:
    """Axial noise standard deviation in metres at depth ``z`` (m) and incidence angle."""
    z = np.asarray(z)
    theta = np.arccos(np.clip(cos_theta, np.float32(np.cos(np.radians(80.0))), 1))
    slant = theta / (np.float32(np.pi / 2) - theta)
    return 0.0012 + 0.0019 * (z - 0.4) ** 2 + 0.0001 / np.sqrt(np.maximum(z, 0.1)) \
        * slant * slant


def quantise(z: np.ndarray) -> np.ndarray:
    """Depth (m) rounded to the nearest 1/8-pixel disparity step."""
    scale = FOCAL_PX * BASELINE_M * SUBPIXEL
    return scale / np.maximum(np.rint(scale / np.maximum(z, 1e-3)), 1.0)


def kinect_depth(z: np.ndarray, cos_theta: np.ndarray, step: np.ndarray,
                 distance: np.ndarray, rng: np.random.Generator,
                 dropout: np.ndarray | None = None) -> np.ndarray:
    """(F, h, w) true depth in metres (0 = no return) -> Kinect depth, uint16 mm.

    ``step`` (F,) is the crop's metres per pixel on the person's plane at
    ``distance`` (F,) metres, which sets the projector shadow's width in pixels.
    """
    z = np.asarray(z, np.float32)
    valid = z > 0
    noisy = z + gaussian(rng, z.shape) * kinect_sigma(z, cos_theta).astype(np.float32)
    out = np.where(valid, quantise(noisy), 0.0)
    missing = ~valid | (cos_theta < GRAZING_COS)
    missing |= _shadow(z, step, distance)
    native = (FOCAL_PX * step / distance).astype(np.float32)[:, None, None]
    edge_loss = np.minimum(np.float32(EDGE_BAND_PX) / native, 1.0)
    missing |= _discontinuities(z) & (rng.random(z.shape, dtype=np.float32) < edge_loss)
    if dropout is not None:
        missing |= rng.random(z.shape, dtype=np.float32) < dropout
    missing |= (out < RANGE_M[0]) | (out > RANGE_M[1])
    return np.where(missing, 0, np.rint(out * 1000.0)).astype(np.uint16)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (F, h, w, c) float32 images over h and w (edges replicated); the
    frames are stacked as channels so that OpenCV filters up to 500 channels at once."""
    n, h, w, c = images.shape
    out = np.empty_like(images)
    for start in range(0, n, 500 // c):
        chunk = images[start:start + 500 // c]
        stacked = np.ascontiguousarray(chunk.transpose(1, 2, 0, 3)).reshape(h, w, -1)
        blurred = cv2.GaussianBlur(stacked, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
        out[start:start + len(chunk)] = blurred.reshape(h, w, len(chunk), c).transpose(2, 0, 1, 3)
    return out


def gaussian(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 noise of ``shape`` (frames first): each frame is a slice
    of a fixed table of 2^20 normal numbers starting at an offset drawn from ``rng``
    (several times faster than drawing fresh numbers, and as random for noise)."""
    per = int(np.prod(shape[1:]))
    if per > len(_NORMAL_TABLE):
        return rng.standard_normal(shape, dtype=np.float32)
    starts = rng.integers(0, len(_NORMAL_TABLE) - per + 1, shape[0])
    return np.stack([_NORMAL_TABLE[s:s + per] for s in starts]).reshape(shape)


def _discontinuities(z: np.ndarray, jump: float = 0.1) -> np.ndarray:
    """Pixels next to a 4-neighbour more than ``jump`` metres away (either side)."""
    edge = np.zeros(z.shape, bool)
    dy = np.abs(np.diff(z, axis=1)) > jump
    dx = np.abs(np.diff(z, axis=2)) > jump
    edge[:, 1:] |= dy
    edge[:, :-1] |= dy
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    return edge


def _shadow(z: np.ndarray, step: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Pixels the projector cannot light: a farther pixel with a nearer surface within
    b * Z0 * (1/z_near - 1/z_far) / step pixels to its right."""
    scale = (BASELINE_M * distance / step).astype(np.float32)[:, None, None]
    inverse = np.where(z > 0, 1.0 / np.maximum(z, np.float32(1e-3)), np.float32(0)) * scale
    closest = np.maximum(distance - 0.7, 0.5).astype(np.float32)[:, None, None]
    reach = min(int(np.ceil(np.max(scale / closest))), z.shape[2] // 4)
    shadow = np.zeros(z.shape, bool)
    for k in range(1, reach + 1):
        shadow[:, :, :-k] |= inverse[:, :, k:] - inverse[:, :, :-k] >= k
    return shadow


def rgb_camera(radiance: np.ndarray, gain: np.ndarray, cast: np.ndarray,
               rng: np.random.Generator, blur: float = 0.6, noise: float = 0.01
               ) -> np.ndarray:
    """(F, h, w, 3) linear radiance -> uint8 sRGB-like image with exposure, white balance,
    optical blur (Gaussian, ``blur`` px) and sensor noise."""
    scale = (gain[:, None] * cast).astype(np.float32)[:, None, None, :]
    image = _blur(radiance * scale, blur)
    image += gaussian(rng, image.shape) * np.float32(noise)
    index = (np.clip(image, 0.0, 1.0) * (len(_GAMMA) - 1) + 0.5).astype(np.int32)
    return _GAMMA[index]


_NORMAL_TABLE = np.random.default_rng(20120501).standard_normal(1 << 20, dtype=np.float32)
_GAMMA = np.rint(255.0 * np.linspace(0.0, 1.0, 4096) ** (1 / 2.2)).astype(np.uint8)
