"""Importing the published WavJEPA / WavJEPA-Nat weights (labhamlet/wavjepa), without its code or weights.

The reference's module tree is rebuilt here from stock torch modules under its parameter names
(`RefJEPA`), random-initialised, and its embeddings are computed the reference's way by this file's own
code (`ref_tokens`: extract_audio -> feature_norms -> post_extraction_mapper -> + pos_encoding_encoder ->
encoder; `ref_runtime`: the HEAR runtime). It is saved as a Lightning checkpoint (with and without
torch.compile's `_orig_mod.`) and as a Hugging Face style folder, imported, and compared in fp32.
"""

import copy
import json

import numpy as np
import pytest
import torch
from _cli import run_main
from torch import nn
from torch.nn import functional as F

import wavjepa_nat
from wavjepa_nat import hear
from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.weights.export import import_weights, load_model
from wavjepa_nat.nat_model.weights.init_from import init_from_weights, init_model_config

SR = 16000
WINDOW = int(SR * 2.01)  # the reference's window: int(16000 * 2.01) = 32159 samples (200 frames)
FRAMES = 200
SPEC = [(10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2)]
SPEC_TEXT = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)]"
SMALL = dict(conv_dim=32, width=48, depth=2, heads=4, pred_dim=24, pred_depth=1, pred_heads=2)
BASE = dict(conv_dim=512, width=768, depth=12, heads=12, pred_dim=384, pred_depth=12, pred_heads=12)


# ---------------------------------------------------------------- the reference, from stock modules


