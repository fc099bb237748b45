"""rir_bank/checksums.py: the finite and non-zero test read from the bits of stored floats agrees with numpy's
isfinite and any on every float16 value and on float32's edge values."""

import numpy as np
import pytest

from wavjepa_nat.rir_bank.checksums import array_crc, finite_and_nonzero


def test_finite_and_nonzero_agree_with_numpy_on_every_float16():
    every = np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(np.float16)
    for value in every.reshape(-1, 1):
        assert finite_and_nonzero(value) == (bool(np.isfinite(value).all()), bool(np.any(value))), value


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int16, np.float64])
@pytest.mark.parametrize(
    "values", [[0.0, -0.0], [np.nan], [-np.inf, 1.0], [np.inf], [3.0, 0.0], [-1.0], [1e-45], [], [0.0] * 9]
)
def test_finite_and_nonzero_of_arrays(dtype, values):
    if np.dtype(dtype).kind == "i":
        values = [v for v in values if np.isfinite(v)]
    a = np.array(values, dtype).reshape(-1, 1)[::-1]  # a view, as rows of the mapped file are
    assert finite_and_nonzero(a) == (bool(np.isfinite(a).all()), bool(np.any(a)))


def test_array_crc_is_the_crc_of_the_little_endian_bytes():
    import zlib

    a = np.arange(-50, 50, dtype=np.float16).reshape(2, 50)
    assert array_crc(a) == zlib.crc32(a.astype("<f2").tobytes())
    assert array_crc(a[:, ::2]) == zlib.crc32(np.ascontiguousarray(a[:, ::2]).tobytes())
    assert array_crc(a.astype(">f2")) == array_crc(a)
