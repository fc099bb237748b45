"""Naturalistic augmentation on the CPU: a dry clip + one scene of the RIR bank -> binaural training crops.

Per clip (never per batch): with probability `clean_ratio` the clip stays dry (duplicated to both ears);
otherwise it is rendered (data/render) through the source BRIR of a random scene, shifted earlier by the
scene's direct-path delay (so crops line up with the dry clip; both ears shift equally, so the ITD survives),
with binaural noise of the same scene at an SNR drawn uniformly from `snr_db`. Then `n_crops` random crops
are cut (same offsets for both ears) and each crop is instance-normalised jointly over (channels, time),
which keeps the interaural time and level differences.

Randomness and arithmetic are split on purpose:
    draw_clip_params(rng, ...) -> ClipDraws        every random decision, on the CPU (render.draw_scenes)
    gather_scenes(bank, draws, ...) -> SceneInputs  reads BRIRs / noise for those draws (render.read_scenes)
    augment_clip(...) / augment_torch(...)          pure arithmetic on arrays (render.render / render_torch)
so the numpy path here and the batched torch path in augment_torch.py consume the SAME draws.

The SNR is measured over the samples the clip's crops cover (the union of the crop spans): the samples the
model sees. Training therefore renders only the crop spans (~78 % of a 10 s clip for 8 crops of 2.01 s),
exactly: the same samples as the full convolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from wavjepa_nat.checks import check_snr_range
from wavjepa_nat.data.crops import take_crops
from wavjepa_nat.data.render import (
    BuiltinNoises,
    DiffuseField,
    SceneDraws,
    SceneInputs,
    SceneNoise,
    Source,
    draw_scenes,
    load_noise_recordings,
    read_scenes,
    render,
    scenes_in,
)
from wavjepa_nat.dsp import instance_norm
from wavjepa_nat.errors import InputError

# bed: the scene's stored bed; sources: noise_paths through the noise-source BRIRs (the bed where a scene has
# none); builtin / corpus: made per clip (render/noise.py) from the beds' procedural noises / the train split
# of the noise_corpus; auto: bed when the bank has beds, else builtin.
NOISE_MODES = ("bed", "sources", "builtin", "corpus", "auto")
PER_CLIP_NOISE = ("builtin", "corpus")
AUGMENT_ON = ("cpu", "gpu")  # where the arithmetic runs: DataLoader workers, or the device after transfer


@dataclass
class AugmentConfig:
    clean_ratio: float = 0.0  # probability that a clip stays dry (drawn per clip)
    snr_db: tuple[float, float] = (5.0, 40.0)  # SNR drawn uniformly in [lo, hi]
    channels: int = 2  # 2: binaural (WavJEPA-Nat); 1: mono, the ears averaged (WavJEPA)
    compensate_direct_delay: bool = True  # shift the wet signal earlier by the direct-path delay
    n_crops: int = 8  # random crops per clip
    crop_samples: int = 32160  # 2.01 s at 16 kHz = 200 encoder frames
    split: str | None = "train"  # bank split the scenes come from (None: all)
    noise: str = "bed"  # one of NOISE_MODES
    seed: int = 0
    rt60: tuple[float, float] | None = None  # keep only scenes whose measured RT60 lies in [lo, hi) s
    noise_paths: tuple[str, ...] = ()  # the user's noise recordings (noise="sources")
    norm_eps: float = 1e-12  # added to the variance in instance normalisation (silence -> zeros, no NaN)
    # BRIRs end where their remaining energy (both ears) falls below this, re their total (Schroeder); None:
    # as stored. -80 dB: the error energy is 1e-8 of the wet signal for broadband input, 40 dB under the
    # quietest noise (SNR <= 40 dB), and convolutions of short-RT60 scenes get ~30 % shorter.
    brir_tail_db: float | None = -80.0
    noise_corpus: str | None = (
        None  # noise="corpus": a folder or manifest of noise recordings (its train split)
    )

    def __post_init__(self) -> None:
        self.snr_db = tuple(float(v) for v in self.snr_db)  # JSON round trips give lists
        if self.rt60 is not None:
            self.rt60 = tuple(float(v) for v in self.rt60)
        self.noise_paths = tuple(str(p) for p in self.noise_paths)
        if not 0.0 <= self.clean_ratio <= 1.0:
            raise InputError(f"--clean-ratio (clean_ratio) must lie in [0, 1], got {self.clean_ratio}")
        check_snr_range(self.snr_db, "--snr (snr_db)")
        if self.channels not in (1, 2):
            raise InputError(f"channels must be 1 or 2, got {self.channels}")
        if self.n_crops < 1 or self.crop_samples < 1:
            raise InputError(
                f"n_crops and crop_samples must be positive, got {self.n_crops}, {self.crop_samples}"
            )
        if self.noise not in NOISE_MODES:
            raise InputError(f"noise must be one of {NOISE_MODES}, got '{self.noise}'")
        if self.brir_tail_db is not None and not (math.isfinite(self.brir_tail_db) and self.brir_tail_db < 0):
            raise InputError(
                f"brir_tail_db must be negative (dB re the BRIR energy) or None, got {self.brir_tail_db}"
            )
        if self.noise == "sources" and not self.noise_paths and self.clean_ratio < 1.0:
            raise InputError("noise='sources' needs noise recordings (noise_paths)")
        if (self.noise == "corpus") != bool(self.noise_corpus):
            raise InputError("noise='corpus' and a noise_corpus (--noise DIR) go together")


def noise_options(flag: str) -> dict:
    """`train --noise` -> AugmentConfig's noise fields: auto (the default: the bank's beds when it has them,
    else builtin), bank (its beds), builtin (the beds' procedural noises, made per clip), or a noise corpus
    (a folder or manifest; made per clip from its train split)."""
    text = str(flag).strip()
    if text in ("auto", "builtin"):
        return {"noise": text}
    if text == "bank":
        return {"noise": "bed"}
    if not text:
        raise InputError("--noise must be auto, bank, builtin or a noise corpus (a folder or manifest)")
    return {"noise": "corpus", "noise_corpus": text}


# ----------------------------------------------------------------------------------------------------------
# random draws


@dataclass
class ClipDraws(SceneDraws):
    """Every random decision for n clips: the scene draws, and where the crops go."""

    crop_offsets: np.ndarray  # (n, n_crops) int64


def draw_clip_params(
    rng: np.random.Generator,
    n_clips: int,
    cfg: AugmentConfig,
    scene_pool: np.ndarray,
    clip_samples: int,
    n_noise_recordings: int = 0,
    sound_samples: int | None = None,
) -> ClipDraws:
    """Draw the per-clip decisions. Every draw is always made, so the stream does not depend on outcomes.
    sound_samples: the clips' first samples that are sound (the rest zero padding): the crops start where
    they lie within it, so only a clip shorter than one crop gives a crop with padding."""
    if clip_samples < cfg.crop_samples:
        raise InputError(f"clips of {clip_samples} samples are shorter than a crop ({cfg.crop_samples})")
    per_clip = cfg.noise in PER_CLIP_NOISE
    scenes = draw_scenes(rng, n_clips, scene_pool, cfg.snr_db, cfg.clean_ratio, n_noise_recordings, per_clip)
    span = clip_samples if sound_samples is None else max(min(sound_samples, clip_samples), cfg.crop_samples)
    offsets = rng.integers(0, span - cfg.crop_samples + 1, size=(n_clips, cfg.n_crops))
    return ClipDraws(**scenes.__dict__, crop_offsets=offsets.astype(np.int64))


def gather_scenes(
    bank,
    draws: SceneDraws,
    clip_samples: int,
    cfg: AugmentConfig,
    noise_recordings: list[np.ndarray] | None = None,
    brir_len: int | None = None,
    cut_cache: dict[int, tuple[int, int]] | None = None,
    scene_noise: SceneNoise | None = None,
    noise_parts: bool = False,
) -> SceneInputs:
    """render.read_scenes with the config's BRIR cut, delay compensation and noise (noise="sources": the
    noise recordings through the scene's noise sources; scene_noise: made per clip, or with noise_parts
    only its parts, for the device)."""
    return read_scenes(
        bank,
        draws,
        clip_samples,
        tail_db=cfg.brir_tail_db,
        compensate_delay=cfg.compensate_direct_delay,
        noise_recordings=(noise_recordings or []) if cfg.noise == "sources" else None,
        brir_len=brir_len,
        cut_cache=cut_cache,
        scene_noise=scene_noise,
        noise_parts=noise_parts,
    )


# ----------------------------------------------------------------------------------------------------------
# arithmetic


def crop_spans(offsets: np.ndarray, crop_samples: int) -> np.ndarray:
    """(k, 2) sorted, disjoint [start, stop) spans covered by crops at `offsets` (overlapping ones merged)."""
    spans: list[list[int]] = []
    for o in np.sort(np.asarray(offsets, np.int64).ravel()).tolist():
        if spans and o <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], o + crop_samples)
        else:
            spans.append([o, o + crop_samples])
    return np.asarray(spans, np.int64).reshape(-1, 2)


def span_offsets(offsets: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """Crop offsets in the clip -> offsets in the concatenated spans (crop_spans of those offsets)."""
    base = np.concatenate([[0], np.cumsum(spans[:, 1] - spans[:, 0])[:-1]])
    which = np.searchsorted(spans[:, 0], offsets, side="right") - 1
    return offsets - spans[which, 0] + base[which]


def augment_clip(
    dry: np.ndarray,
    is_clean: bool,
    brir: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    delay: int,
    crop_offsets: np.ndarray,
    cfg: AugmentConfig,
    taps: int | None = None,
    return_dry: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One dry clip (S,) -> (n_crops, channels, crop_samples) float32 crops, instance-normalised.

    A wet clip is rendered only on the spans its crops cover (see the module docstring): the reverberant
    signal there, the noise at the same samples, the SNR over those samples. taps: the BRIR samples that count
    (SceneInputs.taps); None: the renderer finds them. return_dry: also the dry reference's crops
    (n_crops, 1, crop_samples) (the renderer's Rendering.dry: the source before room and noise), from the
    same windows, normalised the same way: what a dry-input teacher encodes.
    """
    dry = np.asarray(dry, np.float32)
    offsets = np.asarray(crop_offsets, np.int64).ravel()
    reference = dry[None]
    if is_clean:
        audio = dry[None] if cfg.channels == 1 else np.stack([dry, dry])
    else:
        spans = crop_spans(offsets, cfg.crop_samples)
        source = Source(dry, brir, taps=taps)
        rendering = render(
            [source], delay=delay, noise=noise, snr_db=snr_db, spans=spans, dry_reference=return_dry
        )
        audio, reference = rendering.audio, rendering.dry  # (2, U), (1, U)
        if cfg.channels == 1:
            audio = audio.mean(axis=0, keepdims=True)
        offsets = span_offsets(offsets, spans)
    crops = take_crops(audio, offsets, cfg.crop_samples)
    crops = instance_norm(crops, cfg.norm_eps, out=crops)
    if not return_dry:
        return crops
    dry_crops = take_crops(reference, offsets, cfg.crop_samples)
    return crops, instance_norm(dry_crops, cfg.norm_eps, out=dry_crops)


