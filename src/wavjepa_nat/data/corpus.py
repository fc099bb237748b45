"""A built-in labelled corpus that needs no download: procedural sound events (+ spoken words).

`make_corpus(out_dir, CorpusConfig(...))` writes

    out_dir/<class>/<class>_0000.wav ...   16-bit WAV, one folder per class
    out_dir/manifest.csv                   path,label,split (seeded split, stratified per class)
    out_dir/corpus.json                    config, classes, counts, package version

The 12 procedural classes differ in pitch range, timbre (harmonic, inharmonic, noise), spectral
movement (sweeps, FM, AM) and temporal structure (single events, sparse hits, regular pulses at two
tempos). Within a class pitch, timbre, envelope, timing, event count and level vary per clip, and every
clip gets a faint pink background. Levels are drawn from the same range for every class, and training
re-normalises them anyway, so level alone does not give the class away.

Where Debian's `espeak-ng` is installed, `speech="auto"` adds spoken-word classes ("yes", "no", "up",
"down") in many voices, speeds and pitches.

Defaults (40 clips x 4 s per class, 16 kHz): 480 procedural clips (~60 MB), plus 40 clips per spoken
word class; every clip is a pure function of (seed, class, index).
"""

from __future__ import annotations

import csv
import json
import math
import numbers
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from wavjepa_nat.checks import check_disk, check_memory, check_output_dir
from wavjepa_nat.data.splits import stratified_split
from wavjepa_nat.dsp import clip_rng, resample
from wavjepa_nat.errors import InputError
from wavjepa_nat.files import as_user_made, errors_name
from wavjepa_nat.progress import progress_bar
from wavjepa_nat.scenes.config import SPLITS
from wavjepa_nat.scenes.noise import builtin_noise
from wavjepa_nat.serialise import config_dict

LEVEL_RANGE_DB = (-40.0, -30.0)  # RMS dBFS of written clips: same for all classes; impacts (crest
# factor up to ~32 dB) then peak below -8 dBFS, so peak limiting, which would leak the class, never acts
BACKGROUND_SNR_DB = (25.0, 45.0)  # faint pink background below the events
DEFAULT_WORDS = ("yes", "no", "up", "down")
VOICE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2")


MIN_SECONDS = 0.1
MIN_FS = 8000
MAX_FS = 192000
CLIP_MEMORY_ARRAYS = 12  # float64 arrays of a clip's length alive at once while one clip is made


@dataclass(frozen=True)
class CorpusConfig:
    """What the corpus holds (stored in corpus.json; an existing corpus is reused only when it matches).

    `speech="auto"` means "when espeak-ng is installed" and is resolved to True or False on construction;
    speech=True without espeak-ng is an InputError."""

    n_per_class: int = 40  # >= 3: every class gets train, val and test clips
    seconds: float = 4.0
    fs: int = 16000
    seed: int = 0
    speech: bool | str = "auto"
    words: tuple[str, ...] = DEFAULT_WORDS

    def __post_init__(self) -> None:
        if not _whole(self.n_per_class) or self.n_per_class < 3:
            raise InputError(
                "--n-per-class (CorpusConfig.n_per_class) must be at least 3 so that every "
                f"class has train, val and test clips, got {self.n_per_class!r}"
            )
        if not _real(self.seconds) or self.seconds < MIN_SECONDS:
            raise InputError(
                f"--seconds (CorpusConfig.seconds) must be at least {MIN_SECONDS} s, got {self.seconds!r}"
            )
        if not _whole(self.fs) or not MIN_FS <= self.fs <= MAX_FS:
            raise InputError(f"--fs (CorpusConfig.fs) must be {MIN_FS}..{MAX_FS} Hz, got {self.fs!r}")
        if not _whole(self.seed) or self.seed < 0:
            raise InputError(f"--seed (CorpusConfig.seed) must be a whole number >= 0, got {self.seed!r}")
        if self.speech not in (True, False, "auto"):
            raise InputError(f"CorpusConfig.speech must be True, False or 'auto', got {self.speech!r}")
        words = tuple(self.words) if isinstance(self.words, (list, tuple)) else None
        if (
            not words
            or len(set(words)) != len(words)
            or not all(isinstance(w, str) and re.fullmatch(r"[\w'-]+", w) for w in words)
        ):
            raise InputError(
                "CorpusConfig.words must be distinct words of letters, digits, ' or - "
                f"(each names a class folder), got {self.words!r}"
            )
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "speech", resolve_speech(self.speech))


