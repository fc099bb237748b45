"""The renderer's arithmetic (numpy): dry sources + a scene -> the clip at the ears.

    render([(clip, brir, gain), ...], delay=d, noise=segment, snr_db=snr, spans=spans, dry_reference=True)

Each source is convolved with its BRIR (2, L), scaled by its gain and summed; the sum is taken `delay`
samples earlier (the scene's direct-path delay, so the rendering lines up with the dry clips; both ears shift
equally, so the ITD survives); then the binaural noise segment is added at snr_db. SNR = 10 log10(P_signal /
P_noise), powers over both ears jointly, of the summed sources and of the scaled noise, over the rendered
samples: the given spans (training: the union of the crop spans) or the whole clip.

With spans, only the samples of the spans are computed (overlap-save on those blocks, exactly the full
convolution's samples) and returned concatenated along time. dry_reference=True also returns the dry sources
over the same samples (Rendering.dry), each times its gain: the target a dry-reference teacher sees.
The batched torch version of the same arithmetic is render/batch.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wavjepa_nat.dsp import convolve_spans, mix_at_snr, to_float32


@dataclass(frozen=True)
class Source:
    """One sound of a scene."""

    clip: np.ndarray  # (S,) dry mono clip; a (2, S) clip goes through a BRIR as the mean of its ears
    brir: np.ndarray | None  # (2, L) the source's BRIR in the scene; None: the clip reaches the ears as it is
    gain: float = 1.0  # linear amplitude factor on the source (before the noise is set by the SNR)
    taps: int | None = None  # the leading BRIR samples that count (SceneInputs.taps); None: trimmed here


@dataclass
class Rendering:
    audio: np.ndarray  # (2, U) float32 at the ears; U = S, or the summed span lengths
    dry: np.ndarray | None = None  # (K, U) float32: source k's dry (mono) clip times its gain, same samples


def mono(clip: np.ndarray) -> np.ndarray:
    """A (S,) clip as it is; a (2, S) clip as the mean of its ears."""
    return clip if clip.ndim == 1 else clip.mean(axis=0)


def _take(x: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Samples of x (..., S) in the spans, concatenated along time (a new array)."""
    return np.concatenate([x[..., a:b] for a, b in spans.tolist()], axis=-1)


def _at_ears(source: Source, spans: np.ndarray, delay: int) -> np.ndarray:
    """(2, U) float32: one source through its BRIR (or as it is), on the spans."""
    clip = np.asarray(source.clip, np.float32)
    if source.brir is None:  # mono: on both ears; two-channel: as it is
        return _take(np.stack([clip, clip]) if clip.ndim == 1 else clip, spans)
    h = np.asarray(source.brir, np.float32)
    if source.taps is not None:
        h = h[..., : source.taps]
    return convolve_spans(mono(clip), h, spans, delay, trim=source.taps is None)


def render(
    sources: Sequence[Source | tuple],
    *,
    delay: int = 0,
    noise: np.ndarray | None = None,
    snr_db: float | None = None,
    spans: np.ndarray | None = None,
    dry_reference: bool = False,
) -> Rendering:
    """Dry sources (Source or (clip, brir[, gain[, taps]]) tuples, clips of one length S) in one scene ->
    Rendering (see the module docstring).

    delay: samples the convolved sources are taken earlier (sources without a BRIR are not shifted).
    noise: (2, >= S) binaural noise in any scale or storage dtype (the SNR sets its level), at the clip's
    samples; None: no noise. spans: (k, 2) sorted, disjoint [start, stop) sample ranges; None: the whole clip.
    """
    sources = [s if isinstance(s, Source) else Source(*s) for s in sources]
    if not sources:
        raise ValueError("render needs at least one source")
    length = {np.shape(s.clip)[-1] for s in sources}
    if len(length) != 1:
        raise ValueError(f"the sources' clips differ in length: {sorted(length)}")
    n = length.pop()
    spans = np.array([[0, n]], np.int64) if spans is None else np.asarray(spans, np.int64).reshape(-1, 2)
    audio = None
    for source in sources:
        part = _at_ears(source, spans, delay)
        if source.gain != 1.0:
            part *= np.float32(source.gain)
        audio = part if audio is None else np.add(audio, part, out=audio)
    if noise is not None:
        if snr_db is None:
            raise ValueError("noise needs an snr_db")
        audio = mix_at_snr(audio, to_float32(_take(noise, spans)), float(snr_db))
    dry = None
    if dry_reference:
        dry = np.stack(
            [_take(mono(np.asarray(s.clip, np.float32)), spans) * np.float32(s.gain) for s in sources]
        )
    return Rendering(np.asarray(audio, np.float32), dry)
