"""`wavjepa-nat train`: learning on the built-in corpus through a bank, exact resume, bad input."""

import dataclasses
import re
import subprocess
import sys

import lightning as L
import numpy as np
import pytest
import torch
from _training import StepLosses, tiny_train_config, tiny_train_options

from wavjepa_nat.errors import InputError
from wavjepa_nat.rir_bank import simulate_bank
from wavjepa_nat.scenes import SceneConfig
from wavjepa_nat.training.loop import TrainConfig, train

CLI = [sys.executable, "-m", "wavjepa_nat.cli"]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(corpus, bank, out, **kw):
    return tiny_train_config(corpus, out, bank, **{"n_crops": 4, "num_workers": 1, **kw})


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
    train(
        _cfg(corpus, bank, tmp_path / "a", max_steps=10, model_overrides=schedule),
        progress=False,
        callbacks=[unbroken],
    )
    first, second = StepLosses(), StepLosses()
    train(
        _cfg(corpus, bank, tmp_path / "b", max_steps=5, model_overrides=schedule),
        progress=False,
        callbacks=[first],
    )
    train(
        _cfg(corpus, bank, tmp_path / "b", max_steps=10, model_overrides=schedule, resume=True),
        progress=False,
        callbacks=[second],
    )
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
    common = "--preset tiny --max-steps 2 --batch-clips 1 --n-crops 2 --num-workers 0".split()

    def args(data, rirs, out, *extra):
        return ["--data", str(data), "--bank", str(rirs), "--out", str(tmp_path / out), *extra, *common]

    _assert_one_line_error(_run(args(corpus, tmp_path / "nope.h5", "r1")), "not found")
    (tmp_path / "empty").mkdir()
    _assert_one_line_error(_run(args(tmp_path / "empty", bank, "r2")), "no audio")
    bank8k = tmp_path / "bank8k.h5"
    simulate_bank(bank8k, SceneConfig(fs=8000, rt60=(0.2, 0.4), noise_bed_seconds=0.5), 4, progress=False)
    _assert_one_line_error(_run(args(corpus, bank8k, "r3")), "8000 Hz")
    ok = _run(args(corpus, bank, "r4", "--channels", "2", "--seed", "1"))
    assert ok.returncode == 0, ok.stderr[-3000:]
    _assert_one_line_error(_run(args(corpus, bank, "r4", "--channels", "1", "--resume")), "2-channel")
    _assert_one_line_error(_run(args(corpus, bank, "r5", "--snr", "40..5")), "LO > HI")
    _assert_one_line_error(_run(args(corpus, bank, "r6", "--clip-seconds", "1.0")), "shorter than one crop")


# ---------------------------------------------------------------- WavJEPA (mono): dry clips, no bank


def _mono_cfg(data, out, **kw):
    schedule = {"total_steps": 6, "warmup_steps": 2, "ema_ramp_steps": 6}
    options = {"channels": 1, "clean_ratio": 1.0, "num_workers": 1, "seed": 4, "model_overrides": schedule}
    return tiny_train_config(data, out, **{**options, **kw})


