"""Export / load round trips (Lightning .ckpt and safetensors), metadata, any input length, channel checks."""

import json

import lightning as L
import numpy as np
import pytest
import torch
from safetensors import safe_open

import wavjepa_nat
from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig, get_preset
from wavjepa_nat.nat_model.encoder import check_channels, n_frames
from wavjepa_nat.nat_model.masks import MaskCollator
from wavjepa_nat.nat_model.weights.export import export_weights, load_model
from wavjepa_nat.training.module import WavJEPAModule

CUES = 2 * 16 + 1 + 16  # the default layout appends each frame's +-16 GCC-PHAT lags and 16 band ILDs


def _checkpoint(tmp_path, channels=2, steps=2):
    torch.manual_seed(0)
    cfg = get_preset("tiny", channels=channels, depth=2, pred_depth=1, warmup_steps=1)
    rng = np.random.default_rng(0)
    crops = [rng.standard_normal((channels, 4000)).astype(np.float32) for _ in range(8)]
    dl = torch.utils.data.DataLoader(crops, batch_size=4, collate_fn=MaskCollator(cfg))
    module = WavJEPAModule(cfg)
    trainer = L.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, dl)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return module, path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _checkpoint(tmp_path_factory.mktemp("ckpt"))


def test_ckpt_rebuilds_with_no_other_file(trained):
    module, path = trained
    ckpt = torch.load(path, map_location="cpu", weights_only=True)  # plain data, no pickled classes
    assert ModelConfig.from_dict(ckpt["hyper_parameters"]) == module.cfg
    assert ckpt["wavjepa_nat_version"] == wavjepa_nat.__version__
    again = WavJEPAModule.load_from_checkpoint(path, map_location="cpu")
    for (k, a), (_, b) in zip(module.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("n_samples", [240, 16000, 32160, 40000])
def test_round_trip_is_bitwise_exact(trained, tmp_path, n_samples):
    module, ckpt = trained
    st = export_weights(ckpt, tmp_path / "enc.safetensors")
    from_ckpt, from_st = wavjepa_nat.load_model(ckpt), wavjepa_nat.load_model(st)
    live = module.model.encoder.eval()
    x = torch.randn(3, 2, n_samples, generator=torch.Generator().manual_seed(n_samples))
    with torch.no_grad():
        y = live(x)
        assert torch.equal(from_ckpt(x), y) and torch.equal(from_st(x), y)
    assert y.shape == (3, n_frames(n_samples, module.cfg.conv_spec), 2 * module.cfg.embed_dim + CUES)


def test_loaded_encoder_attributes_and_eval_mode(trained, tmp_path):
    module, _ = trained
    enc = load_model(export_weights(module, tmp_path / "m.safetensors"))
    assert not enc.training
    assert (enc.sample_rate, enc.channels, enc.embed_dim) == (16000, 2, module.cfg.embed_dim)
    assert enc.output_dim == 2 * module.cfg.embed_dim + CUES
    assert enc.hop_ms == 10 and enc.crop_samples == 32160
    assert enc.config == module.cfg
    assert not hasattr(enc, "predictor")


def test_safetensors_metadata_describes_the_model(trained, tmp_path):
    module, ckpt = trained
    out = export_weights(ckpt, tmp_path / "x.safetensors")
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert json.loads(meta["config"]) == module.cfg.to_dict()
    assert meta["wavjepa_nat_version"] == wavjepa_nat.__version__
    assert not any(k.startswith(("predictor", "target_encoder")) for k in keys)


def test_ear_halves_are_the_per_ear_tokens(trained):
    """Output frame t = [ear-0 token t, ear-1 token t, cues] of the transformer's ear-major sequence."""
    module, _ = trained
    enc = module.model.encoder.eval()
    x = torch.randn(1, 2, 8000)
    with torch.no_grad():
        seq = enc.encode(x)[0]  # (2T, D)
        y = enc(x)[0]  # (T, 2D + CUES)
    T, D = y.shape[0], enc.embed_dim
    assert torch.equal(y[:, :D], seq[:T]) and torch.equal(y[:, D : 2 * D], seq[T:])
    assert y.shape[1] == 2 * D + CUES


def test_channel_mismatch_is_a_clear_input_error(trained):
    _, ckpt = trained
    enc = load_model(ckpt)
    with pytest.raises(InputError, match="expects 2-channel audio, got 1"):
        enc(torch.zeros(1, 1, 16000))
    with pytest.raises(InputError, match="channel mismatch"):
        check_channels(enc, 1)
    check_channels(enc, 2)


def test_mono_model_round_trip(tmp_path):
    module, ckpt = _checkpoint(tmp_path, channels=1, steps=1)
    enc = load_model(export_weights(ckpt, tmp_path / "mono.safetensors"))
    x = torch.randn(2, 1, 16000)
    with torch.no_grad():
        assert torch.equal(enc(x), module.model.encoder.eval()(x))
        assert enc(x[:, 0]).shape == (
            2,
            n_frames(16000, module.cfg.conv_spec),
            module.cfg.embed_dim,
        )  # (B, S) is accepted for mono
    with pytest.raises(InputError, match="expects 1-channel audio, got 2"):
        enc(torch.zeros(1, 2, 16000))


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.ckpt")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(InputError):
        load_model(junk)
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(InputError, match="not a wavjepa-nat"):
        load_model(other)


def test_cli_export(trained, tmp_path):
    from typer.testing import CliRunner

    from wavjepa_nat.cli import app

    module, ckpt = trained
    out = tmp_path / "cli.safetensors"
    res = CliRunner().invoke(app, ["export", str(ckpt), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and out.is_file()
    x = torch.randn(1, 2, 32160)
    with torch.no_grad():
        assert torch.equal(load_model(out)(x), module.model.encoder.eval()(x))
    bad = CliRunner().invoke(app, ["export", str(ckpt), "--out", str(tmp_path / "x.bin")])
    assert bad.exit_code != 0
