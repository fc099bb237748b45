"""Head-related transfer functions: an analytic rigid sphere and measured SOFA sets.

Every HRTF answers one question: for unit directions in the *head* frame
(x forward, y left, z up; azimuth +90 deg = left), what are the left/right ear spectra
at the given frequencies, with time zero at the head centre? Rendering then multiplies
by each path's delay and gain. Both models are normalised so that the diffuse-field
power at low frequencies is 1 (a free-field omni microphone would be 1 everywhere),
which keeps levels comparable across heads.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from scipy.signal import butter, sosfiltfilt
from scipy.sparse import csr_matrix

from wavjepa_nat.dsp import resample
from wavjepa_nat.errors import InputError

SPEED_OF_SOUND = 343.0
KEMAR_PATH = Path("/usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa")
LEFT_EAR = np.array([0.0, 1.0, 0.0])
LF_CROSSOVER = 250.0  # Hz: measured HRTFs are continued below this (see SofaHRTF._grid_spectra)


def fibonacci_sphere(n: int) -> np.ndarray:
    """n nearly uniform unit vectors (n, 3); used for diffuse-field averages."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5.0**0.5) * k
    r = np.sqrt(1.0 - z**2)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def delay_phases(delays: np.ndarray, df: float, n_bins: int, dtype=np.complex128) -> np.ndarray:
    """exp(-2j pi k df t) for each delay t (n,) and bin k < n_bins: (n, n_bins) of dtype.

    Factored as exp(-2j pi (q m) df t) exp(-2j pi r df t) with k = q m + r: two small tables of
    exponentials (in float64) and one complex product per element, instead of one complex exponential
    per element.
    """
    t = -2 * np.pi * df * np.asarray(delays, dtype=np.float64)
    m = max(1, int(np.sqrt(n_bins)))
    q = -(-n_bins // m)
    fine = _powers(np.exp(1j * t), m)
    coarse = _powers(np.exp(1j * t * m), q)
    table = coarse.astype(dtype, copy=False)[:, :, None] * fine.astype(dtype, copy=False)[:, None, :]
    return table.reshape(len(t), q * m)[:, :n_bins]


def _powers(base: np.ndarray, count: int) -> np.ndarray:
    """base ** k for k < count (n, count) complex128, by running products: the trigonometric functions of
    large angles cost ~20 ns each; the products' rounding (~count x 1e-16) is far below complex64."""
    out = np.empty((len(base), count), np.complex128)
    out[:, 0] = 1.0
    out[:, 1:] = base[:, None]
    return np.cumprod(out, axis=1, out=out)


def directions_to_unit(azimuth_deg, elevation_deg) -> np.ndarray:
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


@dataclass
class HRTF(ABC):
    """Base class. Subclasses implement `spectra`."""

    name: str
    fs: int
    sha256: str
    _diffuse_cache: dict = field(default_factory=dict, repr=False)

    @abstractmethod
    def spectra(self, directions: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Complex (n, 2, F) ear spectra for unit directions (n, 3), time zero at the head centre."""

    def render_paths(self, directions: np.ndarray, path_spectra: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        """Sum of sound paths at the ears (2, F): each path's spectrum (n, F) through the HRTF of its
        direction."""
        return np.einsum("nf,nef->ef", path_spectra, self.spectra(directions, freqs))

    def render_images(
        self, directions: np.ndarray, delays: np.ndarray, weights: np.ndarray, basis: np.ndarray, df: float
    ) -> np.ndarray:
        """Sum at the ears (2, F) of image sources on the FFT grid f_k = k df (k < F = basis.shape[1]).

        Image i arrives from unit direction directions[i] (head frame) after delays[i] seconds with gain
        sum_b weights[b, i] basis[b, f]: per-band gains times smooth band functions (see band_basis).
        """
        # complex64: each path's rounding error (~1e-7) is far below the float32 of the stored response.
        gains = (weights.T.astype(basis.dtype) @ basis).astype(np.float32, copy=False)
        paths = gains * delay_phases(delays, df, basis.shape[1], np.complex64)
        return self.render_paths(directions, paths, np.arange(basis.shape[1]) * df)

    def diffuse_field(self, freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Diffuse-field power per ear (2, F) and interaural coherence (F,).

        Both follow from the definition: averages over directions uniformly covering the
        sphere. The coherence gives the late reverberation its binaural character
        (near 1 at low frequencies, small above ~1.5 kHz).
        """
        key = (len(freqs), float(freqs[-1]))
        if key not in self._diffuse_cache:
            h = self.spectra(fibonacci_sphere(512), freqs)
            power = np.mean(np.abs(h) ** 2, axis=0)
            cross = np.mean(h[:, 0] * np.conj(h[:, 1]), axis=0)
            coherence = np.real(cross) / np.sqrt(power[0] * power[1] + 1e-20)
            self._diffuse_cache[key] = (power, np.clip(coherence, -1.0, 1.0))
        return self._diffuse_cache[key]


@dataclass
class SphericalHead(HRTF):
    """Rigid sphere: Woodworth ITD and the Brown & Duda (1998) one-pole/one-zero head shadow.

    The ears sit at +-90 deg azimuth. For incidence angle theta between the source direction
    and the ear axis, the shadow filter is (1 + j a(theta) w / 2w0) / (1 + j w / 2w0) with
    w0 = c / radius: +6 dB at high frequencies facing the ear, about -11 dB behind it.
    """

    radius: float = 0.0875

    def ear_terms(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per direction (n, 3) and ear: the shadow filter's high-frequency gain alpha (n, 2) and the
        Woodworth delay (n, 2, seconds re the head centre)."""
        directions = np.atleast_2d(directions)
        cos_theta = np.clip(directions @ np.stack([LEFT_EAR, -LEFT_EAR], axis=1), -1.0, 1.0)
        theta = np.arccos(cos_theta)  # 0 = facing the ear
        alpha_min, theta_min = 0.1, np.radians(150.0)
        alpha = (1 + alpha_min / 2) + (1 - alpha_min / 2) * np.cos(theta / theta_min * np.pi)
        a_c = self.radius / SPEED_OF_SOUND
        delay = np.where(theta < np.pi / 2, -a_c * cos_theta, a_c * (theta - np.pi / 2))
        return alpha, delay

    def lowpass(self, freqs: np.ndarray) -> np.ndarray:
        """The one-pole part of the shadow filter: shadow = alpha + (1 - alpha) * lowpass."""
        omega = 2 * np.pi * np.asarray(freqs, dtype=np.float64)
        return 1.0 / (1 + 1j * omega * self.radius / (2 * SPEED_OF_SOUND))

    def spectra(self, directions: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        omega = 2 * np.pi * np.asarray(freqs, dtype=np.float64)
        alpha, delay = self.ear_terms(directions)
        # (1 + j alpha w / 2w0) / (1 + j w / 2w0) == alpha + (1 - alpha) / (1 + j w / 2w0)
        shadow = alpha[..., None] + (1 - alpha[..., None]) * self.lowpass(freqs)
        return shadow * np.exp(-1j * omega * delay[..., None])

    def render_images(
        self, directions: np.ndarray, delays: np.ndarray, weights: np.ndarray, basis: np.ndarray, df: float
    ) -> np.ndarray:
        # shadow = alpha + (1 - alpha) L(f) with one L for all directions: per ear, two weighted sums of the
        # images' delayed, band-shaped spectra, then one multiplication by L. No per-image filter.
        n_bins = basis.shape[1]
        alpha, delay = self.ear_terms(directions)
        gains = (weights.T.astype(basis.dtype) @ basis).astype(np.float32, copy=False)  # (n, F), as above
        out = np.empty((2, n_bins), np.complex128)
        low = self.lowpass(np.arange(n_bins) * df)
        for ear in range(2):
            paths = gains * delay_phases(delays + delay[:, ear], df, n_bins, np.complex64)
            mix = np.stack([alpha[:, ear], 1 - alpha[:, ear]]).astype(np.float32)
            flat = mix @ paths.view(np.float32)  # real mixing weights times complex rows, as one real product
            both = flat.view(np.complex64).astype(np.complex128)
            out[ear] = both[0] + low * both[1]
        return out


@dataclass
class SofaHRTF(HRTF):
    """A measured SimpleFreeFieldHRIR set, resampled to the bank rate, bulk delay removed.

    Directions are looked up by nearest neighbour on the measurement grid (MIT KEMAR:
    710 directions, ~5-10 deg apart), which is finer than the angular blur of a room.
    """

    grid: np.ndarray = None  # (M, 3) unit vectors, head frame
    hrirs: np.ndarray = None  # (M, 2, N) float64 at fs, head centre at sample `pre`
    pre: int = 0
    lf_gain: np.ndarray = None  # (M, 2) magnitude at LF_CROSSOVER, continued below it
    lf_delay: np.ndarray = None  # (M, 2) seconds re the head centre (low-passed peak)
    _spectra_cache: dict = field(default_factory=dict, repr=False)

    def spectra(self, directions: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        return self._grid_spectra(freqs)[self.nearest(directions)]

    def nearest(self, directions: np.ndarray) -> np.ndarray:
        return np.argmax(np.atleast_2d(directions) @ self.grid.T, axis=1)

    def render_paths(self, directions: np.ndarray, path_spectra: np.ndarray, freqs: np.ndarray) -> np.ndarray:
        # Paths that share a measured direction are summed first (a sparse one-hot product), so
        # the cost grows with the number of distinct directions, not with paths x frequencies.
        used, slot = np.unique(self.nearest(directions), return_inverse=True)
        onehot = csr_matrix((np.ones(len(slot)), (slot, np.arange(len(slot)))), shape=(len(used), len(slot)))
        summed = onehot @ path_spectra  # (n_used, F)
        grid = self._grid_spectra(freqs)
        if path_spectra.dtype == np.complex64:  # the image renderer's precision: a complex64 copy of the grid
            key = (len(freqs), float(freqs[-1]), "c64")
            if key not in self._spectra_cache:
                self._spectra_cache[key] = grid.astype(np.complex64)
            grid = self._spectra_cache[key]
        spectra = grid[used]  # (n_used, 2, F)
        return (summed[:, None, :] * spectra).sum(axis=0)

    def _grid_spectra(self, freqs: np.ndarray) -> np.ndarray:
        key = (len(freqs), float(freqs[-1]))
        if key not in self._spectra_cache:
            # DFT at arbitrary frequencies (not only FFT bins), shifted so t=0 is the head centre.
            t = (np.arange(self.hrirs.shape[-1]) - self.pre) / self.fs
            basis = np.exp(-2j * np.pi * np.outer(t, freqs))  # (N, F)
            measured = self.hrirs @ basis
            # Low-frequency extension: measured sets lack energy below ~150 Hz (loudspeaker
            # roll-off), where a real head is acoustically transparent: continue the magnitude
            # at the crossover with a pure delay, blended over 150-300 Hz.
            w = np.clip(np.log2(np.maximum(freqs, 1.0) / 150.0), 0.0, 1.0)
            w = 0.5 - 0.5 * np.cos(np.pi * w)  # 0 below 150 Hz, 1 above 300 Hz
            lf = self.lf_gain[..., None] * np.exp(-2j * np.pi * self.lf_delay[..., None] * freqs)
            self._spectra_cache[key] = w * measured + (1 - w) * lf
        return self._spectra_cache[key]


def read_sofa(path: str | Path, fs: int) -> SofaHRTF:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"HRTF file not found: {path}")
    try:
        with h5py.File(path, "r") as f:
            convention = f.attrs.get("SOFAConventions", b"")
            convention = convention.decode() if isinstance(convention, bytes) else str(convention)
            if convention != "SimpleFreeFieldHRIR":
                raise InputError(
                    f"{path} is a SOFA file of convention '{convention}', not SimpleFreeFieldHRIR"
                )
            ir = np.asarray(f["Data.IR"][()], dtype=np.float64)
            file_fs = float(np.ravel(f["Data.SamplingRate"][()])[0])
            pos = np.asarray(f["SourcePosition"][()], dtype=np.float64)
            pos_type = f["SourcePosition"].attrs.get("Type", b"spherical")
            receivers = np.asarray(f["ReceiverPosition"][()], dtype=np.float64).reshape(-1, 3)
    except InputError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError) as err:
        raise InputError(f"{path} is not a readable SOFA HRTF file ({type(err).__name__}: {err})") from None
    _check_sofa(path, ir, file_fs, pos, fs)
    file_fs = int(round(file_fs))
    if receivers.shape[0] == 2 and receivers[0, 1] < receivers[1, 1]:
        ir = ir[:, ::-1]  # receiver 0 must be the left ear (positive y)
    if (pos_type.decode() if isinstance(pos_type, bytes) else str(pos_type)) == "cartesian":
        grid = pos / np.linalg.norm(pos, axis=1, keepdims=True)
    else:
        grid = directions_to_unit(pos[:, 0], pos[:, 1])

    ir = resample(ir, file_fs, fs, axis=-1).astype(np.float64)
    # Remove the bulk (measurement) delay: put the median over directions of the mean of the
    # two ears' low-passed peaks at `pre`, so t = 0 is the arrival at the head centre.
    peak = _lowpass_peak_times(ir, fs)  # (M, 2) samples
    bulk = int(np.round(np.median(peak.mean(axis=1))))
    pre = int(np.ceil(0.001 * fs))  # 1 ms before the centre holds the ipsilateral ear's lead
    shift = pre - bulk
    ir = np.roll(ir, shift, axis=-1)
    if shift > 0:
        ir[..., :shift] = 0.0
    elif shift < 0:
        ir[..., shift:] = 0.0
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    lf_delay = (_lowpass_peak_times(ir, fs) - pre) / fs
    t = (np.arange(ir.shape[-1]) - pre) / fs
    lf_gain = np.abs(ir @ np.exp(-2j * np.pi * t * LF_CROSSOVER))
    hrtf = SofaHRTF(
        name=path.stem, fs=fs, sha256=sha, grid=grid, hrirs=ir, pre=pre, lf_gain=lf_gain, lf_delay=lf_delay
    )
    _normalise_low_frequency(hrtf)
    return hrtf


MIN_HRIR_SECONDS = 0.002  # shorter responses cannot hold a head's delays and filtering


def _check_sofa(path: Path, ir: np.ndarray, file_fs: float, pos: np.ndarray, fs: int) -> None:
    """Refuse a SOFA file whose data would give NaN, silent or meaningless BRIRs (naming the file)."""
    if ir.ndim != 3 or ir.shape[1] != 2 or ir.shape[0] < 1:
        raise InputError(f"{path}: expected Data.IR of shape (M directions, 2 ears, N taps), got {ir.shape}")
    if not (np.isfinite(file_fs) and file_fs >= 1000):
        raise InputError(f"{path}: Data.SamplingRate must be a rate of at least 1000 Hz, got {file_fs:g}")
    n_min = int(np.ceil(MIN_HRIR_SECONDS * file_fs))
    if ir.shape[2] * fs / file_fs < max(n_min * fs / file_fs, 16):
        raise InputError(
            f"{path}: HRIRs of {ir.shape[2]} samples at {file_fs:g} Hz are too short "
            f"(at least {MIN_HRIR_SECONDS * 1000:g} ms are needed)"
        )
    bad = int(ir.size - np.count_nonzero(np.isfinite(ir)))
    if bad:
        raise InputError(f"{path}: Data.IR holds {bad} non-finite value(s) (NaN or inf)")
    if not np.any(ir):
        raise InputError(f"{path}: Data.IR is all zeros")
    if pos.ndim != 2 or pos.shape[0] != ir.shape[0] or pos.shape[1] < 2 or not np.isfinite(pos).all():
        raise InputError(
            f"{path}: SourcePosition must hold one finite position per measured direction "
            f"({ir.shape[0]}), got shape {pos.shape}"
        )


def _lowpass_peak_times(ir: np.ndarray, fs: int) -> np.ndarray:
    """Sub-sample peak time of each HRIR after a 1.5 kHz low-pass: the arrival of the bulk of the wave."""
    smooth = np.abs(sosfiltfilt(butter(2, 1500.0, fs=fs, output="sos"), ir, axis=-1))
    return np.argmax(smooth, axis=-1).astype(np.float64)


def _normalise_low_frequency(hrtf: HRTF) -> None:
    """Scale so that the diffuse-field power between 150 and 500 Hz is 1, as for the sphere."""
    freqs = np.linspace(150.0, 500.0, 8)
    power, _ = hrtf.diffuse_field(freqs)
    hrtf.hrirs = hrtf.hrirs / np.sqrt(power.mean())
    hrtf.lf_gain = hrtf.lf_gain / np.sqrt(power.mean())
    hrtf._diffuse_cache.clear()
    hrtf._spectra_cache.clear()


def load_hrtf(spec: str, fs: int) -> HRTF:
    """'spherical' (analytic, the default), 'kemar' (Debian libmysofa1), or a path to a .sofa file."""
    if spec == "spherical":
        return SphericalHead(name="spherical", fs=fs, sha256=hashlib.sha256(b"spherical:0.0875").hexdigest())
    if spec == "kemar":
        if not KEMAR_PATH.is_file():
            raise InputError(f"--hrtf kemar needs {KEMAR_PATH} (apt-get install libmysofa1)")
        return read_sofa(KEMAR_PATH, fs)
    if not spec.lower().endswith(".sofa"):
        raise InputError(f"--hrtf must be 'spherical', 'kemar' or a path to a .sofa file, got '{spec}'")
    return read_sofa(spec, fs)