@pytest.mark.parametrize("layout", ["folder", "manifest"])
def test_mono_wavjepa_trains_without_a_bank_resumes_exports_and_loads(corpus_and_bank, tmp_path, layout):
    import wavjepa_nat
    from wavjepa_nat.nat_model.weights.export import export_weights

    corpus, _ = corpus_and_bank
    if layout == "folder":  # plain audio files, labels from sub-folders, no manifest
        data = tmp_path / "audio"
        for wav in sorted(corpus.rglob("*.wav"))[:8]:
            (data / wav.parent.name).mkdir(parents=True, exist_ok=True)
            (data / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    else:
        data = corpus / "manifest.csv"
    unbroken = StepLosses()
    train(_mono_cfg(data, tmp_path / "a", max_steps=6), progress=False, callbacks=[unbroken])
    first, second = StepLosses(), StepLosses()
    train(_mono_cfg(data, tmp_path / "b", max_steps=3), progress=False, callbacks=[first])
    last = train(
        _mono_cfg(data, tmp_path / "b", max_steps=6, resume=True), progress=False, callbacks=[second]
    )
    assert sorted(second.losses) == [4, 5, 6]
    for step in range(1, 7):
        resumed = first.losses.get(step, second.losses.get(step))
        assert resumed == pytest.approx(unbroken.losses[step], rel=1e-5, abs=1e-7), step
    exported = export_weights(last, tmp_path / "mono.safetensors")
    encoder = wavjepa_nat.load_model(exported)
    assert encoder.channels == 1
    audio = torch.randn(2, 1, 32160)
    with torch.inference_mode():
        frames = encoder(audio)
        again = wavjepa_nat.load_model(last)(audio)
    assert frames.shape[:2] == (2, 200) and torch.isfinite(frames).all()
    torch.testing.assert_close(frames, again)  # the export holds the checkpoint's weights


def test_the_readme_mono_command_runs_without_a_bank(corpus_and_bank, tmp_path):
    corpus, _ = corpus_and_bank
    flags = "--channels 1 --clean-ratio 1.0 --preset tiny --max-steps 2 --batch-clips 1 --n-crops 2"
    flags += " --clip-seconds 2.5 --num-workers 1"
    result = _run(["--data", str(corpus), *flags.split(), "--out", str(tmp_path / "clean")])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "clean" / "last.ckpt").is_file()


def test_wet_clips_without_a_bank_are_refused_before_anything_starts(corpus_and_bank, tmp_path):
    corpus, _ = corpus_and_bank
    result = _run(
        ["--data", str(corpus), "--channels", "1", "--clean-ratio", "0.5", "--out", str(tmp_path / "r")]
    )
    _assert_one_line_error(result, "--bank is required")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- kill -9 and resume

KILLED = """
import json, os, signal, sys, torch, lightning as L
from wavjepa_nat.errors import InputError
from wavjepa_nat.training.loop import TrainConfig, train

class KillAfter(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == int(sys.argv[4]):
            os.kill(os.getpid(), signal.SIGKILL)  # as a scheduler's kill -9: no cleanup, no last.ckpt

torch.set_num_threads(1)
cfg = TrainConfig(**json.loads(sys.argv[1]), out=sys.argv[2], max_steps=int(sys.argv[3]))
train(cfg, progress=False, callbacks=[KillAfter()])
"""


