"""The teacher options of `train` (issue 19): --loss, --teacher ema|frozen:SRC, --teacher-input same|dry,
--objective jepa|reconstruct (training/teachers.py, nat_model/targets.py, the Recipe in nat_model/jepa.py).

Every check is against an independent computation: losses recorded from the code before these options
existed, targets recomputed by hand from the teacher's layers, log-mel spectra recomputed in numpy.
"""

import hashlib
import json

import lightning as L
import numpy as np
import pytest
import torch
from _training import StepLosses, tiny_train_config

from wavjepa_nat.data.augment import AugmentConfig, augment_clip
from wavjepa_nat.data.augment_torch import augment_torch
from wavjepa_nat.dsp import mel_filterbank
from wavjepa_nat.nat_model.config import get_preset
from wavjepa_nat.nat_model.jepa import Recipe, WavJEPA, masked_error
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.nat_model.targets import FrozenTeacher
from wavjepa_nat.nat_model.weights.export import export_weights, load_model, read_export
from wavjepa_nat.training.loop import train


class TeacherWeights(L.Callback):
    """The frozen teacher's tensors when training starts and ends, and what the optimizer holds."""

    def on_train_start(self, trainer, pl_module):
        teacher = pl_module.model.frozen_teacher.encoder
        self.before = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
        optimised = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
        self.in_optimizer = any(id(p) in optimised for p in teacher.parameters())

    def on_train_end(self, trainer, pl_module):
        teacher = pl_module.model.frozen_teacher.encoder
        self.after = {k: v.detach().clone() for k, v in teacher.state_dict().items()}
        self.trainable = any(p.requires_grad for p in teacher.parameters())
        self.training_mode = teacher.training


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(corpus, bank, out, **kw):
    options = {"log_every": 1, "max_steps": 3, "model_overrides": {"warmup_steps": 1}}
    return tiny_train_config(corpus, out, bank, **{**options, **kw})


def _losses(cfg) -> list[float]:
    steps = StepLosses()
    train(cfg, progress=False, callbacks=[steps])
    return [steps.losses[k] for k in sorted(steps.losses)]


# Recorded from the code before issue 19 (commit 480be6a) with _cfg's options on the session's
# corpus_and_bank fixture: the reference recipe must give these losses still. That code's default binaural
# layout was "spatial" (the test pins it; the default is now "apart").
BEFORE = {
    "cpu": [0.9904325604438782, 1.008182168006897, 0.9547562599182129],
    "gpu": [0.9904325604438782, 1.008182168006897, 0.9547562003135681],
    "mono": [0.9709665775299072, 1.0087478160858154, 0.9438562393188477],
}


@pytest.mark.parametrize("kind", ["cpu", "gpu", "mono"])
def test_ema_same_gives_the_losses_of_the_code_before_the_options(corpus_and_bank, tmp_path, kind):
    corpus, bank = corpus_and_bank
    kw = {"augment_on": "gpu"} if kind == "gpu" else {"channels": 1} if kind == "mono" else {}
    kw["layout"] = "spatial"
    losses = _losses(
        _cfg(corpus, bank, tmp_path / "run", teacher="ema", teacher_input="same", loss="mse", **kw)
    )
    np.testing.assert_allclose(losses, BEFORE[kind], rtol=1e-6)


