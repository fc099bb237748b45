"""Checkpoints and exports of this project written under earlier module names, or before a config field
existed, load as what they were."""

import json
import re

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS, get_preset
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.nat_model.weights.export import FORMAT, load_model
from wavjepa_nat.training.module import WavJEPAModule


def old_name(key: str) -> str:
    """The name a tensor had when the conv stack and the MLP were nn.Sequential: conv0, GroupNorm, GELU,
    then (conv, GELU) pairs; Linear, GELU, Linear."""
    key = re.sub(r"cnn\.first_norm\.", "cnn.layers.1.", key)
    position = lambda m: f"cnn.layers.{0 if m[1] == '0' else 2 * int(m[1]) + 1}."  # noqa: E731
    key = re.sub(r"cnn\.convs\.(\d+)\.", position, key)
    return key.replace(".mlp.fc1.", ".mlp.0.").replace(".mlp.fc2.", ".mlp.2.")


def _fit(cfg, steps, ckpt_path=None):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    crops = [rng.standard_normal((cfg.channels, 4000)).astype(np.float32) for _ in range(8)]
    module = WavJEPAModule(cfg)
    losses = []

    class Record(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            losses.append(float(outputs["loss"]))

    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[Record()],
    )
    dl = torch.utils.data.DataLoader(crops, batch_size=4, collate_fn=MaskCollator(cfg, seed=0))
    trainer.fit(module, dl, ckpt_path=ckpt_path, weights_only=False)
    return module, trainer, losses


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A 2-step run's checkpoint as saved today and rewritten under the earlier tensor names."""
    cfg = get_preset("tiny", depth=2, pred_depth=1, warmup_steps=1, total_steps=10)
    root = tmp_path_factory.mktemp("old_names")
    module, trainer, _ = _fit(cfg, 2)
    new, old = root / "new.ckpt", root / "old.ckpt"
    trainer.save_checkpoint(new)
    ckpt = torch.load(new, weights_only=False)
    ckpt["state_dict"] = {old_name(k): v for k, v in ckpt["state_dict"].items()}
    names = list(ckpt["state_dict"])
    assert any(".cnn.layers.3." in k for k in names) and any(".mlp.2." in k for k in names)
    torch.save(ckpt, old)
    return cfg, module, new, old


def test_an_old_named_checkpoint_loads_and_gives_the_same_frames(checkpoints):
    cfg, module, _, old = checkpoints
    audio = torch.randn(2, 2, 4000)
    with torch.no_grad():
        want = module.model.encoder.eval()(audio)
        assert torch.equal(load_model(old)(audio), want)
        again = WavJEPAModule.load_from_checkpoint(old, map_location="cpu")
        assert torch.equal(again.model.encoder.eval()(audio), want)


def test_an_old_named_checkpoint_resumes_as_the_same_checkpoint_saved_today(checkpoints):
    cfg, _, new, old = checkpoints
    losses = _fit(cfg, 4, ckpt_path=str(new))[2]
    assert len(losses) == 2
    assert _fit(cfg, 4, ckpt_path=str(old))[2] == losses


def test_an_old_named_export_loads(tmp_path):
    torch.manual_seed(0)
    cfg = get_preset("tiny", depth=1, top_k_targets=1)
    module = WavJEPAModule(cfg)
    enc = module.model.encoder.eval()
    state = {old_name(k): v.contiguous() for k, v in enc.state_dict().items()}
    meta = {"format": FORMAT, "format_version": "1", "config": json.dumps(cfg.to_dict())}
    save_file(state, str(tmp_path / "old.safetensors"), metadata=meta)
    audio = torch.randn(1, 2, 4000)
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "old.safetensors")(audio), enc(audio))


def test_a_checkpoint_from_before_the_layout_fields_loads_as_the_reference_layout(tmp_path):
    """Such a file stores share_ear_encoders but neither ear_norm nor interaural (per-ear, none then)."""
    torch.manual_seed(0)
    cfg = get_preset("tiny", depth=1, top_k_targets=1, **BINAURAL_LAYOUTS["reference"])
    module = WavJEPAModule(cfg)
    hparams = cfg.to_dict()
    del hparams["ear_norm"], hparams["interaural"]
    state = {f"model.{old_name(k)}": v for k, v in module.model.state_dict().items()}
    torch.save({"hyper_parameters": hparams, "state_dict": state, "global_step": 0}, tmp_path / "old.ckpt")
    enc = load_model(tmp_path / "old.ckpt")
    assert (enc.config.ear_norm, enc.config.interaural, len(enc.frontends)) == ("per_ear", "none", 2)
    audio = torch.randn(1, 2, 4000)
    with torch.no_grad():
        assert torch.equal(enc(audio), module.model.encoder.eval()(audio))


@pytest.mark.parametrize("command", ["export", "import-weights", "embed", "robustness", "train --init-from"])
def test_a_zero_byte_checkpoint_is_one_line_in_every_command(
    corpus_and_bank, tmp_path, monkeypatch, capsys, command
):
    """A checkpoint copied or saved cut short to 0 bytes (torch raises EOFError with no message)."""
    import numpy as np
    import soundfile as sf

    from tests._cli import run_main

    corpus, bank = corpus_and_bank
    zero = tmp_path / "zero.ckpt"
    zero.write_bytes(b"")
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000), 16000)
    argv = {
        "export": ["export", zero, "--out", tmp_path / "m.safetensors"],
        "import-weights": ["import-weights", zero, "--out", tmp_path / "m.safetensors"],
        "embed": ["embed", "--model", zero, "--input", wav, "--out", tmp_path / "e.h5"],
        "robustness": ["robustness", "--model", zero, "--bank", bank, "--out", tmp_path / "r"],
        "train --init-from": ["train", "--data", corpus, "--bank", bank, "--out", tmp_path / "t",
                              "--init-from", zero, "--max-steps", "1"],
    }[command]  # fmt: skip
    rc, _, err = run_main(monkeypatch, capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "0 bytes" in err, err
    assert not [p for p in tmp_path.iterdir() if p.name not in ("zero.ckpt", "a.wav")]
