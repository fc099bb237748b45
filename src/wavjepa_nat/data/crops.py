"""Random crops of a clip (numpy; the torch versions are in augment_torch). A crop keeps every channel at
the same offsets, so interaural time and level differences survive; instance normalisation is in dsp.py.
"""

from __future__ import annotations

import numpy as np


def take_crops(x: np.ndarray, offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(C, S) and (n,) offsets -> (n, C, crop_samples); the same offsets for every channel."""
    windows = np.lib.stride_tricks.sliding_window_view(x, crop_samples, axis=-1)  # (C, S-crop+1, crop)
    return windows.transpose(1, 0, 2)[np.asarray(offsets)]  # one copy, already (n, C, crop) contiguous