def test_salt_stage_one_then_a_frozen_teacher_that_never_changes(corpus_and_bank, tmp_path, capsys):
    """Stage 1 (reconstruct) -> its last.ckpt as a frozen teacher of a dry-input student with the L1 loss;
    the teacher's tensors are bit-identical after training, and it is neither trained nor saved."""
    corpus, bank = corpus_and_bank
    stage1 = tmp_path / "stage1"
    losses = _losses(_cfg(corpus, bank, stage1, objective="reconstruct", max_steps=2))
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    teacher_file = stage1 / "last.ckpt"
    watch = TeacherWeights()
    cfg = _cfg(
        corpus, bank, tmp_path / "stage2", teacher=f"frozen:{teacher_file}", teacher_input="dry", loss="l1"
    )
    train(cfg, progress=False, callbacks=[watch])
    assert watch.before.keys() == watch.after.keys()
    assert all(torch.equal(watch.before[k], watch.after[k]) for k in watch.before)
    assert not watch.in_optimizer and not watch.trainable and not watch.training_mode
    on_file = load_model(teacher_file).state_dict()
    assert all(torch.equal(on_file[k], watch.after[k]) for k in on_file)
    ckpt = torch.load(tmp_path / "stage2" / "last.ckpt", map_location="cpu", weights_only=False)
    assert not any(k.startswith("model.target_encoder.") for k in ckpt["state_dict"])
    assert ckpt["wavjepa_nat_recipe"] == {
        "objective": "jepa",
        "teacher": "frozen",
        "teacher_input": "dry",
        "loss": "l1",
    }
    sha = hashlib.sha256(teacher_file.read_bytes()).hexdigest()
    assert ckpt["wavjepa_nat_teacher"]["sha256"] == sha
    # An export of the student keeps where its targets came from.
    meta, _ = read_export(export_weights(tmp_path / "stage2" / "last.ckpt", tmp_path / "student.safetensors"))
    assert json.loads(meta["origin"])["teacher"]["sha256"] == sha
    # The run resumes with its teacher file, continuing where it stopped.
    steps = StepLosses()
    train(
        _cfg(
            corpus,
            bank,
            tmp_path / "stage2",
            teacher=f"frozen:{teacher_file}",
            teacher_input="dry",
            loss="l1",
            max_steps=4,
            resume=True,
        ),
        progress=False,
        callbacks=[steps],
    )
    assert sorted(steps.losses) == [4]


def test_dry_with_every_clip_dry_warns_in_one_line_and_trains(corpus_and_bank, tmp_path, capsys):
    corpus, bank = corpus_and_bank
    losses = _losses(
        _cfg(corpus, "", tmp_path / "run", channels=1, clean_ratio=1.0, teacher_input="dry", max_steps=1)
    )
    assert len(losses) == 1 and np.isfinite(losses[0])
    warned = [ln for ln in capsys.readouterr().err.splitlines() if "--teacher-input dry" in ln]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and "--clean-ratio 1" in warned[0]


# ---------------------------------------------------------------- the dry crops and the targets