def _whole(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------- building blocks (vectorised numpy)


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _envelope(length: int, fs: int, attack: float, release: float) -> np.ndarray:
    """Linear attack, flat, linear release over `length` samples."""
    t = np.arange(length) / fs
    dur = length / fs
    return np.clip(t / max(attack, 1e-4), 0, 1) * np.clip((dur - t) / max(release, 1e-4), 0, 1)


def _add(out: np.ndarray, x: np.ndarray, onset: int) -> None:
    end = min(len(out), onset + len(x))
    if end > onset:
        out[onset:end] += x[: end - onset]


def _onset(rng, n: int, length: int) -> int:
    return int(rng.integers(0, max(1, n - length)))


def _harmonic_stack(freq: np.ndarray, amps: np.ndarray, fs: int, rng) -> np.ndarray:
    """Sum of harmonics k*freq(t) with amplitudes amps[k-1]; harmonics above 0.45 fs are muted per sample."""
    k = np.arange(1, len(amps) + 1)[:, None]
    phase = 2 * np.pi * np.cumsum(freq) / fs
    audible = (k * freq[None, :]) < 0.45 * fs
    phi = rng.uniform(0, 2 * np.pi, size=(len(amps), 1))
    return np.sum(amps[:, None] * audible * np.sin(k * phase[None, :] + phi), axis=0)


def _band_noise(rng, n: int, fs: int, lo: float, hi: float) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / fs)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def _modes(rng, length: int, fs: int, freqs, taus, amps) -> np.ndarray:
    """Decaying modal resonances (an ideal struck object): sum_m a_m exp(-t/tau_m) sin(2 pi f_m t)."""
    t = np.arange(length) / fs
    f, tau, a = (np.asarray(v, dtype=float)[:, None] for v in (freqs, taus, amps))
    a = a * (f < 0.45 * fs)
    phi = rng.uniform(0, 2 * np.pi, size=f.shape)
    return np.sum(a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + phi), axis=0)


# ---------------------------------------------------------------- the procedural classes


def _tone(rng, n, fs, f_lo, f_hi, amps_fn, dur, breath=0.0):
    out = np.zeros(n)
    f_center = _loguniform(rng, f_lo, f_hi)
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.uniform(*dur) * fs)
        t = np.arange(length) / fs
        f0 = f_center * 2 ** (rng.uniform(-5, 5) / 12)
        vibrato = 1 + rng.uniform(0, 0.01) * np.sin(2 * np.pi * rng.uniform(4, 6.5) * t)
        x = _harmonic_stack(f0 * vibrato, amps_fn(rng), fs, rng)
        if breath:
            x = x + breath * _band_noise(rng, length, fs, 2000, 0.45 * fs) * np.std(x)
        env = _envelope(length, fs, rng.uniform(0.01, 0.1), rng.uniform(0.05, 0.3))
        _add(out, x * env * rng.uniform(0.6, 1.0), _onset(rng, n, length))
    return out


def tone_low(rng, n, fs):
    """Brass/bowed-like: f0 70-180 Hz, rich sawtooth-like spectrum."""
    return _tone(rng, n, fs, 70, 180, lambda r: np.arange(1, 31.0) ** -r.uniform(0.8, 1.4), (0.4, 1.5))


def tone_high(rng, n, fs):
    """Flute/whistle-like: f0 500-1400 Hz, few harmonics, breath noise."""

    def amps(r):
        return np.array([1.0, r.uniform(0.1, 0.4), r.uniform(0.0, 0.15)])

    return _tone(rng, n, fs, 500, 1400, amps, (0.2, 1.0), breath=0.05)


def _chirp(rng, n, fs, up: bool):
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 3))):
        f_a, f_b = _loguniform(rng, 150, 500), _loguniform(rng, 2000, min(6000, 0.4 * fs))
        if not up:
            f_a, f_b = f_b, f_a
        length = int(rng.uniform(0.3, 1.5) * fs)
        freq = f_a * (f_b / f_a) ** (np.arange(length) / length)  # exponential sweep
        x = _harmonic_stack(freq, np.array([1.0, rng.uniform(0, 0.3)]), fs, rng)
        _add(out, x * _envelope(length, fs, 0.01, 0.05), _onset(rng, n, length))
    return out


def chirp_up(rng, n, fs):
    """Rising exponential sweeps (150-500 Hz -> 2-6 kHz)."""
    return _chirp(rng, n, fs, up=True)