def augment_batch(
    dry: np.ndarray, draws: ClipDraws, inputs: SceneInputs, cfg: AugmentConfig, return_dry: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(B, S) dry clips -> (B * n_crops, C, crop_samples), clip-major: the reference for augment_torch.
    return_dry: also the dry reference's crops (B * n_crops, 1, crop_samples) (augment_clip)."""
    out = [
        augment_clip(
            dry[i],
            bool(draws.is_clean[i]),
            inputs.brir[i],
            inputs.noise[i],
            float(draws.snr_db[i]),
            int(inputs.delay[i]),
            draws.crop_offsets[i],
            cfg,
            None if inputs.taps is None else int(inputs.taps[i]),
            return_dry,
        )
        for i in range(len(draws))
    ]
    if return_dry:
        return np.concatenate([c for c, _ in out]), np.concatenate([d for _, d in out])
    return np.concatenate(out, axis=0)


# ----------------------------------------------------------------------------------------------------------
# everything together, for one process holding a bank


def keep_freed_memory() -> bool:
    """Let this process reuse freed memory instead of returning it to the OS (glibc; False elsewhere).

    Each clip allocates ~10 MB of temporaries (FFT blocks, spectra, crops) that glibc by default maps and
    unmaps anew, so every clip page-faults them in again: ~2.4 of 7.4 ms per clip measured here. With mmap
    and trim thresholds raised they are reused (~5.0 ms per clip). Process-wide, hence only called in
    DataLoader worker processes; at most a few tens of MB stay mapped.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        return bool(
            libc.mallopt(m_mmap_threshold, 32 << 20)
            and libc.mallopt(m_trim_threshold, 256 << 20)
            and libc.mallopt(m_top_pad, 16 << 20)
        )
    except (OSError, AttributeError):  # not glibc
        return False


class Augmenter:
    """Holds a bank, its scene pool and the noise recordings; turns dry clips into crops (CPU path).

    The one place where a bank is checked against the augmentation: its sample rate, and scenes in the split
    (and RT60 range). bank=None is allowed when every clip stays dry (clean_ratio == 1).
    """

    def __init__(self, bank, cfg: AugmentConfig, fs: int, noise_recordings: list[np.ndarray] | None = None):
        self.bank, self.cfg, self.fs = bank, cfg, int(fs)
        if bank is None:
            if cfg.clean_ratio < 1.0:
                raise InputError(
                    f"an RIR bank (--bank) is needed unless every clip stays dry "
                    f"(clean ratio 1; it is {cfg.clean_ratio})"
                )
            self.pool, self.noise_recordings, self.brir_len = np.zeros(0, np.int64), [], 1
            self.cut_cache: dict[int, tuple[int, int]] = {}
            self.scene_noise = None
            return
        if int(bank.fs) != int(fs):
            raise InputError(f"the RIR bank is at {bank.fs} Hz but clips are at {fs} Hz; they must match")
        self.pool = scenes_in(bank, None if cfg.split is None else (cfg.split,), cfg.rt60)
        if len(self.pool) == 0 and cfg.clean_ratio < 1.0:
            rt = f" with RT60 in {cfg.rt60}" if cfg.rt60 else ""
            raise InputError(f"the RIR bank has no scenes in split '{cfg.split}'{rt}")
        if cfg.noise == "sources" and noise_recordings is None:
            noise_recordings = load_noise_recordings(cfg.noise_paths, fs)
        self.noise_recordings = noise_recordings or []
        self.scene_noise = None if cfg.clean_ratio >= 1.0 else self._scene_noise(bank, fs)
        # One BRIR length for every clip (clean ones too), so per-clip inputs stack into batches.
        self.brir_len = int(bank.brir_length)
        self.cut_cache = {}  # scene -> BRIR cut, taps (see gather_scenes)

    def _scene_noise(self, bank, fs: int) -> SceneNoise | None:
        """The per-clip noise maker of noise builtin / corpus (auto resolved by the bank: its beds when it has
        them), None for beds; InputError where the bank cannot serve the mode."""
        mode = self.cfg.noise
        has_beds = getattr(bank, "has_beds", True)
        if mode == "auto":
            if has_beds:
                return None
            self.cfg = replace(self.cfg, noise="builtin")
            mode = "builtin"
        if mode in ("bed", "sources") and not has_beds:
            raise InputError(
                f"--noise bank: the RIR bank {bank.path} has no noise beds (made with --beds none); "
                f"use --noise builtin or --noise with a noise corpus"
            )
        if mode not in PER_CLIP_NOISE:
            return None
        if mode == "corpus":
            return SceneNoise.from_corpus(bank, self.cfg.noise_corpus, "train", self.pool)
        return SceneNoise(BuiltinNoises(fs), DiffuseField.of(bank))

    def n_noise_recordings(self) -> int:
        return len(self.scene_noise) if self.scene_noise is not None else len(self.noise_recordings)

    def draw(
        self, rng: np.random.Generator, n_clips: int, clip_samples: int, sound_samples: int | None = None
    ) -> ClipDraws:
        return draw_clip_params(
            rng, n_clips, self.cfg, self.pool, clip_samples, self.n_noise_recordings(), sound_samples
        )

    def gather(self, draws: ClipDraws, clip_samples: int, noise_parts: bool = False) -> SceneInputs:
        """The scene inputs of the draws; noise_parts: noise made per clip is left in parts for the device
        (augment_torch), where --augment-on gpu convolves it."""
        return gather_scenes(
            self.bank,
            draws,
            clip_samples,
            self.cfg,
            self.noise_recordings,
            self.brir_len,
            self.cut_cache,
            self.scene_noise,
            noise_parts,
        )

    def __call__(self, dry: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One dry clip (S,) -> (n_crops, C, crop_samples)."""
        draws = self.draw(rng, 1, dry.shape[-1])
        return augment_batch(dry[None], draws, self.gather(draws, dry.shape[-1]), self.cfg)
