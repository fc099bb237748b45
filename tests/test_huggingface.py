"""robustness/models/huggingface.py: `hf:PATH[@LAYER|@all]` models. Tiny random models are built with
transformers itself (save_pretrained into tmp folders, nothing downloaded), and our embeddings are checked
against the hidden states transformers returns for the same audio, computed here independently."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from _tiny_hf import make_wav2vec2
from scipy.signal import resample_poly

transformers = pytest.importorskip("transformers")

from wavjepa_nat.errors import InputError  # noqa: E402
from wavjepa_nat.robustness.models.huggingface import HFEmbedder, check_hf_spec  # noqa: E402

FS = 16000


def make_ast(folder):
    config = transformers.ASTConfig(
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=16,
        max_length=32,
        frequency_stride=10,
        time_stride=10,
        patch_size=16,
    )
    torch.manual_seed(0)
    transformers.ASTModel(config).save_pretrained(folder)
    transformers.ASTFeatureExtractor(num_mel_bins=16, max_length=32, sampling_rate=FS).save_pretrained(folder)
    return folder


REMOTE_CONFIG = """
from transformers import PretrainedConfig


class TinyEarsConfig(PretrainedConfig):
    model_type = "tiny_ears"

    def __init__(self, hidden_size=8, num_hidden_layers=2, num_channels=2, **kw):
        self.hidden_size, self.num_hidden_layers = hidden_size, num_hidden_layers
        self.num_channels = num_channels
        super().__init__(**kw)
