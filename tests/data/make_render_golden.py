"""Run once against the code BEFORE the one-renderer change (issue 18, section 1): it renders the inputs of
tests/_render_bank.py through the old code paths and freezes the outputs in tests/data/render_golden.npz.
tests/test_render.py renders the same inputs through the new renderer and checks them equal to float32
rounding. Kept for the record of how the data was made; rerunning it against the new code proves nothing.

    PYTHONPATH=src python tests/data/make_render_golden.py

Covered: training augmentation (numpy augment_batch and the torch NaturalisticAugment, for the same draws;
noise bed / noise sources / RT60 range, binaural and mono), the `render` command (render_scene_clips), every
robustness condition of degrade() (clean, snr, rt60, snr_rt60, spatial clean and snr, a two-channel dry clip,
probe-training pools with a closed top bin and a fallback bin) and nat-hear's per-clip draw and render.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _render_bank import FS, ArrayBank, dry_clips, fingerprint, noise_recording  # noqa: E402

from wavjepa_nat.data.augment import AugmentConfig, Augmenter, augment_batch  # noqa: E402
from wavjepa_nat.data.augment_torch import NaturalisticAugment, to_torch_batch  # noqa: E402
from wavjepa_nat.data.scene_clips import SceneClipConfig, render_scene_clips  # noqa: E402
from wavjepa_nat.dsp import clip_rng  # noqa: E402
from wavjepa_nat.robustness.conditions import CLEAN, Condition, stream_id  # noqa: E402
from wavjepa_nat.robustness.degrade import ScenePools, degrade  # noqa: E402
from wavjepa_nat.robustness.tasks import nat_hear  # noqa: E402

OUT = HERE / "render_golden.npz"

# Training: (name, config); 3 clips each, drawn from np.random.default_rng(10 + k).
AUGMENT = [
    ("bed", AugmentConfig(clean_ratio=0.25, split=None, n_crops=2, crop_samples=1000)),
    (
        "sources",
        AugmentConfig(
            split="train", noise="sources", noise_paths=("x",), channels=1, n_crops=2, crop_samples=1000
        ),
    ),
    (
        "rt60",
        AugmentConfig(
            split=None,
            rt60=(0.3, 0.7),
            compensate_direct_delay=False,
            brir_tail_db=None,
            n_crops=2,
            crop_samples=1000,
        ),
    ),
]
# `render`: (name, config); noise_files=("rec",) stands for the noise recording written as a wav.
RENDER = [
    ("bed", SceneClipConfig(n=3, snr_db=(0.0, 20.0), split="test", seed=1)),
    ("sources", SceneClipConfig(scene=2, snr_db=(5.0, 5.0), noise_files=("rec",), compensate_delay=False)),
]
BINS = [(0.2, 0.5), (0.5, 0.8)]
FALLBACK_BIN = (0.9, 1.2)  # no scene in it: probe-training pools fall back to the nearest scenes
# degrade(): (name, pools, condition, spatial, two-channel dry)
DEGRADE = [
    ("clean", "test", CLEAN, False, False),
    ("snr", "test", Condition("snr", 5.0), False, False),
    ("rt60", "test", Condition("rt60", None, BINS[0]), False, False),
    ("snr_rt60", "test", Condition("snr_rt60", 0.0, BINS[1]), False, False),
    ("spatial_clean", "test", CLEAN, True, False),
    ("spatial_snr", "test", Condition("snr", 10.0), True, False),
    ("stereo_snr", "test", Condition("snr", -5.0), False, True),
    ("stereo_rt60", "test", Condition("rt60", None, BINS[1]), False, True),
    ("train_top_bin", "train", Condition("snr_rt60", 10.0, BINS[1]), False, False),
    ("train_fallback", "fallback", Condition("rt60", None, FALLBACK_BIN), False, False),
]
# nat-hear: (name, snr, rt60, seed); each renders every dry clip as (split, file).
NAT_HEAR = [("snr_range", "-5..20", "0.2..0.6", 3), ("no_noise", "none", None, 1)]
NAT_HEAR_CLIPS = [("test", "a.wav"), ("train", "b.wav"), ("valid", "c.wav")]


def degrade_pools(bank):
    return {
        "test": ScenePools(bank, BINS, ("test",), strict=True),
        "train": ScenePools(bank, BINS, ("train", "val"), strict=False),
        "fallback": ScenePools(bank, [FALLBACK_BIN], ("train", "val"), strict=False),
    }


def nat_hear_clip(bank, cfg, split, file, dry):
    """make_nat_hear's per-clip lines (before the change): the draws, then _render."""
    pool = nat_hear._pools(bank, cfg.rt60_bin, ("test",) if split == "test" else ("train",))
    scenes = pool.by_bin[cfg.rt60_bin] if cfg.rt60_bin else pool.all
    rng = clip_rng(cfg.seed, stream_id(split), stream_id(file))
    scene = int(scenes[rng.integers(len(scenes))])
    u_snr, noise_u = float(rng.random()), float(rng.random())
    snr = None
    if cfg.snr_range is not None:
        lo, hi = cfg.snr_range
        snr = lo + (hi - lo) * u_snr
    wav, limited = nat_hear._render(dry, pool, scene, snr, noise_u)
    return wav, scene, np.nan if snr is None else snr, limited