def chirp_down(rng, n, fs):
    """Falling exponential sweeps."""
    return _chirp(rng, n, fs, up=False)


def knock(rng, n, fs):
    """1-4 irregular wooden hits: a few inharmonic, fast-decaying modes plus a contact click."""
    out = np.zeros(n)
    base = _loguniform(rng, 250, 1200)
    ratios = np.array([1.0, rng.uniform(1.5, 2.9), rng.uniform(3.0, 5.5), rng.uniform(5.5, 9.0)])
    length = int(0.3 * fs)
    for _ in range(int(rng.integers(1, 5))):
        hit = _modes(rng, length, fs, base * ratios, rng.uniform(0.01, 0.05, 4), 1 / (1 + np.arange(4)))
        click = _band_noise(rng, length, fs, 1000, 0.45 * fs) * np.exp(-np.arange(length) / (0.001 * fs))
        _add(out, (hit + 0.3 * click) * rng.uniform(0.5, 1.0), _onset(rng, n, length))
    return out


def bell(rng, n, fs):
    """1-2 bell strikes: long-ringing inharmonic partials (hum, prime, tierce, quint, nominal...)."""
    out = np.zeros(n)
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 2.66, 3.0])
    base = _loguniform(rng, 300, 900)
    length = min(n, int(2.0 * fs))
    for _ in range(int(rng.integers(1, 3))):
        freqs = base * ratios * (1 + rng.uniform(-0.01, 0.01, len(ratios)))
        taus = rng.uniform(0.4, 1.5) / (1 + 0.4 * np.arange(len(ratios)))
        x = _modes(rng, length, fs, freqs, taus, rng.uniform(0.3, 1.0, len(ratios)))
        _add(out, x, _onset(rng, n, length // 2))
    return out


def _noise_bursts(rng, n, fs, lo, hi):
    out = np.zeros(n)
    band = _band_noise(rng, n, fs, lo, hi)
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.uniform(0.3, 1.5) * fs)
        onset = _onset(rng, n, length)
        env = _envelope(length, fs, rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.3))
        _add(out, band[onset : onset + length] * env[: n - onset], onset)
    return out


def noise_low(rng, n, fs):
    """Rumble: noise bursts band-limited to roughly 40-120 .. 250-500 Hz."""
    return _noise_bursts(rng, n, fs, rng.uniform(40, 120), rng.uniform(250, 500))


def noise_high(rng, n, fs):
    """Hiss: noise bursts band-limited to roughly 2.5-4 .. 5-7.5 kHz (capped below Nyquist)."""
    hi = min(rng.uniform(5000, 7500), 0.47 * fs)
    return _noise_bursts(rng, n, fs, min(rng.uniform(2500, 4000), 0.6 * hi), hi)


def _pulses(rng, n, fs, rate_lo, rate_hi):
    """A regular train of identical clicks (filtered, decaying noise) with small timing jitter."""
    rate = rng.uniform(rate_lo, rate_hi)
    start = rng.uniform(0, 0.5)
    stop = start + rng.uniform(0.6, 1.0) * (n / fs - start)
    times = np.arange(start, stop, 1 / rate)
    times = times + rng.normal(0, 0.02 / rate, size=len(times))
    idx = np.clip((times * fs).astype(int), 0, n - 1)
    train = np.zeros(n)
    np.add.at(train, idx, rng.uniform(0.7, 1.0, len(idx)))
    klen = int(0.05 * fs)
    center = _loguniform(rng, 800, 3000)
    kernel = _band_noise(rng, klen, fs, center / 1.5, min(center * 1.5, 0.45 * fs))
    kernel *= np.exp(-np.arange(klen) / (rng.uniform(0.005, 0.015) * fs))
    return fftconvolve(train, kernel)[:n]


def pulses_slow(rng, n, fs):
    """Clicks at 1.5-3 per second."""
    return _pulses(rng, n, fs, 1.5, 3.0)


def pulses_fast(rng, n, fs):
    """Clicks at 6-12 per second."""
    return _pulses(rng, n, fs, 6.0, 12.0)


def tremolo(rng, n, fs):
    """Amplitude-modulated tones: carrier 300-2000 Hz, AM at 4-16 Hz."""
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.uniform(0.5, 2.0) * fs)
        t = np.arange(length) / fs
        x = _harmonic_stack(
            np.full(length, _loguniform(rng, 300, 2000)), np.array([1.0, rng.uniform(0, 0.2)]), fs, rng
        )
        am = 1 - rng.uniform(0.7, 1.0) * 0.5 * (1 - np.cos(2 * np.pi * rng.uniform(4, 16) * t))
        _add(out, x * am * _envelope(length, fs, 0.03, 0.1), _onset(rng, n, length))
    return out


