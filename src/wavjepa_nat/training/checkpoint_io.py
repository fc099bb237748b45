"""How a run's checkpoints reach the disk, and what a SIGTERM leaves behind.

Lightning writes a checkpoint through fsspec, whose local transaction puts the file in the system's temporary
folder and copies it across file systems on commit: a full disk leaves a truncated checkpoint under its final
name. AtomicCheckpointIO writes beside the destination, fsyncs and renames (wavjepa_nat.files).

A scheduler's SIGTERM makes Lightning stop at the next step end (SIGTERMException, a SystemExit with status 0)
and no last.ckpt. SaveOnSigterm saves the resumable last.ckpt as Lightning stops; train() then raises
errors.Stopped (exit 143).
"""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

from wavjepa_nat.files import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class SaveOnSigterm(Callback):
    """When Lightning stops for a SIGTERM (after the step it arrived in, before tearing down): save the full
    state (resumable) at `last`."""

    def __init__(self, last: Path):
        self.last = last
        self.saved_at: int | None = None

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.global_step > 0:
            trainer.save_checkpoint(str(self.last), weights_only=False)
            self.saved_at = trainer.global_step
