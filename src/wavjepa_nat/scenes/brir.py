"""The fast BRIR engine: exact early reflections through the HRTF, a statistical late tail.

Early part: pyroomacoustics computes the image sources of the shoebox (positions and
per-band wall damping). Each image is rendered in the frequency domain as
    gain_band(f) / (4 pi r) * exp(-j 2 pi f r / c) * HRTF(direction in the head frame, f)
and all images are summed before one inverse FFT, so the cost is one matrix product.

Late part: once the echo density is high (the mixing time, here the time by which about
`early_images` echoes have arrived), the field is diffuse and only its statistics matter.
The tail is Gaussian noise shaped in the STFT domain with
  * the level of a diffuse field for this room: c / (4 pi V fs) per sample (the image
    density 4 pi c^3 t^2 / V times the image energy 1 / (4 pi c t)^2),
  * the per-band decay exp(-6.9 t / T(f)) from Eyring's formula with the room's absorption,
  * the head's diffuse-field spectrum and interaural coherence (from the HRTF itself).
Images and tail cross-fade over a few milliseconds around the mixing time.
"""

from __future__ import annotations

import numpy as np
import pyroomacoustics as pra

from wavjepa_nat.scenes.absorption import BAND_CENTERS, SPEED_OF_SOUND, air_absorption, solve_absorption
from wavjepa_nat.scenes.config import SceneConfig
from wavjepa_nat.scenes.diffuse import binaural_diffuse_noises, stft_freqs
from wavjepa_nat.scenes.hrtf import HRTF
from wavjepa_nat.scenes.sampler import Room, SceneSpec

FADE_S = 0.004  # cross-fade between image sources and the statistical tail
PRE_S = 0.004  # rendering head-room for the (zero-phase) wall filters' pre-ringing


def rotate_to_head(vectors: np.ndarray, yaw_deg: float) -> np.ndarray:
    """World vectors (n, 3) into the head frame of an upright head turned by yaw."""
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    x, y = vectors[:, 0], vectors[:, 1]
    return np.stack([c * x + s * y, -s * x + c * y, vectors[:, 2]], axis=1)


def interp_bands(
    band_values: np.ndarray, freqs: np.ndarray, centers: np.ndarray = BAND_CENTERS
) -> np.ndarray:
    """Per-band values (bands, ...) to a smooth function of frequency (..., F), linear in log f."""
    logf = np.log2(np.maximum(freqs, 1.0))
    return np.stack([np.interp(logf, np.log2(centers[: len(v)]), v) for v in np.atleast_2d(band_values.T)])


def band_basis(freqs: np.ndarray, centers: np.ndarray = BAND_CENTERS) -> np.ndarray:
    """(bands, F) functions with sum_b values[b] basis[b] == interp_bands(values, freqs, centers)[0]: the hat
    functions of linear interpolation in log f (constant beyond the first and last centre)."""
    return interp_bands(np.eye(len(centers)), freqs, centers)