def test_a_killed_run_resumes_from_its_newest_checkpoint(corpus_and_bank, tmp_path):
    import json

    corpus, bank = corpus_and_bank
    options = tiny_train_options(corpus, bank, clean_ratio=0.5, ckpt_every=2, seed=7)
    unbroken = StepLosses()
    train(TrainConfig(**options, out=str(tmp_path / "a"), max_steps=6), progress=False, callbacks=[unbroken])
    script = tmp_path / "killed.py"
    script.write_text(KILLED)
    run = tmp_path / "b"
    killed = subprocess.run(
        [sys.executable, str(script), json.dumps(options), str(run), "6", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run / "last.ckpt").exists() and (run / "checkpoints" / "step0000004.ckpt").is_file()
    (run / "checkpoints" / "step0000005.ckpt").write_bytes(b"PK\x03\x04 truncated")  # a half-written file
    # Starting afresh on top of it is refused; --resume continues from step 4 (the truncated one is skipped).
    with pytest.raises(InputError, match="already holds a run"):
        train(TrainConfig(**options, out=str(run), max_steps=6), progress=False)
    resumed = StepLosses()
    train(TrainConfig(**options, out=str(run), max_steps=6, resume=True), progress=False, callbacks=[resumed])
    assert sorted(resumed.losses) == [5, 6]
    for step in (5, 6):
        assert resumed.losses[step] == pytest.approx(unbroken.losses[step], rel=1e-5, abs=1e-7), step
    assert not list((run / "checkpoints").glob("*-v1.ckpt"))


def test_resume_refuses_other_data_and_keeps_the_schedule(corpus_and_bank, tmp_path, capsys):
    corpus, bank = corpus_and_bank
    schedule = {"total_steps": 4, "warmup_steps": 1, "ema_ramp_steps": 4}
    train(_cfg(corpus, bank, tmp_path / "r", max_steps=2, model_overrides=schedule), progress=False)
    with pytest.raises(InputError, match="--seed 3 -> 4"):
        train(
            _cfg(corpus, bank, tmp_path / "r", max_steps=4, model_overrides=schedule, resume=True, seed=4),
            progress=False,
        )
    # Without the schedule pinned, a larger --max-steps keeps the run's own schedule (over 2 steps)
    # and says so.
    train(_cfg(corpus, bank, tmp_path / "s", max_steps=2), progress=False)
    capsys.readouterr()
    last = train(_cfg(corpus, bank, tmp_path / "s", max_steps=3, resume=True), progress=False)
    assert "own learning-rate and EMA schedule (over 2 steps)" in capsys.readouterr().err
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3 and ckpt["hyper_parameters"]["total_steps"] == 2


TERMINATED = """
import os, signal, sys, torch, lightning as L
import wavjepa_nat.training.loop as loop
from wavjepa_nat.cli import main

class TermAfter(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler's preemption

train = loop.train
loop.train = lambda cfg: train(cfg, progress=False, callbacks=[TermAfter()])
torch.set_num_threads(1)
sys.argv = ["wavjepa-nat", "train", *sys.argv[1:]]
main()
"""


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(corpus_and_bank, tmp_path):
    """A scheduler's SIGTERM: last.ckpt is saved, the exit status says the job did not finish (143), one line
    says so, and --resume gives the losses of an unbroken run."""
    corpus, bank = corpus_and_bank
    # ckpt_every: TrainConfig's default, as the CLI flags this test has always given
    options = tiny_train_options(corpus, bank, clean_ratio=0.5, ckpt_every=100, seed=5)
    unbroken = StepLosses()
    train(TrainConfig(**options, out=str(tmp_path / "a"), max_steps=5), progress=False, callbacks=[unbroken])
    script = tmp_path / "terminated.py"
    script.write_text(TERMINATED)
    run = tmp_path / "b"
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in options.items()]
    done = subprocess.run(
        [sys.executable, str(script), *flags, "--out", str(run), "--max-steps", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 143, done.stderr[-2000:]
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith("stopped: SIGTERM") and "step 3" in last_line and "--resume" in last_line
    assert (run / "last.ckpt").is_file() and not list(run.glob("*.tmp"))
    resumed = StepLosses()
    train(TrainConfig(**options, out=str(run), max_steps=5, resume=True), progress=False, callbacks=[resumed])
    assert sorted(resumed.losses) == [4, 5]
    for step in (4, 5):
        assert resumed.losses[step] == pytest.approx(unbroken.losses[step], rel=1e-5, abs=1e-7), step


def test_checkpoints_reach_the_run_folder_whole_and_one_run_writes_it(corpus_and_bank, tmp_path, monkeypatch):
    """A full disk while a checkpoint is flushed leaves no checkpoint under its final name (the temporary file
    lies in the run folder, not in /tmp, and is removed); a second run into a folder being written is refused
    before it writes anything."""
    import errno

    from wavjepa_nat import files

    corpus, bank = corpus_and_bank
    run = tmp_path / "run"
    with files.exclusive_lock(run):
        with pytest.raises(InputError, match="being written by another process"):
            train(_cfg(corpus, bank, run, max_steps=2), progress=False)
    assert not run.exists()

    made = []
    real = files.unique_tmp

    def recorded(path):
        made.append(real(path))
        return made[-1]

    fsync = files._fsync

    def full(path, directory=False):  # the disk is full when the first checkpoint is flushed
        if ".ckpt." in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        fsync(path, directory)

    monkeypatch.setattr(files, "unique_tmp", recorded)
    monkeypatch.setattr(files, "_fsync", full)
    with pytest.raises(OSError) as err:
        train(_cfg(corpus, bank, run, max_steps=2, ckpt_every=1), progress=False)
    assert err.value.errno == errno.ENOSPC
    assert any(".ckpt." in p.name for p in made) and all(p.parent in (run, run / "checkpoints") for p in made)
    assert not list(run.rglob("*.ckpt")) and not list(run.rglob("*.tmp"))


def test_shards_without_audio_are_refused_before_training_and_never_loop(
    corpus_and_bank, tmp_path, monkeypatch
):
    """An empty shard, a shard of corrupt members and a text file named .tar: one InputError before anything
    is written; and should a stream still run dry (the check skipped), training stops instead of looping."""
    import io
    import tarfile

    from wavjepa_nat.data import sources

    corpus, bank = corpus_and_bank
    empty, corrupt, text = tmp_path / "empty.tar", tmp_path / "corrupt.tar", tmp_path / "text.tar"
    tarfile.open(empty, "w").close()
    with tarfile.open(corrupt, "w") as tar:
        for i in range(3):
            data = b"RIFF not audio at all" * 10
            info = tarfile.TarInfo(f"clip{i}.wav")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    text.write_text("this is not a tar file\n" * 100)
    for shard in (empty, corrupt, text):
        out = tmp_path / f"run_{shard.stem}"
        with pytest.raises(InputError, match="no audio in 1 shard"):
            train(_cfg(corpus, bank, out, data=str(shard), max_steps=2, num_workers=0), progress=False)
        assert not out.exists()
    monkeypatch.setattr(sources, "_check_shards", lambda *a: None)
    monkeypatch.setattr("wavjepa_nat.training.loop.check_readable", lambda *a: None)
    with pytest.raises(InputError, match="the stream produced no audio"):
        train(
            _cfg(corpus, bank, tmp_path / "dry", data=str(empty), max_steps=2, num_workers=0), progress=False
        )


@pytest.mark.parametrize(
    "yaml_text, expect",
    [
        ("1: 2\n", "unknown training option(s): 1"),  # a mapping with an integer key
        ("model_overrides: {conv_spec: [[3, 2, 1]]}\n", "conv_spec must be [kernel, stride] pairs"),
        ("model_overrides: {conv_spec: 7}\n", "conv_spec must be [kernel, stride] pairs"),
        ("model_overrides: {crop_samples: 100}\n", "shorter than the conv stack's receptive field"),
        ("model_overrides: {mlp_ratio: -1}\n", "mlp_ratio must be a positive number"),
        ("seed: 4294967296\n", "--seed must be at most 2^32 - 1"),
        ("lr: 1.0e300\n", "--lr must be a positive number up to 1"),
        ("lr: 1e-3\nsnr: '5..40'\n", None),  # YAML 1.1 reads both as text: accepted as meant
    ],
)
def test_config_values_are_checked_before_anything_is_written(corpus_and_bank, tmp_path, yaml_text, expect):
    """Values that passed the checks and crashed later (after config.yaml was written, or in the model)."""
    corpus, bank = corpus_and_bank
    path = tmp_path / "run.yaml"
    path.write_text(f"data: {corpus}\nbank: {bank}\nout: {tmp_path / 'run'}\n" + yaml_text)
    if expect is None:
        cfg = TrainConfig.from_sources(str(path), {})
        assert cfg.lr == 1e-3 and cfg.snr == (5.0, 40.0)
        cfg.model_config()
        return
    with pytest.raises(InputError, match=re.escape(expect)):
        TrainConfig.from_sources(str(path), {}).model_config()
    assert not (tmp_path / "run").exists()


def test_train_config_takes_the_config_yaml_a_run_writes(corpus_and_bank, tmp_path):
    """Round trip: `train --config RUN/config.yaml` starts the same run (only --out given anew)."""
    corpus, bank = corpus_and_bank
    cfg = _cfg(corpus, bank, tmp_path / "a", max_steps=1, snr=(3.0, 30.0), lr=2e-4)
    train(cfg, progress=False)
    again = TrainConfig.from_sources(str(tmp_path / "a" / "config.yaml"), {"out": str(tmp_path / "b")})
    assert dataclasses.replace(again, out=cfg.out) == cfg


def test_a_resumed_runs_progress_bar_shows_the_step_of_max_steps(corpus_and_bank, tmp_path):
    corpus, bank = corpus_and_bank

    class ReadBar(L.Callback):
        def on_train_end(self, trainer, pl_module):
            bar = trainer.progress_bar_callback
            task = bar.progress.tasks[bar.train_progress_bar_id]
            self.shown = (int(task.completed), int(task.total))

    train(_cfg(corpus, bank, tmp_path / "r", max_steps=2, num_workers=0), progress=False)
    read = ReadBar()
    train(_cfg(corpus, bank, tmp_path / "r", max_steps=4, num_workers=0, resume=True), callbacks=[read])
    assert read.shown == (4, 4)  # was (4, 2): the step reached over the steps left