def siren(rng, n, fs):
    """Frequency-modulated tone: center 500-1500 Hz swept +-15-40 % at 0.5-3 Hz."""
    length = int(min(rng.uniform(1.0, 3.0), n / fs) * fs)
    t = np.arange(length) / fs
    center = _loguniform(rng, 500, 1500)
    freq = center * (
        1 + rng.uniform(0.15, 0.4) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * t + rng.uniform(0, 6.3))
    )
    x = _harmonic_stack(freq, np.array([1.0, 0.0, rng.uniform(0, 0.3)]), fs, rng)
    out = np.zeros(n)
    _add(out, x * _envelope(length, fs, 0.05, 0.1), _onset(rng, n, length))
    return out


PROCEDURAL_CLASSES: dict[str, Callable] = {
    f.__name__: f
    for f in (
        tone_low,
        tone_high,
        chirp_up,
        chirp_down,
        knock,
        bell,
        noise_low,
        noise_high,
        pulses_slow,
        pulses_fast,
        tremolo,
        siren,
    )
}


# ---------------------------------------------------------------- speech (espeak-ng)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _speak(word: str, voice: str, speed: int, pitch: int, path: Path) -> None:
    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), word]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


def _speech_params(rng) -> tuple[str, int, int]:
    voice = f"{rng.choice(['en', 'en-us'])}+{rng.choice(VOICE_VARIANTS)}"
    return voice, int(rng.integers(110, 221)), int(rng.integers(20, 81))


# ---------------------------------------------------------------- assembling clips


def _finish(event: np.ndarray, rng, fs: int) -> np.ndarray:
    """Add a faint pink background and set a level drawn from the same range for every class."""
    event_rms = np.sqrt(np.mean(event**2)) + 1e-12
    snr = rng.uniform(*BACKGROUND_SNR_DB)
    x = event + builtin_noise("pink", rng, len(event), fs) * event_rms * 10 ** (-snr / 20)
    x *= 10 ** (rng.uniform(*LEVEL_RANGE_DB) / 20) / np.sqrt(np.mean(x**2))
    peak = np.max(np.abs(x))
    if peak > 0.99:  # never clip the 16-bit file; rare with the headroom above
        x *= 0.99 / peak
    return x.astype(np.float32)


def resolve_speech(speech: bool | str) -> bool:
    if speech == "auto":
        return espeak_available()
    if speech is True and not espeak_available():
        raise InputError("speech classes need the espeak-ng binary (Debian: apt-get install espeak-ng)")
    return bool(speech)


def corpus_classes(cfg: CorpusConfig) -> list[str]:
    words = [f"word_{w}" for w in cfg.words] if cfg.speech else []
    return list(PROCEDURAL_CLASSES) + words


def default_corpus_dir() -> Path:
    """Cache folder for open_source('builtin'): $WAVJEPA_NAT_CACHE or ~/.cache/wavjepa-nat."""
    from wavjepa_nat.version import package_version

    base = Path(os.environ.get("WAVJEPA_NAT_CACHE", Path.home() / ".cache" / "wavjepa-nat"))
    return base / f"corpus-{package_version()}-{'speech' if espeak_available() else 'nospeech'}"


def _config_json(cfg: CorpusConfig) -> dict:
    return config_dict(cfg)


