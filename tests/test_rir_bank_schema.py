"""schema.to_float16 is numpy's float32 -> float16 cast, bit for bit (it only takes another road for values in
float16's subnormal range), so format-2 banks store the same bytes as before."""

import warnings

import numpy as np

from wavjepa_nat.rir_bank.schema import encode_response, to_float16


def test_to_float16_equals_astype_bit_for_bit():
    rng = np.random.default_rng(0)
    scaled = rng.standard_normal(200_000).astype(np.float32) * (
        np.float32(10.0) ** rng.uniform(-12, 5, 200_000).astype(np.float32)
    )
    every = np.arange(0, 2**31, 2**31 // 400_000, dtype=np.uint32).view(np.float32)  # all exponents
    edges = np.array(
        [
            0.0,
            2.0**-24,
            2.0**-25,
            3 * 2.0**-25,
            2.0**-14,
            2.0**-14 * (1 - 2.0**-12),
            65504.0,
            65519.99,
            65520.0,
            np.inf,
            np.nan,
        ],
        np.float32,
    )
    values = np.concatenate([scaled, every, edges])
    values = np.concatenate([values, -values])
    with warnings.catch_warnings():  # overflow to inf in the reference cast
        warnings.simplefilter("ignore", RuntimeWarning)
        want = values.astype(np.float16)
    got = to_float16(values)
    assert got.dtype == np.float16 and got.shape == values.shape
    nan = np.isnan(values)
    assert np.array_equal(got.view(np.uint16)[~nan], want.view(np.uint16)[~nan])
    assert np.all(np.isnan(got[nan]))


def test_encoded_decaying_response_equals_the_plain_cast():
    rng = np.random.default_rng(1)
    t = np.arange(20000)
    h = (rng.standard_normal((3, 2, t.size)) * np.exp(-t / 1500.0)).astype(np.float32)
    stored, taps, scale = encode_response(h)
    assert np.array_equal(
        stored.view(np.uint16), (h[..., :taps] / np.float32(scale)).astype(np.float16).view(np.uint16)
    )