def sincos(dim: int, positions: np.ndarray) -> np.ndarray:
    """1-D sin-cos table (M, dim): sin on the first half, cos on the second, omega_i = 10000^(-2i/dim)."""
    omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
    angles = positions.reshape(-1).astype(np.float64)[:, None] * omega[None]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def ref_pos_table(channels: int, dim: int, frames: int = FRAMES) -> torch.Tensor:
    """(1, C*T, dim): mono = sin-cos over T positions; binaural = [time (dim/2) | ear code (dim/2)] per token,
    left ear's tokens then right ear's, ear code 0 for left and the sin-cos of position 0 for right."""
    if channels == 1:
        table = sincos(dim, np.arange(frames))
    else:
        time = sincos(dim // 2, np.arange(frames))
        left = np.concatenate([time, np.zeros((frames, dim // 2))], axis=1)
        right = np.concatenate([time, np.tile(sincos(dim // 2, np.arange(1)), (frames, 1))], axis=1)
        table = np.concatenate([left, right], axis=0)
    return torch.from_numpy(table).float()[None]


def conv_stack(conv_dim: int) -> nn.Sequential:
    blocks, c_in = [], 1
    for i, (k, s) in enumerate(SPEC):
        layers = [nn.Conv1d(c_in, conv_dim, k, stride=s, bias=False), nn.Dropout(0.0)]
        if i == 0:
            layers.append(nn.GroupNorm(conv_dim, conv_dim))
        layers.append(nn.GELU())
        blocks.append(nn.Sequential(*layers))
        c_in = conv_dim
    return nn.Sequential(*blocks)


def transformer(width: int, depth: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        width,
        heads,
        dim_feedforward=4 * width,
        dropout=0.0,
        activation=nn.GELU(),
        layer_norm_eps=1e-6,
        batch_first=True,
        norm_first=False,
    )
    return nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(width), enable_nested_tensor=False)


class RefJEPA(nn.Module):
    def __init__(
        self, channels, conv_dim, width, depth, heads, pred_dim, pred_depth, pred_heads, parts=True, seed=0
    ):
        super().__init__()
        torch.manual_seed(seed)
        self.channels = channels
        self.extract_audio = nn.Module()
        if channels == 1:
            self.extract_audio.cnn = conv_stack(conv_dim)
        else:
            self.extract_audio.cnns = nn.ModuleList(conv_stack(conv_dim) for _ in range(channels))
        self.feature_norms = nn.LayerNorm(conv_dim)
        self.post_extraction_mapper = nn.Linear(conv_dim, width)
        self.encoder = transformer(width, depth, heads)
        if parts:
            self.teacher_encoder = transformer(width, depth, heads)
            self.decoder = transformer(pred_dim, pred_depth, pred_heads)
            self.encoder_to_decoder_mapper = nn.Linear(width, pred_dim)
            self.decoder_to_encoder_mapper = nn.Linear(pred_dim, width)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, pred_dim))
        with torch.no_grad():  # random everything, norms included, so that nothing is trivially equal
            for name, p in self.named_parameters():
                if p.ndim == 1 and "norm" in name or ".2." in name and p.ndim == 1:
                    p.copy_(
                        1.0 + 0.2 * torch.randn_like(p)
                        if name.endswith("weight")
                        else 0.1 * torch.randn_like(p)
                    )
                elif p.ndim == 1:
                    p.normal_(0.0, 0.05)
                elif "cnn" in name:
                    nn.init.kaiming_normal_(p)
                else:
                    p.normal_(0.0, 1.0 / np.sqrt(p.shape[-1]))
        self.pos_encoding_encoder = nn.Parameter(ref_pos_table(channels, width), requires_grad=False)
        if parts:
            self.pos_encoding_decoder = nn.Parameter(ref_pos_table(channels, pred_dim), requires_grad=False)
        self.eval()


def ref_tokens(m: RefJEPA, audio: torch.Tensor, key_padding_mask=None) -> torch.Tensor:
    """The reference's get_audio_representation: (B, C, 32160) -> (B, C*200, D), ear-major tokens."""
    if m.channels == 1:
        x = m.extract_audio.cnn(audio).transpose(1, 2)
    else:
        x = torch.stack(
            [stack(audio[:, [c]]).transpose(1, 2) for c, stack in enumerate(m.extract_audio.cnns)], 1
        )
        x = x.flatten(1, 2)
    x = m.post_extraction_mapper(m.feature_norms(x)) + m.pos_encoding_encoder
    return m.encoder(x, src_key_padding_mask=key_padding_mask)


@torch.inference_mode()
def ref_runtime(m: RefJEPA, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's HEAR runtime (mono audio (n, S)) -> (frames (n, T, D), timestamps (n, T) ms)."""
    n, s = audio.shape
    rms = torch.sqrt(torch.mean(audio**2, dim=1, keepdim=True))
    x = audio * 10 ** ((-14.0 - 20 * torch.log10(rms)) / 20)
    x = x[:, None].repeat(1, m.channels, 1)
    pad = WINDOW - s % WINDOW
    x = F.pad(x, (0, pad))
    windows = x.shape[-1] // WINDOW
    steps = FRAMES * windows
    pad_steps = int((pad / SR) * int(FRAMES / (WINDOW // SR)))
    mask = torch.zeros(n, steps, dtype=torch.bool)
    mask[:, steps - pad_steps :] = True
    out = []
    for i in range(windows):
        seg = x[..., i * WINDOW : (i + 1) * WINDOW]
        seg = (seg - seg.mean(dim=(-2, -1), keepdim=True)) / (seg.std(dim=(-2, -1), keepdim=True) + 1e-5)
        keys = mask[:, i * FRAMES : (i + 1) * FRAMES].repeat(1, m.channels)
        emb = ref_tokens(m, seg, keys if keys.any() else None)
        out.append(emb.reshape(n, m.channels, FRAMES, -1).mean(dim=1))
    frames = torch.cat(out, dim=1)[:, : steps - pad_steps]
    step = s / SR / frames.shape[1] * 1000
    return frames, torch.tensor([step * i for i in range(frames.shape[1])]).repeat(n, 1)


# ---------------------------------------------------------------- the files


def hf_config(m: RefJEPA, sizes: dict) -> dict:
    spec = SPEC_TEXT.replace("512", str(sizes["conv_dim"]))

    def layers(d, h):
        return {
            "batch_first": True,
            "bias": True,
            "d_model": d,
            "dim_feedforward": 4 * d,
            "dropout": 0.0,
            "layer_norm_eps": 1e-06,
            "nhead": h,
            "norm_first": False,
        }

    return {
        "architectures": ["WavJEPAModel"],
        "model_type": "wavjepa-base",
        "auto_map": {"AutoModel": "modeling_wavjepa.WavJEPAModel"},
        "encoder_layers_cfg": layers(sizes["width"], sizes["heads"]),
        "encoder_cfg": {"enable_nested_tensor": False, "mask_check": True, "num_layers": sizes["depth"]},
        "decoder_layers_cfg": layers(sizes["pred_dim"], sizes["pred_heads"]),
        "decoder_cfg": {"enable_nested_tensor": False, "mask_check": True, "num_layers": sizes["pred_depth"]},
        "extractor_config": {
            "conv_bias": False,
            "conv_layers_spec": spec,
            "depthwise": False,
            "dropout": 0.0,
            "in_channels": m.channels,
            "mode": "default",
        },
    }


def compiled_names(state: dict) -> dict:
    """torch.compile's names: `_orig_mod.` after extract_audio., encoder., decoder., teacher_encoder."""
    out = {}
    for k, v in state.items():
        for p in ("extract_audio.", "encoder.", "decoder.", "teacher_encoder."):
            if k.startswith(p):
                k = p + "_orig_mod." + k[len(p) :]
                break
        out[k] = v
    return out


def hparams(sizes: dict, channels: int) -> dict:
    """What the reference's save_hyperparameters keeps (its activation is a pickled nn.GELU module)."""

    def layers(d, h):
        return {
            "d_model": d,
            "nhead": h,
            "batch_first": True,
            "norm_first": False,
            "bias": True,
            "dim_feedforward": 4 * d,
            "dropout": 0.0,
            "activation": nn.GELU(),
            "layer_norm_eps": 1e-6,
        }

    return {
        "transformer_encoder_layers_cfg": layers(sizes["width"], sizes["heads"]),
        "transformer_encoder_cfg": {"num_layers": sizes["depth"], "enable_nested_tensor": False},
        "transformer_decoder_layers_cfg": layers(sizes["pred_dim"], sizes["pred_heads"]),
        "transformer_decoder_cfg": {"num_layers": sizes["pred_depth"]},
        "in_channels": channels,
        "resample_sr": SR,
        "process_audio_seconds": 2.01,
        "size": "base",
        "average_top_k_layers": 8,
        "lr": 4e-4,
        "adam_betas": (0.9, 0.98),
        "ema_decay": 0.999,
    }


def save(m: RefJEPA, sizes: dict, root, fmt: str):
    """The reference model as `fmt`: lightning | lightning-compiled | hf-safetensors | hf-bin. Returns SRC."""
    state = {k: v.detach().clone() for k, v in m.state_dict().items()}
    if fmt.startswith("lightning"):
        path = root / f"ref-{fmt}.ckpt"
        if fmt == "lightning-compiled":
            state = compiled_names(state)
        torch.save(
            {
                "state_dict": state,
                "hyper_parameters": hparams(sizes, m.channels),
                "global_step": 7,
                "epoch": 0,
                "optimizer_states": [],
            },
            path,
        )
        return path
    folder = root / f"ref-{fmt}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config(m, sizes)))
    state = {f"model.{k}": v.contiguous() for k, v in state.items()}
    if fmt == "hf-safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module", params=[1, 2], ids=["mono", "binaural"])
def small(request):
    return RefJEPA(request.param, **SMALL, seed=request.param)


def _audio(channels: int, n: int = 2, samples: int = WINDOW, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(n, channels, samples, generator=g)


def _ours_window(enc, audio):
    with torch.inference_mode():
        return enc(audio)


def _ref_window(m, audio):
    with torch.inference_mode():
        tokens = ref_tokens(m, audio)
    return tokens.reshape(audio.shape[0], m.channels, FRAMES, -1).mean(dim=1)  # the runtime's ear mean


# ---------------------------------------------------------------- the import computes what the reference does


@pytest.mark.parametrize("fmt", ["lightning", "lightning-compiled", "hf-safetensors", "hf-bin"])
def test_every_source_format_gives_the_reference_frames(small, tmp_path, fmt):
    src = save(small, SMALL, tmp_path, fmt)
    audio = _audio(small.channels)
    expected = _ref_window(small, audio)
    direct = load_model(src)  # --model SRC works without an import step
    torch.testing.assert_close(_ours_window(direct, audio), expected, atol=1e-5, rtol=1e-5)
    out = import_weights(src, tmp_path / "imported.safetensors")
    enc = load_model(out)
    torch.testing.assert_close(_ours_window(enc, audio), expected, atol=1e-5, rtol=1e-5)
    assert enc.output_dim == SMALL["width"] and enc.channels == small.channels
    origin = enc.source["imported_from"]
    assert origin["reference"] == "labhamlet/wavjepa" and origin["path"] == str(src.resolve())
    assert origin["parts"] == ["encoder", "teacher", "predictor"]
    assert origin["compiled_names"] == (fmt == "lightning-compiled")
    assert direct.source["kind"].startswith("reference")


def test_an_import_has_the_reference_layout_not_the_default_one(small, tmp_path):
    """ModelConfig() builds the spatial layout; an imported binaural model keeps the reference's own."""
    out = import_weights(save(small, SMALL, tmp_path, "lightning"), tmp_path / "imported.safetensors")
    enc = load_model(out)
    cfg = enc.config
    assert (cfg.ear_norm, cfg.interaural, cfg.share_ear_encoders) == ("per_ear", "none", False)
    assert len(enc.frontends) == small.channels and enc.interaural is None  # one CNN per ear


@pytest.mark.parametrize("seconds", [1.07, 4.5, 2.01 * 2])
def test_hear_frames_and_scene_embeddings_follow_the_reference_runtime(small, tmp_path, seconds):
    src = save(small, SMALL, tmp_path, "hf-safetensors")
    model = hear.load_model(str(import_weights(src, tmp_path / "imported.safetensors")))
    g = torch.Generator().manual_seed(3)
    audio = 0.05 * torch.randn(3, round(seconds * SR), generator=g)
    audio[1] *= 20.0  # the RMS levelling makes the level irrelevant
    expected, expected_ts = ref_runtime(small, audio)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.shape == expected.shape and emb.dtype == torch.float32
    torch.testing.assert_close(emb, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ts, expected_ts.float(), atol=1e-3, rtol=0)
    scene = hear.get_scene_embeddings(audio, model)
    torch.testing.assert_close(scene, expected.mean(dim=1), atol=1e-5, rtol=1e-5)


def test_base_size_binaural_and_mono(tmp_path):
    """The published size (conv 512, width 768, 12 layers, 12 heads): one window, both models (~25 s)."""
    for channels in (2, 1):
        ref = RefJEPA(channels, **BASE, parts=False, seed=5)
        src = save(ref, BASE, tmp_path, "hf-safetensors" if channels == 2 else "lightning")
        audio = _audio(channels, n=1, seed=channels)
        expected = _ref_window(ref, audio)
        enc = load_model(src)
        assert enc.config.embed_dim == 768 and enc.config.depth == 12 and enc.config.heads == 12
        torch.testing.assert_close(_ours_window(enc, audio), expected, atol=1e-5, rtol=1e-5)
        model = hear.HearModel(enc)
        clip = audio[:, 0, :20000]
        frames, _ = ref_runtime(ref, clip)
        torch.testing.assert_close(
            hear.get_scene_embeddings(clip, model), frames.mean(1), atol=1e-5, rtol=1e-5
        )
        del ref, enc, model
        for f in tmp_path.iterdir():
            if f.is_dir():
                for g in f.iterdir():
                    g.unlink()
                f.rmdir()
            else:
                f.unlink()


def test_shared_ear_stack_and_no_mapper(tmp_path):
    """share_weights_over_channels (one stack for both ears) and conv width == model width (no mapper)."""
    sizes = dict(SMALL, conv_dim=48)
    ref = RefJEPA(2, **sizes, parts=False, seed=9)
    ref.extract_audio.cnns = nn.ModuleList([ref.extract_audio.cnns[0]])
    with torch.no_grad():
        ref.post_extraction_mapper = nn.Identity()
    state = {k: v for k, v in ref.state_dict().items()}
    path = tmp_path / "shared.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams(sizes, 2)}, path)
    shared_ref = copy.deepcopy(ref)
    shared_ref.extract_audio.cnns = nn.ModuleList([ref.extract_audio.cnns[0], ref.extract_audio.cnns[0]])
    audio = _audio(2)
    enc = load_model(path)
    assert enc.config.share_ear_encoders
    torch.testing.assert_close(_ours_window(enc, audio), _ref_window(shared_ref, audio), atol=1e-5, rtol=1e-5)


def test_the_stored_positional_table_is_checked(tmp_path):
    ref = RefJEPA(2, **SMALL, parts=False)
    with torch.no_grad():
        ref.pos_encoding_encoder.copy_(ref_pos_table(1, SMALL["width"], 2 * FRAMES))  # a 1-D layout: not ours
    path = save(ref, SMALL, tmp_path, "lightning")
    with pytest.raises(InputError, match="'pos_encoding_encoder' is not the reference's fixed sin-cos"):
        load_model(path)


# ---------------------------------------------------------------- bad sources: one line naming the tensor


def _broken(tmp_path, change):
    ref = RefJEPA(2, **SMALL, parts=False)
    state = dict(ref.state_dict())
    change(state)
    path = tmp_path / "broken.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams(SMALL, 2)}, path)
    return path


@pytest.mark.parametrize(
    "change,expect",
    [
        (
            lambda s: s.pop("encoder.layers.1.linear2.weight"),
            "missing tensor 'encoder.layers.1.linear2.weight'",
        ),
        (lambda s: s.update({"extra.head.weight": torch.zeros(3)}), "unexpected tensor 'extra.head.weight'"),
        (
            lambda s: s.update({"feature_norms.weight": torch.zeros(31)}),
            "tensor 'feature_norms.weight' has shape (31,), expected (32,)",
        ),
        (
            lambda s: s.update({"encoder.layers.0.linear1.bias": torch.zeros(5)}),
            "tensor 'encoder.layers.0.linear1.bias' has shape (5,)",
        ),
        (lambda s: s.pop("extract_audio.cnns.1.0.2.bias"), "missing tensor 'extract_audio.cnns.1.0.2.bias'"),
    ],
)
def test_bad_tensors_are_one_line_errors(tmp_path, change, expect):
    path = _broken(tmp_path, change)
    with pytest.raises(InputError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        load_model(path)


def test_unknown_heads_are_refused_not_guessed(tmp_path):
    path = tmp_path / "bare.ckpt"
    torch.save({"state_dict": RefJEPA(1, **SMALL, parts=False).state_dict()}, path)
    with pytest.raises(InputError, match="cannot tell the encoder's attention heads"):
        load_model(path)


def test_partial_teacher_is_missing_tensors(tmp_path):
    ref = RefJEPA(1, **SMALL)
    state = {k: v for k, v in ref.state_dict().items() if k != "teacher_encoder.norm.bias"}
    path = tmp_path / "partial.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": hparams(SMALL, 1)}, path)
    with pytest.raises(InputError, match="missing tensor 'teacher_encoder.norm.bias'"):
        import_weights(path, tmp_path / "x.safetensors")


def test_cli_import_weights_and_its_errors(tmp_path, monkeypatch, capsys):
    def run(*argv):
        return run_main(monkeypatch, capsys, argv)

    src = save(RefJEPA(2, **SMALL), SMALL, tmp_path, "lightning-compiled")
    rc, out, err = run("import-weights", src, "--out", tmp_path / "nat.safetensors")
    assert rc == 0, err
    assert "WavJEPA-Nat (binaural)" in out and "encoder, teacher, predictor" in out
    assert wavjepa_nat.load_model(tmp_path / "nat.safetensors").channels == 2
    cases = [
        (_broken(tmp_path, lambda s: s.pop("encoder.norm.weight")), "missing tensor 'encoder.norm.weight'"),
        (tmp_path / "nope.ckpt", "not found"),
    ]
    for path, expect in cases:
        rc, out, err = run("import-weights", path, "--out", tmp_path / "bad.safetensors")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert lines[0].startswith("error:") and expect in lines[0], lines[0]
    assert not (tmp_path / "bad.safetensors").exists()


def test_pickled_objects_other_than_plain_data_are_refused(tmp_path):
    import argparse

    path = tmp_path / "odd.ckpt"
    ref = RefJEPA(1, **SMALL, parts=False)
    torch.save(
        {
            "state_dict": ref.state_dict(),
            "hyper_parameters": {**hparams(SMALL, 1), "args": argparse.Namespace(lr=1.0)},
        },
        path,
    )
    with pytest.raises(InputError, match="--allow-pickle"):
        load_model(path)
    out = import_weights(path, tmp_path / "ok.safetensors", allow_pickle=True)
    assert load_model(out).channels == 1


# ---------------------------------------------------------------- the HEAR validator's checks on an import


@pytest.fixture(scope="module", params=[1, 2], ids=["mono", "binaural"])
def hear_model(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"hear{request.param}")
    src = save(RefJEPA(request.param, **SMALL), SMALL, root, "hf-safetensors")
    return hear.load_model(str(import_weights(src, root / "imported.safetensors")))


def test_hear_validator_checks_pass_for_an_imported_model(hear_model):
    import test_hear

    test_hear.test_model_attributes(hear_model)
    for seconds in (1.07, 1.98, 4.0, 0.01):
        test_hear.test_timestamp_embeddings_follow_the_rules(hear_model, seconds)
    for seconds in (1.07, 1.98, 4.0):
        test_hear.test_scene_embeddings(hear_model, seconds)
    test_hear.test_batched_equals_one_by_one_and_replicable(hear_model)
    assert hear_model.scene_embedding_size == SMALL["width"]  # the ears are averaged, as in the reference


# ---------------------------------------------------------------- train --init-from


def test_init_from_loads_encoder_teacher_and_predictor(tmp_path):
    from wavjepa_nat.nat_model.config import get_preset
    from wavjepa_nat.nat_model.jepa import WavJEPA

    ref = RefJEPA(2, **SMALL)
    src = save(ref, SMALL, tmp_path, "lightning")
    out = import_weights(src, tmp_path / "imported.safetensors")
    with pytest.raises(InputError, match="2-channel model but --channels is 1"):
        init_model_config(out, get_preset("tiny", channels=1), 1)
    cfg, init = init_model_config(out, get_preset("tiny", channels=2, lr=3e-4), 2)
    assert (cfg.embed_dim, cfg.depth, cfg.pred_dim, cfg.lr, cfg.norm_first) == (48, 2, 24, 3e-4, False)
    model = WavJEPA(cfg)
    init_from_weights(model, init)
    sd = model.state_dict()
    torch.testing.assert_close(
        sd["target_encoder.transformer.blocks.1.mlp.fc1.weight"],
        ref.teacher_encoder.layers[1].linear1.weight.detach(),
    )
    torch.testing.assert_close(
        sd["encoder.transformer.blocks.1.mlp.fc1.weight"], ref.encoder.layers[1].linear1.weight.detach()
    )
    torch.testing.assert_close(
        sd["predictor.transformer.blocks.0.attn.qkv.weight"],
        ref.decoder.layers[0].self_attn.in_proj_weight.detach(),
    )
    torch.testing.assert_close(sd["predictor.mask_token"], ref.mask_token.detach())
    torch.testing.assert_close(sd["predictor.embed.weight"], ref.encoder_to_decoder_mapper.weight.detach())
    audio = _audio(2)
    torch.testing.assert_close(
        _ours_window(model.encoder.eval(), audio), _ref_window(ref, audio), atol=1e-5, rtol=1e-5
    )
    # One training step runs on the imported model (the predictor's positions follow the reference layout).
    from wavjepa_nat.nat_model.masks import MaskCollator

    batch = MaskCollator(cfg, seed=0)(list(_audio(2, n=2)))
    loss, _ = model.train()(batch)
    loss.backward()
    assert torch.isfinite(loss)


# ---------------------------------------------------------------- end to end: robustness over an import


@pytest.fixture(scope="module")
def trained(corpus_and_bank, tmp_path_factory):
    """A reference checkpoint (compiled names) and a 2-step run of this project initialised from it
    (`train --init-from` a reference .ckpt directly)."""
    from wavjepa_nat.training.loop import TrainConfig, train

    corpus, bank = corpus_and_bank
    root = tmp_path_factory.mktemp("e2e")
    src = save(RefJEPA(2, **SMALL), SMALL, root, "lightning-compiled")
    options = dict(
        preset="tiny",
        channels=2,
        batch_clips=1,
        n_crops=2,
        clip_seconds=2.5,
        num_workers=0,
        max_steps=2,
        ckpt_every=1000,
        log_every=1,
    )
    last = train(
        TrainConfig(data=str(corpus), bank=str(bank), out=str(root / "run"), init_from=str(src), **options),
        progress=False,
    )
    return src, last


def test_the_readme_published_weights_commands_run_as_written(
    corpus_and_bank, trained, tmp_path, monkeypatch, capsys
):
    """README: import-weights, then robustness --model IMPORTED --model runs/nat/last.ckpt (a 2-step run
    initialised from a reference checkpoint with compiled names): one report naming each model's source."""
    import re
    import shlex
    import shutil
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"<!-- published-weights -->\n```bash\n(.*?)```", readme, re.S).group(1)
    commands = [shlex.split(c, comments=True) for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    assert [c[1] for c in commands] == ["import-weights", "robustness"]
    corpus, bank = corpus_and_bank
    monkeypatch.chdir(tmp_path)  # the files the commands name, made here
    save(RefJEPA(2, **SMALL, seed=4), SMALL, tmp_path, "hf-safetensors").rename(tmp_path / "wavjepa-nat-base")
    (tmp_path / "corpus").symlink_to(corpus)
    (tmp_path / "bank.h5").symlink_to(bank)
    (tmp_path / "runs" / "nat").mkdir(parents=True)
    shutil.copy(trained[1], tmp_path / "runs" / "nat" / "last.ckpt")
    for argv in commands:
        assert argv[0] == "wavjepa-nat"
        rc, _, err = run_main(monkeypatch, capsys, argv[1:])
        assert rc == 0, err
    results = json.loads(Path("reports/published/results.json").read_text())
    models = {m["name"]: m for m in results["setup"]["models"]}
    imported = models["wavjepa-nat-base"]
    assert "imported from reference Hugging Face folder" in imported["source"]
    assert imported["source_info"]["imported_from"]["reference"] == "labhamlet/wavjepa"
    assert imported["channels"] == 2 and imported["embedding_dim"] == SMALL["width"]
    assert models["last"]["source"].startswith("wavjepa-nat checkpoint")
    assert models["last"]["config"]["runtime"] == "wavjepa"  # trained from the reference's architecture
    assert {r["model"] for r in results["rows"]} >= {"wavjepa-nat-base", "last"}
    md = Path("reports/published/report.md").read_text()
    assert "imported from reference Hugging Face folder" in md and "wavjepa-nat checkpoint" in md