def main() -> None:
    bank, dry, rec = ArrayBank(), dry_clips(), noise_recording()
    out: dict[str, np.ndarray] = {"fingerprint": np.array(fingerprint(bank, dry, rec))}
    for k, (name, cfg) in enumerate(AUGMENT):
        aug = Augmenter(bank, cfg, FS, noise_recordings=[rec])
        draws = aug.draw(np.random.default_rng(10 + k), len(dry), dry.shape[-1])
        inputs = aug.gather(draws, dry.shape[-1])
        out[f"augment/{name}"] = augment_batch(dry, draws, inputs, cfg)
        out[f"augment_torch/{name}"] = NaturalisticAugment(cfg)(to_torch_batch(dry, draws, inputs)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        rec_path = Path(tmp) / "rec.wav"
        sf.write(rec_path, rec, FS, subtype="FLOAT")
        for name, cfg in RENDER:
            if cfg.noise_files:
                cfg = SceneClipConfig(**{**cfg.__dict__, "noise_files": (str(rec_path),)})
            clips = render_scene_clips(bank, dry[1], cfg)
            out[f"render/{name}"] = np.stack([c.audio for c in clips])
            out[f"render/{name}/scene_snr_delay"] = np.array([(c.scene, c.snr_db, c.delay) for c in clips])
    pools = degrade_pools(bank)
    for name, which, cond, spatial, stereo in DEGRADE:
        x = dry[:2] if not stereo else np.stack([dry[:2], dry[1:3] * 0.5], axis=1)
        audio, az, el = degrade(x, cond, pools[which], 7, "test", [3, 4], spatial=spatial, elevation=True)
        out[f"degrade/{name}"], out[f"degrade/{name}/az_el"] = audio, np.stack([az, el])
    for name, snr, rt60, seed in NAT_HEAR:
        cfg = nat_hear.NatHearConfig(snr=snr, rt60=rt60, seed=seed)
        rendered = [nat_hear_clip(bank, cfg, s, f, d) for (s, f), d in zip(NAT_HEAR_CLIPS, dry)]
        out[f"nat_hear/{name}"] = np.stack([r[0] for r in rendered])
        out[f"nat_hear/{name}/scene_snr_limited"] = np.array([r[1:] for r in rendered], np.float64)
    np.savez_compressed(OUT, **out)
    print(f"{OUT}: {OUT.stat().st_size / 1024:.0f} KiB, {len(out)} arrays, torch {torch.__version__}")


if __name__ == "__main__":
    main()
