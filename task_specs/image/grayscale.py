"""``tf.image.rgb_to_grayscale`` on uint8 images, reproduced bit for bit in NumPy float32.

TensorFlow converts uint8 to float32 by ``x * (1/255)``, takes ``sum(x_c * w_c)`` with weights
``[0.2989, 0.5870, 0.1140]`` (float32, summed left to right over the channel axis), and converts back
with ``cast(g * 255.5)``: a float-to-int cast, i.e. truncation (``+0.5`` "to avoid rounding problems").
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
_TO_FLOAT = np.float32(1.0 / 255)
_TO_UINT8 = np.float32(255 + 0.5)


def rgb_to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """``uint8 [..., 3]`` -> ``uint8 [...]``."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1] != 3:
        raise ValueError(f"expected uint8 [..., 3] RGB, got {rgb.dtype} {rgb.shape}")
    f = rgb.astype(np.float32) * _TO_FLOAT
    g = f[..., 0] * WEIGHTS[0]
    g = g + f[..., 1] * WEIGHTS[1]
    g = g + f[..., 2] * WEIGHTS[2]
    return (g * _TO_UINT8).astype(np.uint8)
