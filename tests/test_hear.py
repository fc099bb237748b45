"""The HEAR 2021 API rules, checked as the hear-validator does, on the fake encoder."""

import numpy as np
import pytest
import torch
from _fake_encoder import FakeEncoder

from wavjepa_nat import hear
from wavjepa_nat.errors import InputError

SR = 16000


@pytest.fixture(params=[1, 2], ids=["mono", "binaural"])
def model(request):
    return hear.HearModel(FakeEncoder(channels=request.param, embed_dim=6))


def test_model_attributes(model):
    assert model.sample_rate == 16000
    assert model.scene_embedding_size == model.timestamp_embedding_size == model.encoder.output_dim
    assert isinstance(model, torch.nn.Module)


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0, 0.01])
def test_timestamp_embeddings_follow_the_rules(model, seconds):
    n = 3
    n_samples = round(seconds * SR)
    audio = torch.rand(n, n_samples) * 2 - 1
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.dtype == torch.float32 and emb.ndim == 3
    assert emb.shape[0] == n and emb.shape[2] == model.timestamp_embedding_size
    assert ts.shape == emb.shape[:2] and ts.shape[1] >= 1
    assert torch.isfinite(emb).all()
    ts = ts.numpy().astype(np.float64)
    assert np.all(ts == ts[0])  # the same timestamps for every clip of a batch
    assert ts[0, 0] >= 0 and ts[0, -1] <= seconds * 1000 + 1e-3  # last timestamp not past the end
    if ts.shape[1] > 1:
        hop = np.diff(ts, axis=1)
        assert np.allclose(hop, hop[0, 0], atol=1e-3)  # regular hop
        assert hop[0, 0] <= 50.0
        # frames cover the clip: the grid reaches within one hop + half a receptive field of its end
        assert seconds * 1000 - ts[0, -1] <= hop[0, 0] + 7.5 + 1e-3


@pytest.mark.parametrize("seconds", [1.07, 1.98, 4.0])
def test_scene_embeddings(model, seconds):
    audio = torch.rand(2, round(seconds * SR)) * 2 - 1
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32 and scene.shape == (2, model.scene_embedding_size)
    emb, _ = hear.get_timestamp_embeddings(audio, model)
    torch.testing.assert_close(scene, emb.mean(dim=1))


def test_batched_equals_one_by_one_and_replicable(model):
    audio = torch.rand(4, 30000) * 2 - 1
    emb, _ = hear.get_timestamp_embeddings(audio, model)
    again, _ = hear.get_timestamp_embeddings(audio, model)
    torch.testing.assert_close(emb, again)
    for i in range(4):
        one, _ = hear.get_timestamp_embeddings(audio[i : i + 1], model)
        torch.testing.assert_close(one[0], emb[i], atol=1e-5, rtol=1e-5)


def test_bad_inputs():
    with pytest.raises(InputError):
        hear.load_model("")
    with pytest.raises(InputError):
        hear.load_model("/nonexistent/model.ckpt")
    with pytest.raises(InputError):
        hear.get_scene_embeddings(torch.zeros(16000), hear.HearModel(FakeEncoder()))


def test_load_model_from_a_real_export(tmp_path):
    from _fake_encoder import export_tiny

    path = export_tiny(tmp_path / "tiny.safetensors", channels=2)
    model = hear.load_model(str(path))
    size = 2 * 128 + 2 * 16 + 1 + 16  # two ears' tiny tokens, then the default layout's interaural cues
    assert model.sample_rate == 16000 and model.scene_embedding_size == size
    audio = torch.rand(2, int(1.07 * SR)) * 2 - 1
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, ts.shape[1], size) and emb.dtype == torch.float32
    assert ts[0, -1] <= 1070.0 and torch.allclose(ts[0, 1:] - ts[0, :-1], torch.tensor(10.0))
    assert hear.get_scene_embeddings(audio, model).shape == (2, size)
