"""The demo's training recipe for the README's measured tables (layout_table.py, recipes_table.py,
polyphony_table.py): the tiny binaural model on a `wavjepa-nat demo` output's bank and corpus, with the
demo's steps, batch, crops, clip length and seed, so that a table's rows differ from the demo's model only
in what the table varies."""

from __future__ import annotations

from pathlib import Path

from wavjepa_nat.demo import DemoConfig
from wavjepa_nat.training.loop import TrainConfig, train

DEMO = DemoConfig()


def demo_train_config(demo: Path, run: Path, **overrides) -> TrainConfig:
    """The demo's naturalistic model's TrainConfig (clean ratio 0), with `overrides` on top."""
    corpus = demo / "corpus" / "manifest.csv"
    settings = dict(
        data=str(corpus if corpus.is_file() else demo / "corpus"),
        bank=str(demo / "bank.h5"),
        out=str(run),
        preset="tiny",
        channels=2,
        clean_ratio=0.0,
        max_steps=DEMO.steps,
        batch_clips=DEMO.batch_clips,
        n_crops=DEMO.n_crops,
        clip_seconds=DEMO.clip_seconds,
        num_workers=1,
        seed=DEMO.seed,
    )
    settings.update(overrides)
    settings.setdefault("ckpt_every", max(settings["max_steps"] // 3, 1))
    return TrainConfig(**settings)


def train_once(cfg: TrainConfig) -> Path:
    """cfg's last.ckpt, trained unless a previous run of the table left it there."""
    last = Path(cfg.out) / "last.ckpt"
    return last if last.is_file() else train(cfg)
