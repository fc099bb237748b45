"""A scene's noise made per clip, for banks without beds (`simulate-rirs --beds none`) or noise from a corpus:
a noise signal through the scene's noise-source BRIRs plus the room's diffuse part, as scenes/noise.py makes a
bed, but fresh for every clip.

    noise = SceneNoise(signals, DiffuseField.of(bank))
    noise(noise_brirs (K, 2, L), index, u, seed, n) -> (2, n) float32

Per clip (every random value from the clip's draws: index and u pick the recording and where in it, seed
the rest): each noise source gets a gain of -6..0 dB and the diffuse part a level of -12..0 dB re the
sources' sum, as in the beds. One recording plays at every source of the scene, as in the reference
recipe: then the sum over sources is that recording through the gain-weighted sum of the BRIRs, one
convolution per clip (render() of mix.py, the 'valid' part: no onset ramp) whatever the number of sources,
and one file read; the price is that the sources are coherent copies of one signal rather than independent
ones. The sources' sum is set to unit power, the diffuse part (scenes/diffuse.py: the head's diffuse-field
spectrum and interaural coherence, stored in the bank) to its level re that; a scene without noise sources
gets the diffuse part alone. The SNR then sets the whole noise's level against the clip (render()).

signals: anything with signal(index, u, rng, n) -> (n,) mono and len(): a NoiseCorpus
(data/noise_corpus.py) or BuiltinNoises (the procedural noises of the beds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wavjepa_nat.data.noise_corpus import NoiseCorpus
from wavjepa_nat.data.render.mix import Source, render
from wavjepa_nat.dsp import mean_power, trim_tail
from wavjepa_nat.errors import InputError
from wavjepa_nat.scenes.diffuse import stationary_binaural_noise
from wavjepa_nat.scenes.noise import BUILTIN_NOISES, builtin_noise

SOURCE_GAIN_DB = (-6.0, 0.0)  # per noise source, as scenes/noise.py's beds
DIFFUSE_DB = (-12.0, 0.0)  # the diffuse part re the sources' sum, as in the beds


@dataclass(frozen=True)
class DiffuseField:
    """A bank's diffuse field: per-ear power (2, F) and interaural coherence (F,) on scenes/diffuse.py's STFT
    grid, and the bank's rate."""

    fs: int
    power: np.ndarray
    coherence: np.ndarray

    @classmethod
    def of(cls, bank) -> DiffuseField:
        power, coherence = bank.diffuse_field()
        return cls(int(bank.fs), power, coherence)


class BuiltinNoises:
    """The beds' procedural noises (scenes/noise.py) as noise signals: one kind per clip, drawn."""

    def __init__(self, fs: int):
        self.fs = int(fs)

    def __len__(self) -> int:
        return 1

    def signal(self, index: int, u: float, rng: np.random.Generator, n: int) -> np.ndarray:
        kind = str(rng.choice(BUILTIN_NOISES))
        return builtin_noise(kind, rng, n, self.fs).astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    power = mean_power(x)
    return x * np.float32(1.0 / np.sqrt(power)) if power > 0 else x


class SceneNoise:
    """Noise signals + a bank's diffuse field -> the noise of one clip in a scene (see the module
    docstring)."""

    def __init__(self, signals, field: DiffuseField):
        self.signals, self.field = signals, field

    @classmethod
    def from_corpus(cls, bank, corpus: str, split: str, scenes=None, flag: str = "--noise") -> SceneNoise:
        """The corpus's `split` through a bank's scenes. InputError when none of `scenes` (default: all) has
        a noise source to play the recordings through."""
        n_noise = np.asarray(bank.meta["n_noise"])
        if not np.any((n_noise if scenes is None else n_noise[np.asarray(scenes, np.int64)]) > 0):
            raise InputError(
                f"{flag} {corpus}: the RIR bank {bank.path} has no noise-source BRIRs in the scenes used to "
                f"play the recordings through (made with --noise-sources 0..0); use a bank with noise sources"
            )
        return cls(NoiseCorpus(corpus, split, int(bank.fs)), DiffuseField.of(bank))

    def describe(self) -> str:
        what = repr(self.signals) if isinstance(self.signals, NoiseCorpus) else "built-in procedural noises"
        return f"{what}, one recording per clip through the scene's noise sources, plus the diffuse part"

    def __len__(self) -> int:
        """Recordings to draw an index from (SceneDraws.noise_rec)."""
        return len(self.signals)

    def parts(self, noise_brirs: np.ndarray, index: int, u: float, seed: int, n: int) -> NoiseParts:
        """Every random part of a clip's noise, before the arithmetic (mix_parts, or render.batch's
        scene_noise_torch on the device)."""
        rng = np.random.default_rng(int(seed))
        k = len(noise_brirs)
        gains = 10.0 ** (rng.uniform(*SOURCE_GAIN_DB, size=k) / 20.0)
        diffuse_gain = 10.0 ** (rng.uniform(*DIFFUSE_DB) / 20.0)
        if k:  # one recording at every source: through the gain-weighted sum of their BRIRs
            summed = np.einsum("k,kel->el", gains, np.asarray(noise_brirs, np.float64))
            h = trim_tail(summed.astype(np.float32))
            taps = max(h.shape[-1], 1)
            signal = self.signals.signal(index, u, rng, n + taps - 1)
        else:  # a scene without noise sources: the diffuse part alone, at unit power
            h, taps, signal, diffuse_gain = np.zeros((2, 0), np.float32), 0, np.zeros(0, np.float32), 1.0
        f = self.field
        diffuse = _unit(stationary_binaural_noise(rng, n, f.fs, f.power, f.coherence))
        diffuse *= np.float32(diffuse_gain)
        return NoiseParts(np.asarray(signal, np.float32), np.asarray(h[:, :taps], np.float32), diffuse)

    def __call__(self, noise_brirs: np.ndarray, index: int, u: float, seed: int, n: int) -> np.ndarray:
        return mix_parts(self.parts(noise_brirs, index, u, seed, n))


@dataclass
class NoiseParts:
    """A clip's noise before the arithmetic: noise = unit-power(signal through h, 'valid' part) + diffuse."""

    signal: np.ndarray  # (n + T - 1,) float32 mono recording segment; empty without noise sources
    h: np.ndarray  # (2, T) float32 the gain-weighted sum of the noise-source BRIRs; T = 0 without sources
    diffuse: np.ndarray  # (2, n) float32 the diffuse part at its level re the (unit-power) sources


def mix_parts(parts: NoiseParts) -> np.ndarray:
    """(2, n) float32: the noise of NoiseParts, in numpy (render() for the convolution)."""
    taps = parts.h.shape[-1]
    if taps == 0:
        return parts.diffuse
    n = parts.diffuse.shape[-1]
    point = render([Source(parts.signal, parts.h, taps=taps)], delay=taps - 1, spans=[[0, n]]).audio
    point = _unit(point)
    point += parts.diffuse
    return point
