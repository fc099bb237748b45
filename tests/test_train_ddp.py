"""Data parallelism: ranks see disjoint batches from one global sequence; DDP on 2 CPU processes keeps
the replicas identical and writes one checkpoint."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from wavjepa_nat.data.augment import AugmentConfig
from wavjepa_nat.data.clips import ClipConfig
from wavjepa_nat.data.sources import open_source
from wavjepa_nat.data.stream import TrainingBatches


def _stream(corpus, bank, rank, world_size):
    aug = AugmentConfig(clean_ratio=0.5, channels=2, n_crops=2, crop_samples=8000, seed=5)
    stream = TrainingBatches(
        open_source(str(corpus)), str(bank), ClipConfig(fs=16000, clip_seconds=2.5), aug, batch_clips=2
    )
    stream.rank, stream.world_size = rank, world_size  # as TrainingData sets them from the trainer
    return stream


def test_ranks_take_interleaved_global_batches(corpus_and_bank):
    corpus, bank = corpus_and_bank
    single = _stream(corpus, bank, 0, 1)
    ranks = [_stream(corpus, bank, r, 2) for r in range(2)]
    for step in range(3):
        for r, stream in enumerate(ranks):
            crops = stream.batch_at(step)["audio"]
            # rank r at step s = global batch 2s + r of one process
            want = single.batch_at(2 * step + r)["audio"]
            np.testing.assert_array_equal(crops, want)
    assert not np.array_equal(ranks[0].batch_at(0)["audio"], ranks[1].batch_at(0)["audio"])


SCRIPT = """
import json, sys, torch, lightning as L
from wavjepa_nat.training.loop import TrainConfig, train

class Record(L.Callback):
    def __init__(self):
        self.first_batch = None
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_batch is None:
            self.first_batch = float(batch["audio"].double().sum())
    def on_train_end(self, trainer, pl_module):
        params = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        with open(sys.argv[3] + f"/rank{trainer.global_rank}.json", "w") as f:
            json.dump({"first_batch": self.first_batch, "params": params.double().sum().item(),
                       "params_abs": params.double().abs().sum().item(), "world": trainer.world_size}, f)

torch.set_num_threads(1)
cfg = TrainConfig(data=sys.argv[1], bank=sys.argv[2], out=sys.argv[3] + "/run", preset="tiny", channels=2,
                  clean_ratio=0.0, batch_clips=1, n_crops=2, clip_seconds=2.5, num_workers=0, max_steps=3,
                  accelerator="cpu", devices="2", seed=1)
train(cfg, progress=False, callbacks=[Record()])
"""


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    # Lightning launches rank 1 by re-running this script: a real 2-process DDP run with gloo.
    proc = subprocess.run(
        [sys.executable, str(script), str(corpus), str(bank), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert r0["world"] == r1["world"] == 2
    assert r0["first_batch"] != r1["first_batch"]  # each rank trains on its own data
    # Gradients are all-reduced, so the replicas stay identical (to float rounding of the reduction).
    assert r0["params"] == pytest.approx(r1["params"], rel=1e-6, abs=1e-6)
    assert r0["params_abs"] == pytest.approx(r1["params_abs"], rel=1e-6)
    ckpt = torch.load(tmp_path / "run" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3
