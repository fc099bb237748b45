"""`wavjepa-nat train`: learning on the built-in corpus through a bank, exact resume, bad input."""

import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch

from wavjepa_nat.rir_bank import simulate_bank
from wavjepa_nat.scenes import SceneConfig
from wavjepa_nat.train import TrainConfig, train

CLI = [sys.executable, "-m", "wavjepa_nat.cli"]


class StepLosses(L.Callback):
    def __init__(self):
        self.losses, self.metrics = {}, []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses[trainer.global_step] = float(loss)
        self.metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})


def _cfg(corpus, bank, out, **kw):
    base = dict(data=str(corpus), bank=str(bank), out=str(out), preset="tiny", channels=2, clean_ratio=0.0,
                batch_clips=1, n_crops=4, clip_seconds=2.5, num_workers=1, ckpt_every=1000, log_every=5, seed=3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 cores: the data worker gets the other one
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_loss_falls_on_the_builtin_corpus_through_a_bank(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank
    steps = StepLosses()
    last = train(_cfg(corpus, bank, tmp_path / "run", max_steps=100), progress=False, callbacks=[steps])
    losses = np.array([steps.losses[k] for k in sorted(steps.losses)])
    assert len(losses) == 100 and np.all(np.isfinite(losses))
    assert losses[-20:].mean() < 0.8 * losses[:10].mean(), losses[[0, 10, 50, 99]]
    erank = [m["train/target_erank"] for m in steps.metrics if "train/target_erank" in m]
    assert erank and erank[-1] > 4.0  # the targets span many directions: no collapse
    assert last.is_file() and (tmp_path / "run" / "config.yaml").is_file()
    assert (tmp_path / "run" / "logs" / "version_0" / "metrics.csv").is_file()
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    assert ckpt["hyper_parameters"]["channels"] == 2 and "wavjepa_nat_train_config" in ckpt


def test_resume_gives_the_losses_of_an_unbroken_run(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank
    schedule = {"total_steps": 10, "warmup_steps": 3, "ema_ramp_steps": 10}
    unbroken = StepLosses()
    train(_cfg(corpus, bank, tmp_path / "a", max_steps=10, model_overrides=schedule), progress=False,
          callbacks=[unbroken])
    first, second = StepLosses(), StepLosses()
    train(_cfg(corpus, bank, tmp_path / "b", max_steps=5, model_overrides=schedule), progress=False, callbacks=[first])
    train(_cfg(corpus, bank, tmp_path / "b", max_steps=10, model_overrides=schedule, resume=True), progress=False,
          callbacks=[second])
    assert sorted(second.losses) == list(range(6, 11))
    for step in range(1, 11):
        resumed = first.losses.get(step, second.losses.get(step))
        assert resumed == pytest.approx(unbroken.losses[step], rel=1e-5, abs=1e-7), step


def _run(args):
    return subprocess.run(CLI + ["train"] + args, capture_output=True, text=True, timeout=300)


def _assert_one_line_error(result, message):
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_bad_inputs(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank
    common = ["--preset", "tiny", "--max-steps", "2", "--batch-clips", "1", "--n-crops", "2", "--num-workers", "0"]
    _assert_one_line_error(_run(["--data", str(corpus), "--bank", str(tmp_path / "nope.h5"), "--out",
                                 str(tmp_path / "r1")] + common), "not found")
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(_run(["--data", str(tmp_path / "empty"), "--bank", str(bank), "--out", str(tmp_path / "r2")]
                                + common), "no audio")
    bank8k = tmp_path / "bank8k.h5"
    simulate_bank(bank8k, SceneConfig(fs=8000, rt60=(0.2, 0.4), noise_bed_seconds=0.5), 4, progress=False)
    _assert_one_line_error(_run(["--data", str(corpus), "--bank", str(bank8k), "--out", str(tmp_path / "r3")] + common),
                           "8000 Hz")
    ok = _run(["--data", str(corpus), "--bank", str(bank), "--out", str(tmp_path / "r4"), "--channels", "2",
               "--seed", "1"] + common)
    assert ok.returncode == 0, ok.stderr[-3000:]
    _assert_one_line_error(_run(["--data", str(corpus), "--bank", str(bank), "--out", str(tmp_path / "r4"),
                                 "--channels", "1", "--resume"] + common), "2-channel")
    _assert_one_line_error(_run(["--data", str(corpus), "--bank", str(bank), "--out", str(tmp_path / "r5"),
                                 "--snr", "40..5"] + common), "LO > HI")
    _assert_one_line_error(_run(["--data", str(corpus), "--bank", str(bank), "--out", str(tmp_path / "r6"),
                                 "--clip-seconds", "1.0"] + common), "shorter than one crop")