def _existing(out: Path, cfg: CorpusConfig) -> dict | None:
    """The stored info when `out` already holds this corpus; InputError when it holds something else."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return None
    meta = out / "corpus.json"
    if not meta.is_file():
        raise InputError(f"{out} exists, is not empty and is not a corpus; choose another --out")
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{meta} is damaged ({err}); remove {out} or choose another --out") from None
    if not isinstance(info, dict):
        raise InputError(f"{meta} is damaged (not a JSON object); remove {out} or choose another --out")
    if info.get("config") != _config_json(cfg):
        raise InputError(
            f"{out} holds a corpus made with another config ({info.get('config')}); choose another --out"
        )
    return info


def make_corpus(out_dir: str | Path, cfg: CorpusConfig | None = None, progress: bool = False) -> dict:
    """Write the corpus (default: CorpusConfig()) to out_dir (atomically: built next to it, then renamed)
    and return its info. An existing corpus with the same config is reused as is.
    progress: show a progress bar over the clips."""
    cfg = CorpusConfig() if cfg is None else cfg
    out = check_output_dir(out_dir, "--out")
    found = _existing(out, cfg)
    if found is not None:
        return found

    classes = corpus_classes(cfg)
    n = round(cfg.seconds * cfg.fs)
    what = f"the corpus ({len(classes)} classes x {cfg.n_per_class} clips x {cfg.seconds:g} s at {cfg.fs} Hz)"
    check_disk(out, 2 * n * len(classes) * cfg.n_per_class, what, "use a smaller --n-per-class or --seconds")
    check_memory(
        CLIP_MEMORY_ARRAYS * 8 * n, f"one {cfg.seconds:g} s clip at {cfg.fs} Hz", "use a smaller --seconds"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    as_user_made(tmp, folder=True)  # mkdtemp makes it 0700; the published corpus is an ordinary folder
    rows: list[tuple[str, str, str]] = []
    bar = progress_bar(len(classes) * cfg.n_per_class, "making corpus", enabled=progress, transient=True)
    try:
        with errors_name(out, tmp):  # a full disk names the corpus, not its temporary folder
            with bar as advance:
                for ci, name in enumerate(classes):
                    (tmp / name).mkdir()
                    splits = stratified_split([name] * cfg.n_per_class, cfg.seed)
                    if name in PROCEDURAL_CLASSES:
                        clips = (
                            _finish(PROCEDURAL_CLASSES[name](rng, n, cfg.fs), rng, cfg.fs)
                            for rng in (clip_rng(cfg.seed, ci, i) for i in range(cfg.n_per_class))
                        )
                    else:
                        clips = iter(_speech_clips(cfg, ci, name.removeprefix("word_"), n, tmp))
                    for i, clip in enumerate(clips):
                        rel = f"{name}/{name}_{i:04d}.wav"
                        sf.write(tmp / rel, clip, cfg.fs, subtype="PCM_16")
                        rows.append((rel, name, splits[i]))
                        advance()
            with open(tmp / "manifest.csv", "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(("path", "label", "split"))
                writer.writerows(rows)
            info = _info(cfg, classes, rows)
            (tmp / "corpus.json").write_text(json.dumps(info, indent=2))
            _publish(tmp, out, cfg)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return info


def _speech_clips(cfg: CorpusConfig, class_index: int, word: str, n: int, tmp: Path) -> list[np.ndarray]:
    rngs = [clip_rng(cfg.seed, class_index, i) for i in range(cfg.n_per_class)]
    params = [_speech_params(rng) for rng in rngs]
    paths = [tmp / f".speak_{word}_{i}.wav" for i in range(cfg.n_per_class)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # espeak-ng runs as subprocesses: threads suffice
        list(pool.map(lambda a: _speak(word, *a[0], a[1]), zip(params, paths)))
    clips = []
    for rng, path in zip(rngs, paths):
        voice, file_fs = sf.read(path, dtype="float64")
        path.unlink()
        voice = _trim_silence(resample(voice, file_fs, cfg.fs).astype(np.float64))[:n]
        event = np.zeros(n)
        _add(event, voice, _onset(rng, n, len(voice)))
        clips.append(_finish(event, rng, cfg.fs))
    return clips


def _trim_silence(x: np.ndarray, floor_db: float = -40.0) -> np.ndarray:
    """Drop espeak's leading/trailing silence (below floor_db re the peak) so placement is honest."""
    loud = np.flatnonzero(np.abs(x) > np.max(np.abs(x)) * 10 ** (floor_db / 20))
    return x[loud[0] : loud[-1] + 1] if len(loud) else x


def _info(cfg: CorpusConfig, classes: list[str], rows) -> dict:
    from wavjepa_nat.version import package_version

    counts = {s: sum(1 for r in rows if r[2] == s) for s in SPLITS}
    return {
        "format": "wavjepa-nat corpus",
        "version": package_version(),
        "config": _config_json(cfg),
        "classes": classes,
        "n_clips": len(rows),
        "splits": counts,
        "level_range_db": list(LEVEL_RANGE_DB),
        "background_snr_db": list(BACKGROUND_SNR_DB),
    }


def _publish(tmp: Path, out: Path, cfg: CorpusConfig) -> None:
    """Rename the finished corpus into place. If another process (e.g. another DDP rank) got there
    first with the same config, keep theirs."""
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    try:
        os.rename(tmp, out)
    except OSError:
        if _existing(out, cfg) is None:
            raise
