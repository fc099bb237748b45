"""The demo's training recipe and sweep for the README's measured tables (layout_table.py,
recipes_table.py, polyphony_table.py): the tiny binaural model on a `wavjepa-nat demo` output's bank and
corpus, with the demo's steps, batch, crops, clip length and seed, so that a table's rows differ from the
demo's model only in what the table varies; and the demo's sweep of them."""

from __future__ import annotations

from pathlib import Path

from threadpoolctl import threadpool_limits

from wavjepa_nat.demo import DemoConfig
from wavjepa_nat.robustness.config import SweepConfig
from wavjepa_nat.robustness.sweep import run_sweep
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


def demo_sweep(models: list[Path], task: str | Path, demo: Path, out_dir: Path, title: str, **overrides):
    """The demo's sweep (its seed, clip length and clips per class, `overrides` on top) of `models` on
    `task`, through the demo's bank, with one BLAS thread as the demo (BLAS threads fight torch's)."""
    settings = dict(
        seed=DEMO.seed, clip_seconds=DEMO.clip_seconds, max_clips_per_class=DEMO.max_clips_per_class
    )
    settings.update(overrides)
    with threadpool_limits(limits=1, user_api="blas"):
        run_sweep(
            models, str(task), str(demo / "bank.h5"), SweepConfig(**settings), out_dir=out_dir, title=title
        )
