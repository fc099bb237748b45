"""Embedder: window stitching, padding, channel adaptation, HDF5 export (against a conv-only fake)."""

import json

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
from _fake_encoder import FakeEncoder, cli, cli_inprocess, export_tiny

from wavjepa_nat.audio import read_audio
from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.inference import BINAURAL_FOR_MONO, MONO_FOR_BINAURAL, Embedder, frame_geometry
from wavjepa_nat.robustness.models.embed_files import embed_files

RNG = np.random.default_rng(0)


def test_geometry_is_measured_from_the_encoder():
    g = frame_geometry(FakeEncoder())
    # wav2vec-style stack (10,5) 4x(3,2) (2,2): hop 5*2^5 = 160, RF 10 + 5*2*(1+2+4+8) + 80*1 = 240.
    assert (g.hop, g.receptive_field, g.window_frames) == (160, 240, 200)


@pytest.mark.parametrize("n_samples", [32160, 32161, 64000, 100_000])
def test_long_clips_equal_one_pass_over_the_whole_clip(n_samples):
    """The fake is convolutional: windows stitched on the grid must equal running it on the clip."""
    enc = FakeEncoder()
    x = RNG.standard_normal((2, n_samples)).astype(np.float32)
    emb, ts = Embedder(enc, batch_size=3).timestamp_embeddings(x)
    with torch.no_grad():
        ref = enc(torch.from_numpy(x[:, None])).numpy()
    assert emb.shape == ref.shape == (2, (n_samples - 240) // 160 + 1, 8)
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    np.testing.assert_allclose(np.diff(ts, axis=1), 10.0)
    assert ts[0, 0] == 7.5 and ts[0, -1] <= n_samples / 16


@pytest.mark.parametrize("n_samples", [50, 239, 240, 1000, 17120])
def test_short_clips_keep_only_frames_inside_the_clip(n_samples):
    enc = FakeEncoder()
    x = RNG.standard_normal((1, n_samples)).astype(np.float32)
    emb, ts = Embedder(enc).timestamp_embeddings(x)
    expected = max(1, (n_samples - 240) // 160 + 1)
    assert emb.shape == (1, expected, 8) and ts.shape == (1, expected)
    assert ts[0, -1] <= n_samples / 16
    if n_samples >= 240:  # frames fully inside the clip do not see the zero padding
        with torch.no_grad():
            ref = enc(torch.from_numpy(x[:, None])).numpy()
        np.testing.assert_allclose(emb, ref, atol=1e-5)


def test_scene_embedding_is_the_frame_mean():
    x = RNG.standard_normal((3, 40000)).astype(np.float32)
    e = Embedder(FakeEncoder(), batch_size=1)  # clips go through in several chunks
    emb, _ = e.timestamp_embeddings(x)
    np.testing.assert_allclose(e.scene_embeddings(x), emb.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(
        emb, Embedder(FakeEncoder(), batch_size=64).timestamp_embeddings(x)[0], atol=1e-6
    )


def test_channel_adaptation_and_notes():
    x = RNG.standard_normal((2, 8000)).astype(np.float32)
    bin_enc, mono_enc = FakeEncoder(channels=2), FakeEncoder(channels=1)
    e2 = Embedder(bin_enc)
    a, _ = e2.timestamp_embeddings(x)  # mono -> both ears
    b, _ = e2.timestamp_embeddings(np.stack([x, x], axis=1))
    np.testing.assert_allclose(a, b)
    assert e2.notes == [MONO_FOR_BINAURAL]
    e1 = Embedder(mono_enc)
    stereo = np.stack([x, -0.5 * x], axis=1)
    c, _ = e1.timestamp_embeddings(stereo)
    d, _ = e1.timestamp_embeddings(0.25 * x)
    np.testing.assert_allclose(c, d, atol=1e-6)
    assert e1.notes == [BINAURAL_FOR_MONO]
    with pytest.raises(InputError):
        e1.timestamp_embeddings(np.zeros((1, 3, 8000), np.float32))


def test_embed_files_writes_ragged_frames(tmp_path):
    lengths = [8000, 40000, 1000]
    paths = []
    for i, n in enumerate(lengths):
        p = tmp_path / f"clip{i}.wav"
        sf.write(p, RNG.uniform(-0.5, 0.5, n), 16000)
        paths.append(p)
    enc = FakeEncoder(channels=2)
    out = embed_files(enc, paths, tmp_path / "emb.h5", keys=[p.name for p in paths])
    with h5py.File(out) as f:
        offsets = f["offsets"][:]
        assert f["scene"].shape == (3, 16)
        assert np.diff(offsets).tolist() == [(n - 240) // 160 + 1 for n in lengths]
        assert f["frames"].shape == (offsets[-1], 16) == (len(f["timestamps_ms"]), 16)
        np.testing.assert_allclose(
            f["scene"][1], f["frames"][offsets[1] : offsets[2]].mean(axis=0), rtol=1e-5
        )
        assert [k.decode() for k in f["keys"][:]] == ["clip0.wav", "clip1.wav", "clip2.wav"]
        assert json.loads(f.attrs["model_config"])["name"] == "fake"
        assert f.attrs["version"] and json.loads(f.attrs["notes"]) == [MONO_FOR_BINAURAL]
    assert not (tmp_path / "emb.h5.tmp").exists()


# ---------------------------------------------------------------- the real model and the CLI


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("model") / "tiny.safetensors", channels=2)


def test_real_tiny_model(tiny_export):
    from wavjepa_nat import load_model

    enc = load_model(tiny_export)
    e = Embedder(enc, batch_size=4)
    assert e.geometry.window_frames == enc.n_frames(enc.crop_samples) == 200
    for n_samples in (17120, 64000):
        x = RNG.uniform(-0.5, 0.5, (2, n_samples)).astype(np.float32)
        emb, ts = e.timestamp_embeddings(x)
        assert emb.shape == (2, enc.n_frames(n_samples), enc.output_dim) and np.isfinite(emb).all()
        np.testing.assert_allclose(np.diff(ts[0]), 10.0)
        assert ts[0, -1] <= n_samples / 16
    # one window: identical to calling the encoder on the padded window and keeping the first frames
    x = RNG.uniform(-0.5, 0.5, (1, 2, 32160)).astype(np.float32)
    with torch.no_grad():
        ref = enc(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(e.timestamp_embeddings(x)[0], ref, atol=1e-5)


def test_cli_embed(tiny_export, tmp_path):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    sf.write(folder / "a.wav", RNG.uniform(-0.3, 0.3, 8000), 16000)
    sf.write(folder / "sub" / "b.flac", RNG.uniform(-0.3, 0.3, (44100, 2)), 44100)  # resampled, binaural
    (folder / "notes.txt").write_text("not audio")
    result = cli_inprocess("embed", "--model", tiny_export, "--input", folder, "--out", tmp_path / "e.h5")
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "e.h5") as f:
        assert [k.decode() for k in f["keys"][:]] == ["a.wav", "sub/b.flac"]
        assert np.diff(f["offsets"][:]).tolist() == [(8000 - 240) // 160 + 1, (16000 - 240) // 160 + 1]
        assert f["scene"].shape == (2, 2 * 128 + 2 * 16 + 1 + 16)  # two ears' tokens, then the cues


def test_cli_embed_bad_input(tiny_export, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    out = tmp_path / "e.h5"
    # the installed command: one line on stderr, exit code 2, no traceback
    rc, _, err = cli("embed", "--model", tmp_path / "nope.ckpt", "--input", empty, "--out", out)
    assert rc == 2 and err.startswith("error: checkpoint not found")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    # the other bad inputs raise InputError from the command (main() turns it into the line above)
    for model, src, message in [
        (tiny_export, empty, "no audio files"),
        (tiny_export, tmp_path / "missing", "input not found"),
    ]:
        result = cli_inprocess("embed", "--model", model, "--input", src, "--out", out)
        assert isinstance(result.exception, InputError) and message in str(result.exception)
    assert not out.exists()


# Bad audio is refused where it is read (each of these was once accepted).
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_embed_refuses_non_finite_audio(tmp_path, value):
    x = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    x[500] = value
    sf.write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    with pytest.raises(InputError, match=r"a\.wav holds 1 non-finite sample"):
        embed_files(FakeEncoder(), [tmp_path / "a.wav"], tmp_path / "e.h5")
    assert not (tmp_path / "e.h5").exists()


def test_embed_refuses_a_truncated_wav(tmp_path):
    sf.write(tmp_path / "full.wav", np.zeros(16000, np.float32) + 0.1, 16000)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.wav is truncated"):
        read_audio(tmp_path / "cut.wav")
    # The header of every file is checked before the first one is embedded.
    with pytest.raises(InputError, match=r"cut\.wav is truncated"):
        embed_files(FakeEncoder(), [tmp_path / "full.wav", tmp_path / "cut.wav"], tmp_path / "e.h5")
    assert not (tmp_path / "e.h5").exists()


def test_embed_does_not_overwrite_a_file_that_is_not_hdf5(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32) + 0.1, 16000)
    notes = tmp_path / "notes.h5"
    notes.write_text("my notes\n")
    with pytest.raises(InputError, match="not an HDF5 file"):
        embed_files(FakeEncoder(), [tmp_path / "a.wav"], notes)
    assert notes.read_text() == "my notes\n"
    out = embed_files(FakeEncoder(), [tmp_path / "a.wav"], tmp_path / "e.h5")
    assert embed_files(FakeEncoder(), [tmp_path / "a.wav"], out) == out  # earlier embeddings: replaced