class FastEngine:
    """Renders all BRIRs of a scene. One instance per process; caches the per-room absorption."""

    name = "fast"

    def __init__(self, cfg: SceneConfig, hrtf: HRTF):
        self.cfg, self.hrtf, self.fs = cfg, hrtf, cfg.fs
        self.length = cfg.brir_length
        self.air = air_absorption()
        self._rooms: dict[int, tuple[dict, np.ndarray]] = {}
        self._bases: dict[tuple, np.ndarray] = {}
        self.tail_freqs = stft_freqs(cfg.fs)
        self.tail_power, self.tail_coherence = hrtf.diffuse_field(np.maximum(self.tail_freqs, 1.0))

    def room_acoustics(self, room: Room) -> tuple[dict, np.ndarray]:
        """Absorption per surface and per-band RT60, solved for the room's target T_mid."""
        if room.room_id not in self._rooms:
            if len(self._rooms) > 64:
                self._rooms.clear()
            self._rooms[room.room_id] = solve_absorption(room.dims, room.shapes, room.rt60_target)
        return self._rooms[room.room_id]

    def render(self, spec: SceneSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """BRIRs (n_sources, 2, L) float32 (row 0 the target) and the room's acoustic facts."""
        alpha, band_rt60 = self.room_acoustics(spec.room)
        dims = spec.room.dims
        volume = float(np.prod(dims))
        # Mixing time: when about `early_images` echoes have arrived (image density 4 pi c^3 t^2 / V).
        t_mix = (3.0 * self.cfg.early_images * volume / (4 * np.pi)) ** (1 / 3) / SPEED_OF_SOUND
        direct = spec.distance_m / SPEED_OF_SOUND
        t_end = np.clip(t_mix, direct + 0.01, direct + 0.08)
        max_order = int(min(np.ceil(SPEED_OF_SOUND * (t_end.max() + FADE_S) / dims.min()) + 1, 25))

        room = pra.ShoeBox(
            dims,
            fs=self.fs,
            max_order=max_order,
            air_absorption=False,
            materials={
                s: pra.Material({"coeffs": alpha[s].tolist(), "center_freqs": BAND_CENTERS.tolist()})
                for s in alpha
            },
        )
        for pos in spec.sources:
            room.add_source(pos)
        room.add_microphone(spec.listener)
        room.image_source_model()

        tail_level = np.sqrt(SPEED_OF_SOUND / (4 * np.pi * volume * self.fs))
        # All sources' tails at once: one room, one decay (the draws are those of one tail after another).
        out = self._tails(band_rt60, tail_level, t_end, rng)
        for k, source in enumerate(room.sources):
            early = self._early(source.images.T, source.damping, spec, t_end[k], room.octave_bands.centers)
            out[k, :, : early.shape[1]] += early[:, : self.length]
        return out, {"alpha": alpha, "band_rt60": band_rt60, "t_mix": t_end}

    def _early(
        self, images: np.ndarray, damping: np.ndarray, spec: SceneSpec, t_end: float, centers: np.ndarray
    ) -> np.ndarray:
        vectors = images - spec.listener
        r = np.linalg.norm(vectors, axis=1)
        tau = r / SPEED_OF_SOUND
        keep = tau < t_end + FADE_S / 2
        vectors, r, tau, damping = vectors[keep], r[keep], tau[keep], damping[:, keep]
        fade = np.clip((t_end + FADE_S / 2 - tau) / FADE_S, 0.0, 1.0)

        pre = int(PRE_S * self.fs)
        # A power of two at or above what the images need: the wall filters' ringing wraps around this grid,
        # and a tighter one (dsp.fft_len) moves short-RT60 scenes' measured T30 by several per cent.
        n_fft = 1 << int(np.ceil(np.log2((t_end + FADE_S) * self.fs + 2 * pre + 256)))
        # pyroomacoustics' bands follow fs (8 at 32 kHz, one more than the air table): the top band's air
        # absorption continues above it.
        air = np.pad(self.air, (0, max(0, len(damping) - len(self.air))), mode="edge")[: len(damping)]
        band_gain = damping * np.exp(-0.5 * air[:, None] * r[None, :])  # (bands, n)
        weights = band_gain * (fade / (4 * np.pi * r))[None, :]
        # pyroomacoustics has fewer bands at low rates (6 at 8 kHz): interpolate on its own centres.
        basis = self._basis(n_fft, np.asarray(centers, dtype=np.float64))
        directions = rotate_to_head(vectors / r[:, None], spec.yaw_deg)
        spectrum = self.hrtf.render_images(directions, tau + pre / self.fs, weights, basis, self.fs / n_fft)
        return np.fft.irfft(spectrum, n_fft, axis=-1)[:, pre:]

    def _basis(self, n_fft: int, centers: np.ndarray) -> np.ndarray:
        """band_basis on the rfft grid of n_fft, cached (a few FFT sizes recur)."""
        key = (n_fft, centers.tobytes())
        if key not in self._bases:
            # float32: the gains it makes are float32 (hrtf.render_images); a float32 product is half the cost
            self._bases[key] = band_basis(np.fft.rfftfreq(n_fft, 1.0 / self.fs), centers).astype(np.float32)
        return self._bases[key]

    def _tails(
        self, band_rt60: np.ndarray, level: float, t_end: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The statistical tails (sources, 2, L) of sources whose images end at t_end (sources,)."""
        rt60 = interp_bands(band_rt60, self.tail_freqs)[0]
        power = level**2 * self.tail_power
        tails = binaural_diffuse_noises(
            rng, len(t_end), self.length, self.fs, power, self.tail_coherence, rt60
        )
        # The fade-in ends at t_end + FADE_S / 2 (< 0.1 s): only the samples before it are scaled.
        stop = min(int(np.ceil((np.max(t_end) + FADE_S / 2) * self.fs)) + 1, self.length)
        t = np.arange(stop) / self.fs
        ramp = np.clip((t - (np.asarray(t_end)[:, None, None] - FADE_S / 2)) / FADE_S, 0.0, 1.0)
        tails[..., :stop] *= ramp.astype(np.float32)
        return tails