"""

REMOTE_MODEL = '''
import torch
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .configuration_tiny_ears import TinyEarsConfig


class TinyEarsModel(PreTrainedModel):
    """Both ears, framed by a strided conv, then linear layers: hidden states 0..L."""

    config_class = TinyEarsConfig

    def __init__(self, config):
        super().__init__(config)
        self.frames = torch.nn.Conv1d(2, config.hidden_size, 160, stride=160)
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(config.hidden_size, config.hidden_size) for _ in range(config.num_hidden_layers)
        )
        self.post_init()

    def forward(self, input_values, output_hidden_states=False, **kw):
        h = self.frames(input_values).transpose(1, 2)
        states = [h]
        for layer in self.layers:
            h = torch.tanh(layer(h))
            states.append(h)
        return BaseModelOutput(last_hidden_state=h, hidden_states=tuple(states))
'''


def make_remote(folder):
    folder.mkdir()
    (folder / "configuration_tiny_ears.py").write_text(textwrap.dedent(REMOTE_CONFIG))
    (folder / "modeling_tiny_ears.py").write_text(textwrap.dedent(REMOTE_MODEL))
    config = {
        "model_type": "tiny_ears",
        "architectures": ["TinyEarsModel"],
        "auto_map": {
            "AutoConfig": "configuration_tiny_ears.TinyEarsConfig",
            "AutoModel": "modeling_tiny_ears.TinyEarsModel",
        },
        "hidden_size": 8,
        "num_hidden_layers": 2,
        "num_channels": 2,
    }
    torch.manual_seed(0)
    weights = {
        "frames.weight": torch.randn(8, 2, 160) * 0.05,
        "frames.bias": torch.zeros(8),
        **{f"layers.{i}.weight": torch.randn(8, 8) * 0.3 for i in range(2)},
        **{f"layers.{i}.bias": torch.zeros(8) for i in range(2)},
    }
    from safetensors.torch import save_file

    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config))
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=FS, do_normalize=False).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {
        "w2v": make_wav2vec2(root / "w2v"),
        "ast": make_ast(root / "ast"),
        "remote": make_remote(root / "remote"),
    }


def audio(n=3, channels=2, seconds=1.0, fs=FS, seed=0):
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((n, channels, int(seconds * fs)))).astype(np.float32)


def reference_states(folder, mono: np.ndarray, remote=False):
    """Hidden states straight from transformers for (n, S) mono audio at 16 kHz (or (n, 2, S))."""
    kw = {"local_files_only": True, "trust_remote_code": remote}
    extractor = transformers.AutoFeatureExtractor.from_pretrained(str(folder), **kw)
    model = transformers.AutoModel.from_pretrained(str(folder), **kw).eval()
    if remote:
        inputs = {"input_values": torch.from_numpy(mono)}
    else:
        inputs = extractor(list(mono), sampling_rate=FS, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs, output_hidden_states=True).hidden_states


@pytest.mark.parametrize("which", ["w2v", "ast"])
def test_huggingface_last_layer_is_time_mean_of_transformers_hidden_state(folders, which):
    x = audio()
    emb = HFEmbedder(f"hf:{folders[which]}", FS)
    states = reference_states(folders[which], x.mean(axis=1))
    want = states[-1].mean(dim=1).numpy()
    assert emb.channels == 1 and emb.output_dim == 16
    np.testing.assert_allclose(emb.scene_embeddings(x), want, rtol=1e-4, atol=1e-5)


def test_huggingface_layer_and_all(folders):
    x = audio(seed=1)
    states = reference_states(folders["ast"], x.mean(axis=1))
    one = HFEmbedder(f"hf:{folders['ast']}@1", FS).scene_embeddings(x)
    np.testing.assert_allclose(one, states[1].mean(dim=1).numpy(), rtol=1e-4, atol=1e-5)
    every = HFEmbedder(f"hf:{folders['ast']}@all", FS).scene_embeddings(x)
    mean_layers = torch.stack(states[1:]).mean(dim=0).mean(dim=1).numpy()
    np.testing.assert_allclose(every, mean_layers, rtol=1e-4, atol=1e-5)


def test_huggingface_resamples_to_the_extractor_rate(folders):
    x8k = audio(fs=8000, seed=2)
    emb = HFEmbedder(f"hf:{folders['w2v']}", 8000)
    mono16k = resample_poly(x8k.mean(axis=1), 2, 1, axis=-1).astype(np.float32)
    want = reference_states(folders["w2v"], mono16k)[-1].mean(dim=1).numpy()
    np.testing.assert_allclose(emb.scene_embeddings(x8k), want, rtol=1e-3, atol=1e-4)
    assert emb.describe()["sample_rate"] == FS and "8000 -> 16000" in emb.describe()["input"]


def test_huggingface_remote_code_two_channels_get_both_ears(folders):
    x = audio(seed=3)
    with pytest.raises(InputError, match="--trust-remote-code"):
        check_hf_spec(f"hf:{folders['remote']}")
    emb = HFEmbedder(f"hf:{folders['remote']}", FS, trust_remote_code=True)
    assert emb.channels == 2
    want = reference_states(folders["remote"], x, remote=True)[-1].mean(dim=1).numpy()
    np.testing.assert_allclose(emb.scene_embeddings(x), want, rtol=1e-4, atol=1e-5)
    described = emb.describe()
    assert described["config"]["trust_remote_code"] is True and "trust_remote_code" in described["source"]
    assert f"transformers {transformers.__version__}" in described["source"]


def test_huggingface_bad_specs(folders, tmp_path):
    with pytest.raises(InputError, match="not a Hugging Face model folder"):
        check_hf_spec(f"hf:{tmp_path}")
    with pytest.raises(InputError, match="out of range"):
        check_hf_spec(f"hf:{folders['w2v']}@3")
    check_hf_spec(f"hf:{folders['w2v']}@2")
    with pytest.raises(InputError, match="local Hugging Face cache"):
        check_hf_spec("hf:nobody-here/no-such-model")


def test_huggingface_cached_model_id(folders, tmp_path, monkeypatch):
    """A model id resolves to its snapshot in the local cache (hub layout), without any download."""
    import shutil

    snapshot = tmp_path / "hub" / "models--someone--tiny-w2v" / "snapshots" / "abc123"
    shutil.copytree(folders["w2v"], snapshot)
    refs = tmp_path / "hub" / "models--someone--tiny-w2v" / "refs"
    refs.mkdir()
    (refs / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    emb = HFEmbedder("hf:someone/tiny-w2v", FS)
    assert emb.folder == snapshot and emb.output_dim == 16


def test_huggingface_embed_cli_and_hear_api(folders, tmp_path, monkeypatch, capsys):
    import h5py
    import soundfile as sf
    from _cli import run_main

    from wavjepa_nat import hear

    x = audio(n=2, seed=4)
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for i, clip in enumerate(x):
        sf.write(wavs / f"c{i}.wav", clip[0], FS, subtype="FLOAT")
    want = reference_states(folders["w2v"], x[:, 0])[-1].numpy()  # (n, T, D)
    out = tmp_path / "e.h5"
    rc, _, err = run_main(
        monkeypatch, capsys, ["embed", "--model", f"hf:{folders['w2v']}", "-i", wavs, "-o", out]
    )
    assert rc == 0, err
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["scene"][:], want.mean(axis=1), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(f["frames"][: want.shape[1]], want[0], rtol=1e-4, atol=1e-5)
        assert list(f["offsets"][:]) == [0, want.shape[1], 2 * want.shape[1]]

    model = hear.load_model(f"hf:{folders['w2v']}")
    assert model.sample_rate == FS and model.scene_embedding_size == 16
    scene = hear.get_scene_embeddings(torch.from_numpy(x[:, 0]), model)
    np.testing.assert_allclose(scene.numpy(), want.mean(axis=1), rtol=1e-4, atol=1e-5)
    emb, ts = hear.get_timestamp_embeddings(torch.from_numpy(x[:, 0]), model)
    assert emb.shape == want.shape and ts.shape == want.shape[:2] and float(ts[0, -1]) < 1000.0


def test_huggingface_without_transformers_names_the_extra(folders, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(InputError, match=r"wavjepa-nat\[hf\]"):
        check_hf_spec(f"hf:{folders['w2v']}")
