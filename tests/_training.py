"""The training tests' shared pieces: a tiny run's options and a callback that records each step's loss."""

import lightning as L

from wavjepa_nat.training.loop import TrainConfig


def tiny_train_options(data, bank=None, /, **overrides) -> dict:
    """A tiny binaural run on CPU in seconds: the options as a plain dict (for JSON or CLI flags). Without
    a bank the key is left out (TrainConfig's default: none). Overrides may replace any option, data too."""
    options = dict(
        data=str(data),
        preset="tiny",
        channels=2,
        clean_ratio=0.0,
        batch_clips=1,
        n_crops=2,
        clip_seconds=2.5,
        num_workers=0,
        ckpt_every=1000,
        log_every=5,
        seed=3,
    )
    if bank is not None:
        options["bank"] = str(bank)
    options.update(overrides)
    return options


def tiny_train_config(data, out, bank=None, /, **overrides) -> TrainConfig:
    return TrainConfig(**tiny_train_options(data, bank, out=str(out), **overrides))


class StepLosses(L.Callback):
    """Each step's loss by global step, and the logged metrics after each step."""

    def __init__(self):
        self.losses, self.metrics = {}, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses[trainer.global_step] = float(loss)
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})