def _normalised(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over all of x (float64)."""
    x = np.asarray(x, np.float64)
    return (x - x.mean()) / np.sqrt(x.var() + 1e-12)


def _scene(rng, n=12000, taps=300):
    brir = (rng.standard_normal((2, taps)) * np.exp(-np.arange(taps) / 60.0)).astype(np.float32)
    noise = rng.standard_normal((2, n)).astype(np.float32)
    return rng.standard_normal(n).astype(np.float32), brir, noise


def test_dry_crops_are_the_dry_source_at_the_same_windows_on_both_paths():
    rng = np.random.default_rng(0)
    cfg = AugmentConfig(n_crops=3, crop_samples=4000, channels=2)
    dry, brir, noise = _scene(rng)
    offsets = np.array([0, 3100, 7999])
    for clean in (False, True):
        crops, dry_crops = augment_clip(dry, clean, brir, noise, 10.0, 5, offsets, cfg, return_dry=True)
        assert crops.shape == (3, 2, 4000) and dry_crops.shape == (3, 1, 4000)
        for i, o in enumerate(offsets):
            np.testing.assert_allclose(dry_crops[i, 0], _normalised(dry[o : o + 4000]), atol=2e-5)
        if clean:  # the dry clip on both ears: the student's crops equal the dry ones
            np.testing.assert_allclose(crops[:, :1], dry_crops, atol=1e-6)
        t_crops, t_dry = augment_torch(
            torch.from_numpy(dry)[None],
            torch.tensor([clean]),
            torch.from_numpy(brir)[None],
            torch.from_numpy(noise)[None],
            torch.tensor([10.0], dtype=torch.float64),
            torch.tensor([5]),
            torch.from_numpy(offsets)[None],
            channels=2,
            crop_samples=4000,
            return_dry=True,
        )
        np.testing.assert_allclose(t_dry.numpy(), dry_crops, atol=2e-5)
        np.testing.assert_allclose(t_crops.numpy(), crops, atol=2e-4)


def _hand_targets(encoder, audio: torch.Tensor, k: int) -> torch.Tensor:
    """The teacher's layer-average target computed by hand: each of its last k layers normalised per
    feature over tokens (biased variance, eps 1e-5), averaged."""
    _, layers = encoder.encode(audio, return_layers=True)
    out = []
    for h in layers[-k:]:
        h = h.double()
        mean, var = h.mean(1, keepdim=True), h.var(1, keepdim=True, unbiased=False)
        out.append((h - mean) / torch.sqrt(var + 1e-5))
    return torch.stack(out).mean(0)


def _batch(cfg, n_crops=3, seed=0, dry=True):
    gen = torch.Generator().manual_seed(seed)
    audio = torch.randn(n_crops, cfg.channels, cfg.crop_samples, generator=gen)
    batch = {"audio": audio, **MaskCollator(cfg, seed=seed).masks(n_crops, cfg.crop_samples, gen)}
    if dry:
        batch["dry_audio"] = torch.randn(n_crops, 1, cfg.crop_samples, generator=gen)
    return batch


def _gathered(targets: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    b, g, n = idx.shape
    flat = idx.reshape(b, g * n)
    return torch.stack([targets[i, flat[i]] for i in range(b)]).reshape(b, g, n, -1)


@torch.no_grad()
def test_dry_targets_are_the_teachers_output_on_the_dry_crops():
    torch.manual_seed(0)
    cfg = get_preset("tiny", channels=2, crop_samples=8000)
    batch = _batch(cfg)
    dry_both_ears = batch["dry_audio"].expand(-1, 2, -1)
    # EMA teacher (binaural, like the student): the dry mono crop on both ears.
    ema = WavJEPA(cfg, Recipe(teacher_input="dry")).eval()
    _, target, _ = ema.predict(batch)
    want = _gathered(_hand_targets(ema.target_encoder, dry_both_ears, cfg.top_k_targets), batch["target_idx"])
    torch.testing.assert_close(target.double(), want, atol=1e-4, rtol=1e-4)
    # A smaller, mono frozen teacher: the dry mono crop; both ears' tokens of a frame get its token's target.
    small = get_preset("tiny", channels=1, crop_samples=8000, embed_dim=64, depth=2, top_k_targets=2)
    teacher = WavJEPA(small).encoder.eval()
    frozen = WavJEPA(cfg, Recipe(teacher="frozen", teacher_input="dry"), FrozenTeacher(teacher)).eval()
    _, target, _ = frozen.predict(batch)
    mono = _hand_targets(teacher, batch["dry_audio"], 2)  # (B, T, 64)
    want = _gathered(torch.cat([mono, mono], dim=1), batch["target_idx"])  # ear-major tokens
    assert target.shape[-1] == 64
    torch.testing.assert_close(target.double(), want, atol=1e-4, rtol=1e-4)


def _hand_log_mel(audio: np.ndarray, hop: int, field: int) -> np.ndarray:
    """(B, C, S) -> (B, C*T, 64): per token the frame's Hann-windowed power spectrum on 512 points, the
    64-band mel filterbank (50 Hz .. fs/2), dB floored at -100, each band normalised over the crop's
    tokens."""
    b, c, s = audio.shape
    n_time = (s - field) // hop + 1
    fbank = mel_filterbank(64, 512, 16000, 50.0, 8000.0).astype(np.float64)
    window = np.hanning(field)
    out = np.zeros((b, c * n_time, 64))
    for i in range(b):
        for ear in range(c):
            for t in range(n_time):
                frame = audio[i, ear, t * hop : t * hop + field].astype(np.float64) * window
                power = np.abs(np.fft.rfft(frame, 512)) ** 2
                out[i, ear * n_time + t] = 10 * np.log10(np.maximum(fbank @ power, 1e-10))
        mean, var = out[i].mean(0), out[i].var(0)
        out[i] = (out[i] - mean) / np.sqrt(var + 1e-5)
    return out


def test_reconstruct_loss_on_a_fixed_batch_matches_a_hand_computation():
    torch.manual_seed(1)
    cfg = get_preset("tiny", channels=2, crop_samples=4000)
    batch = _batch(cfg, n_crops=2, dry=False)
    for loss in ("mse", "l1"):
        model = WavJEPA(cfg, Recipe(objective="reconstruct", loss=loss))
        assert model.target_encoder is None and model.predictor.out.out_features == 64
        got, _ = model(batch)
        pred, _, _ = model.predict(batch)
        target = _hand_log_mel(batch["audio"].numpy(), 160, 240)
        idx, valid = batch["target_idx"].numpy(), batch["target_valid"].numpy()
        p = pred.detach().double().numpy()
        per_group = []
        for b in range(idx.shape[0]):
            for g in range(idx.shape[1]):
                err = p[b, g][valid[b, g]] - target[b, idx[b, g][valid[b, g]]]
                per_group.append(np.mean(err**2) if loss == "mse" else np.mean(np.abs(err)))
        np.testing.assert_allclose(float(got.detach()), np.mean(per_group), rtol=1e-4)


def test_masked_l1_is_the_mean_absolute_error_over_valid_tokens():
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 4))
    valid = rng.random((2, 3, 5)) > 0.3
    valid[..., 0] = True
    want = [
        [np.mean(np.abs(pred[b, g][valid[b, g]] - target[b, g][valid[b, g]])) for g in range(3)]
        for b in range(2)
    ]
    got = masked_error(torch.tensor(pred), torch.tensor(target), torch.tensor(valid), "l1")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


@torch.no_grad()
def test_a_teacher_of_another_channel_count_gets_the_ear_mean_or_both_ears():
    torch.manual_seed(2)
    stereo = get_preset("tiny", channels=2, crop_samples=8000)
    mono = get_preset("tiny", channels=1, crop_samples=8000)
    # A mono teacher of a binaural student, same input: the ear mean, normalised again like a mono crop.
    batch = _batch(stereo, dry=False)
    teacher = WavJEPA(mono).encoder.eval()
    model = WavJEPA(stereo, Recipe(teacher="frozen"), FrozenTeacher(teacher)).eval()
    _, target, _ = model.predict(batch)
    mean = batch["audio"].double().mean(1, keepdim=True)
    mean = ((mean - mean.mean((1, 2), keepdim=True)) / mean.std((1, 2), keepdim=True, unbiased=False)).float()
    per_frame = _hand_targets(teacher, mean, mono.top_k_targets)
    want = _gathered(torch.cat([per_frame, per_frame], dim=1), batch["target_idx"])
    torch.testing.assert_close(target.double(), want, atol=1e-4, rtol=1e-4)
    # A binaural teacher of a mono student: the mono crop on both ears, the mean of the ears' targets.
    batch = _batch(mono, dry=False)
    teacher = WavJEPA(stereo).encoder.eval()
    model = WavJEPA(mono, Recipe(teacher="frozen"), FrozenTeacher(teacher)).eval()
    _, target, _ = model.predict(batch)
    both = _hand_targets(teacher, batch["audio"].expand(-1, 2, -1), stereo.top_k_targets)
    n = both.shape[1] // 2
    want = _gathered((both[:, :n] + both[:, n:]) / 2, batch["target_idx"])
    torch.testing.assert_close(target.double(), want, atol=1e-4, rtol=1e-4)
