"""Import the published WavJEPA / WavJEPA-Nat weights (labhamlet/wavjepa) into this project's modules.

Sources, read from local files only (nothing is downloaded):
- a reference Lightning checkpoint (`.ckpt` with a `state_dict`): the mono model (one conv stack,
  `extract_audio.cnn.*`) or the binaural one (one stack per ear, `extract_audio.cnns.{ear}.*`); runs
  trained with torch.compile carry `_orig_mod.` inside the names, which is dropped;
- a Hugging Face style folder (`config.json` + `model.safetensors` or `pytorch_model.bin`, the same names
  under `model.`), or the weights file inside such a folder.

The reference's module tree, by name (see tests/test_import_weights.py, which rebuilds it from stock torch
modules): `extract_audio.cnn[s]` (Sequential blocks of Conv1d(bias=False), Dropout, [GroupNorm on the first
block only], GELU), `feature_norms` (LayerNorm over the conv features), `post_extraction_mapper` (Linear conv
features -> width; absent when the two are equal), `encoder` (torch.nn.TransformerEncoder: post-norm layers,
GELU, layer_norm_eps 1e-6, batch-first, final LayerNorm), `teacher_encoder` (its EMA copy), `decoder` +
`encoder_to_decoder_mapper` + `decoder_to_encoder_mapper` + `mask_token` (the predictor), and the fixed
sin-cos tables `pos_encoding_encoder` / `pos_encoding_decoder` (checked against this project's formula).
The imported ModelConfig selects the reference's variants (config.py): post-norm blocks with eps 1e-6, the
split ear/time positional layout, the ears' tokens averaged per frame, and the reference's HEAR runtime.

Every mismatch (a missing tensor, an unexpected one, a shape) is one InputError naming the tensor.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import torch

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig, get_preset
from wavjepa_nat.nat_model.encoder import EarTimePosition, Encoder, n_frames, receptive_field

REFERENCE = "labhamlet/wavjepa"
# The reference's conv stack is wav2vec 2.0's without its last layer: (10, 5), 4 x (3, 2), (2, 2). A
# Lightning checkpoint stores kernels (in the weights) but not strides; each kernel has one stride there.
_STRIDE_OF_KERNEL = {10: 5, 3: 2, 2: 2}
_HEADS_OF_WIDTH = {384: 12, 768: 12, 1024: 16}  # decoder, base, large (12 / 12 / 16 heads)
REFERENCE_CROP_SECONDS = 2.01  # the reference's training crop and HEAR window: 32160 samples, 200 frames
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_LAYER_PARTS = {  # nn.TransformerEncoderLayer name -> (this project's Block name, shape as f(D, hidden))
    "self_attn.in_proj_weight": ("attn.qkv.weight", lambda d, h: (3 * d, d)),
    "self_attn.in_proj_bias": ("attn.qkv.bias", lambda d, h: (3 * d,)),
    "self_attn.out_proj.weight": ("attn.proj.weight", lambda d, h: (d, d)),
    "self_attn.out_proj.bias": ("attn.proj.bias", lambda d, h: (d,)),
    "linear1.weight": ("mlp.0.weight", lambda d, h: (h, d)),
    "linear1.bias": ("mlp.0.bias", lambda d, h: (h,)),
    "linear2.weight": ("mlp.2.weight", lambda d, h: (d, h)),
    "linear2.bias": ("mlp.2.bias", lambda d, h: (d,)),
    "norm1.weight": ("norm1.weight", lambda d, h: (d,)),
    "norm1.bias": ("norm1.bias", lambda d, h: (d,)),
    "norm2.weight": ("norm2.weight", lambda d, h: (d,)),
    "norm2.bias": ("norm2.bias", lambda d, h: (d,)),
}


@dataclasses.dataclass
class ReferenceWeights:
    """The tensors of a reference source under normalised names (no `model.`, no `_orig_mod.`)."""

    state: dict[str, torch.Tensor]
    original: dict[str, str]  # normalised name -> the name in the file (for messages)
    hparams: dict[str, Any]  # Lightning hyper_parameters or the Hugging Face config.json
    kind: str  # "lightning" | "huggingface"
    path: Path  # what the user gave
    weights_file: Path


@dataclasses.dataclass
class ImportedModel:
    config: ModelConfig
    encoder: dict[str, torch.Tensor]  # Encoder state dict
    target_encoder: dict[str, torch.Tensor] | None  # from teacher_encoder, when the source has it
    predictor: dict[str, torch.Tensor] | None  # from decoder & co, when the source has them
    source: dict[str, Any]


# ---------------------------------------------------------------- reading files


def _unsupported_global(err: Exception) -> str:
    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    return m.group(1) if m else type(err).__name__


def torch_load(path: Path, allow_pickle: bool = False) -> Any:
    """torch.load without running pickled code: tensors, plain data and the few torch classes the reference
    pickles into its hyper-parameters (activation modules). allow_pickle=True: a full unpickle (trusted
    files only)."""
    if allow_pickle:
        return torch.load(path, map_location="cpu", weights_only=False)
    from torch import nn

    safe = [nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh, nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss]
    for mod, name in (
        ("lightning.fabric.utilities.data", "AttributeDict"),
        ("pytorch_lightning.utilities.parsing", "AttributeDict"),
    ):
        try:
            safe.append(getattr(__import__(mod, fromlist=[name]), name))
        except (ImportError, AttributeError):
            pass
    try:
        with torch.serialization.safe_globals(safe):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if "Weights only load failed" in str(err) or "Unsupported global" in str(err):
            raise InputError(
                f"{path}: holds pickled objects that are not plain data ({_unsupported_global(err)}); "
                "if you trust the file, import it with `wavjepa-nat import-weights SRC --allow-pickle`"
            ) from None
        raise InputError(
            f"{path}: cannot read as a torch checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200]})"
        ) from None


def _normalise(name: str, hf: bool) -> str:
    name = name.replace("_orig_mod.", "")
    if hf and name.startswith("model."):
        name = name[len("model.") :]
    return name


def looks_like_reference(state: dict) -> bool:
    return any(_normalise(k, True).startswith("extract_audio.") for k in state)


def _from_state(raw: dict, hparams: dict, kind: str, path: Path, weights_file: Path) -> ReferenceWeights:
    hf = kind == "huggingface"
    state, original = {}, {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            continue
        name = _normalise(str(key), hf)
        if name in state:
            raise InputError(f"{path}: tensor '{key}' appears twice (also as '{original[name]}')")
        state[name], original[name] = value, str(key)
    if not any(n.startswith("extract_audio.") for n in state):
        raise InputError(f"{path}: not a {REFERENCE} WavJEPA model: no 'extract_audio.*' tensors")
    return ReferenceWeights(state, original, dict(hparams or {}), kind, path, weights_file)


def read_lightning(path: Path, ckpt: dict | None = None, allow_pickle: bool = False) -> ReferenceWeights:
    ckpt = torch_load(path, allow_pickle) if ckpt is None else ckpt
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise InputError(f"{path}: not a Lightning checkpoint (no 'state_dict')")
    hparams = ckpt.get("hyper_parameters") or {}
    return _from_state(
        ckpt["state_dict"], dict(hparams) if isinstance(hparams, dict) else {}, "lightning", path, path
    )


def read_huggingface(path: Path, allow_pickle: bool = False) -> ReferenceWeights:
    """A folder with config.json and model.safetensors / pytorch_model.bin, or one of those files."""
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        found = [folder / f for f in _HF_WEIGHTS if (folder / f).is_file()]
        if not found:
            raise InputError(f"{path}: no {' or '.join(_HF_WEIGHTS)} in this folder")
        weights = found[0]
    else:
        weights = path
    config: dict = {}
    if (folder / "config.json").is_file():
        try:
            config = json.loads((folder / "config.json").read_text())
        except json.JSONDecodeError as err:
            raise InputError(f"{folder / 'config.json'}: not valid JSON ({err})") from None
    elif path.is_dir():
        raise InputError(f"{path}: no config.json in this folder")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            raw = load_file(str(weights), device="cpu")
        except Exception as err:
            raise InputError(f"{weights}: cannot read as safetensors ({type(err).__name__}: {err})") from None
    else:
        raw = torch_load(weights, allow_pickle)
        if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
            raw = raw["state_dict"]
        if not isinstance(raw, dict):
            raise InputError(f"{weights}: not a state dict")
    return _from_state(raw, config, "huggingface", path, weights)


def read_reference(path: str | Path, allow_pickle: bool = False) -> ReferenceWeights:
    path = Path(path)
    if not path.exists():
        raise InputError(f"model not found: {path}")
    if path.is_dir() or path.suffix == ".safetensors" or path.name in _HF_WEIGHTS:
        return read_huggingface(path, allow_pickle)
    return read_lightning(path, allow_pickle=allow_pickle)


# ---------------------------------------------------------------- the reference's configuration


def parse_conv_spec(text: str) -> list[tuple[int, int, int]]:
    """The reference's `conv_layers_spec` string, e.g. "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)]",
    evaluated without eval(): lists and tuples of ints joined by + and repeated by *."""

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(ast.dump(node))

    try:
        spec = ev(ast.parse(str(text), mode="eval")) if isinstance(text, str) else text
        spec = [tuple(int(v) for v in layer) for layer in spec]
        if not spec or any(len(layer) != 3 for layer in spec):
            raise ValueError("each layer needs (dim, kernel, stride)")
    except (SyntaxError, ValueError, TypeError) as err:
        raise InputError(f"conv_layers_spec {text!r} is not a list of (dim, kernel, stride): {err}") from None
    return spec


def _sub(d: dict, *names: str) -> dict:
    for n in names:
        if isinstance(d.get(n), dict):
            return d[n]
    return {}


def _layer_count(state: dict, prefix: str) -> int:
    idx = [int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"layers\.(\d+)\.", k))]
    return max(idx) + 1 if idx else 0


def _shape(state: dict, name: str, where: str) -> tuple[int, ...]:
    if name not in state:
        raise InputError(f"{where}: missing tensor '{name}'")
    return tuple(state[name].shape)


def reference_config(ref: ReferenceWeights) -> tuple[ModelConfig, dict]:
    """The ModelConfig that runs the reference's computation, and facts about the layout (for the mapping)."""
    st, hp, where = ref.state, ref.hparams, str(ref.path)
    enc_layers_cfg = _sub(hp, "transformer_encoder_layers_cfg", "encoder_layers_cfg")
    enc_cfg = _sub(hp, "transformer_encoder_cfg", "encoder_cfg")
    dec_layers_cfg = _sub(hp, "transformer_decoder_layers_cfg", "decoder_layers_cfg")
    dec_cfg = _sub(hp, "transformer_decoder_cfg", "decoder_cfg")
    ext_cfg = _sub(hp, "extractor_config", "extractor_cfg", "feature_extractor")

    # Waveform encoder: one stack (mono, or both ears shared) or one per ear.
    ears = sorted({int(m.group(1)) for k in st if (m := re.match(r"extract_audio\.cnns\.(\d+)\.", k))})
    if ears:
        stacks = [f"extract_audio.cnns.{c}." for c in ears]
        if ears != list(range(len(ears))):
            raise InputError(f"{where}: conv stacks {ears} are not numbered 0..{len(ears) - 1}")
    elif any(k.startswith("extract_audio.cnn.") for k in st):
        stacks = ["extract_audio.cnn."]
    else:
        bad = next(k for k in st if k.startswith("extract_audio."))
        raise InputError(
            f"{where}: unexpected tensor '{ref.original[bad]}' (expected extract_audio.cnn.* or "
            "extract_audio.cnns.{ear}.*)"
        )
    n_conv = 1 + max(int(m.group(1)) for k in st if (m := re.match(re.escape(stacks[0]) + r"(\d+)\.0\.", k)))
    kernels, conv_dim = [], None
    for i in range(n_conv):
        shape = _shape(st, f"{stacks[0]}{i}.0.weight", where)
        if len(shape) != 3:
            raise InputError(
                f"{where}: tensor '{stacks[0]}{i}.0.weight' has shape {shape}, expected a Conv1d weight"
            )
        conv_dim = conv_dim or shape[0]
        kernels.append(shape[2])
    in_first = _shape(st, f"{stacks[0]}0.0.weight", where)[1]
    hp_channels = ext_cfg.get("in_channels", hp.get("in_channels"))
    if len(stacks) > 1:
        channels = len(stacks)
    elif stacks[0] == "extract_audio.cnn.":
        if in_first != 1:
            raise InputError(
                f"{where}: tensor 'extract_audio.cnn.0.0.weight' mixes {in_first} input channels; "
                "only the per-ear extractors (one input channel per stack) can be imported"
            )
        channels = 1
    else:  # one stack shared by the ears (share_weights_over_channels)
        channels = int(hp_channels or 2)
    if ext_cfg.get("mode", "default") != "default":
        raise InputError(
            f"{where}: extractor mode {ext_cfg.get('mode')!r} is not supported (only 'default': "
            "GroupNorm after the first conv)"
        )
    if ext_cfg.get("depthwise") or ext_cfg.get("conv_bias"):
        raise InputError(f"{where}: depthwise or biased conv extractors are not supported")
    if ext_cfg.get("conv_layers_spec") is not None:
        spec = parse_conv_spec(ext_cfg["conv_layers_spec"])
        if len(spec) != n_conv or any(d != conv_dim for d, _, _ in spec):
            raise InputError(
                f"{where}: conv_layers_spec {spec} does not match the {n_conv} conv layers of "
                f"width {conv_dim} in the weights"
            )
        strides = [s for _, _, s in spec]
        kernels_cfg = [k for _, k, _ in spec]
        if kernels_cfg != kernels:
            i = next(j for j, (a, b) in enumerate(zip(kernels_cfg, kernels)) if a != b)
            raise InputError(
                f"{where}: tensor '{ref.original[f'{stacks[0]}{i}.0.weight']}' has kernel {kernels[i]}, "
                f"config.json says {kernels_cfg[i]}"
            )
    else:
        unknown = [k for k in kernels if k not in _STRIDE_OF_KERNEL]
        if unknown:
            raise InputError(
                f"{where}: conv kernels {kernels} are not the reference's (10, 3, 3, 3, 3, 2) and the "
                "checkpoint does not store strides"
            )
        strides = [_STRIDE_OF_KERNEL[k] for k in kernels]
    conv_spec = list(zip(kernels, strides))

    # Transformer encoder.
    width, three = _shape(st, "encoder.layers.0.self_attn.in_proj_weight", where)[::-1]
    depth = int(enc_cfg.get("num_layers") or _layer_count(st, "encoder."))
    hidden = _shape(st, "encoder.layers.0.linear1.weight", where)[0]
    size = str(hp.get("size", "base"))
    heads = 16 if size == "large" else int(enc_layers_cfg.get("nhead") or _HEADS_OF_WIDTH.get(width, 0))
    if not heads:
        raise InputError(
            f"{where}: cannot tell the encoder's attention heads: no nhead in the checkpoint's "
            f"hyper-parameters or config.json, and width {width} is not a published size"
        )
    activation = enc_layers_cfg.get("activation", "gelu")
    act_name = activation if isinstance(activation, str) else type(activation).__name__
    if act_name.lower() != "gelu":
        raise InputError(f"{where}: transformer activation {act_name} is not supported (only GELU)")
    norm_first = bool(enc_layers_cfg.get("norm_first", False))
    eps = float(enc_layers_cfg.get("layer_norm_eps", 1e-6))

    # Predictor (decoder), when present.
    has_decoder = any(k.startswith("decoder.") for k in st)
    base = get_preset("base")
    pred_dim, pred_depth, pred_heads = base.pred_dim, base.pred_depth, base.pred_heads
    if has_decoder:
        pred_dim = _shape(st, "decoder.layers.0.self_attn.in_proj_weight", where)[1]
        pred_depth = int(dec_cfg.get("num_layers") or _layer_count(st, "decoder."))
        pred_heads = int(dec_layers_cfg.get("nhead") or _HEADS_OF_WIDTH.get(pred_dim, 0))
        if not pred_heads:
            raise InputError(
                f"{where}: cannot tell the decoder's attention heads: no nhead in the checkpoint's "
                f"hyper-parameters or config.json, and width {pred_dim} is not a published size"
            )

    fs = int(hp.get("resample_sr", 16000))
    seconds = float(hp.get("process_audio_seconds", REFERENCE_CROP_SECONDS))
    crop = int(fs * seconds)
    if "pos_encoding_encoder" in st:  # its token count fixes the window: C * frames(window)
        tokens = _shape(st, "pos_encoding_encoder", where)[-2]
        if tokens % channels or n_frames(crop, conv_spec) != tokens // channels:
            rf, hop = receptive_field(conv_spec), int(torch.tensor(strides).prod())
            crop = (tokens // channels - 1) * hop + rf
            if tokens % channels or n_frames(crop, conv_spec) != tokens // channels:
                raise InputError(
                    f"{where}: tensor 'pos_encoding_encoder' has {tokens} positions, which is not "
                    f"{channels} ear(s) x the frames of a window"
                )

    values = base.to_dict()
    values.update(
        channels=channels,
        share_ear_encoders=channels > 1 and len(stacks) == 1,
        fs=fs,
        crop_samples=crop,
        conv_spec=conv_spec,
        conv_dim=conv_dim,
        ear_norm="per_ear",
        interaural="none",  # the reference has no interaural path (the presets' "spatial" layout does)
        embed_dim=width,
        depth=depth,
        heads=heads,
        mlp_ratio=hidden / width,
        pred_dim=pred_dim,
        pred_depth=pred_depth,
        pred_heads=pred_heads,
        pos_embedding="split",
        norm_first=norm_first,
        block_norm_eps=eps,
        ear_pool="mean" if channels > 1 else "concat",
        runtime="wavjepa",
    )
    # The reference's training settings, when the checkpoint keeps them (for continued pre-training).
    for ours, theirs in (
        ("lr", "lr"),
        ("weight_decay", "adam_weight_decay"),
        ("ema_start", "ema_decay"),
        ("ema_end", "ema_end_decay"),
        ("ema_ramp_steps", "ema_anneal_end_step"),
    ):
        if isinstance(hp.get(theirs), (int, float)) and not isinstance(hp.get(theirs), bool):
            values[ours] = type(values[ours])(hp[theirs])
    if isinstance(hp.get("adam_betas"), (list, tuple)) and len(hp["adam_betas"]) == 2:
        values["betas"] = [float(b) for b in hp["adam_betas"]]
    top_k = hp.get("average_top_k_layers")
    values["top_k_targets"] = (
        min(depth, int(top_k)) if isinstance(top_k, int) else min(depth, values["top_k_targets"])
    )
    if values["ema_end"] < values["ema_start"]:
        values["ema_end"] = values["ema_start"]
    if three != 3 * width:
        raise InputError(
            f"{where}: tensor 'encoder.layers.0.self_attn.in_proj_weight' has shape "
            f"{(three, width)}, expected (3 * width, width)"
        )
    try:
        cfg = ModelConfig.from_dict(values)
    except InputError as err:
        raise InputError(f"{where}: the reference's sizes do not make a valid model ({err})") from None
    layout = {
        "stacks": stacks,
        "n_conv": n_conv,
        "has_mapper": "post_extraction_mapper.weight" in st,
        "has_decoder": has_decoder,
        "has_teacher": any(k.startswith("teacher_encoder.") for k in st),
        "hidden": hidden,
        "pred_hidden": int(pred_dim * hidden / width),
    }
    return cfg, layout


# ---------------------------------------------------------------- the name mapping


def _transformer_names(ref_prefix: str, our_prefix: str, depth: int, dim: int, hidden: int) -> dict:
    """{reference name: (our name, shape)} for an nn.TransformerEncoder and its final norm."""
    out = {}
    for i in range(depth):
        for theirs, (ours, shape) in _LAYER_PARTS.items():
            out[f"{ref_prefix}layers.{i}.{theirs}"] = (f"{our_prefix}blocks.{i}.{ours}", shape(dim, hidden))
    for p in ("weight", "bias"):
        out[f"{ref_prefix}norm.{p}"] = (f"{our_prefix}norm.{p}", (dim,))
    return out


def _expected(cfg: ModelConfig, layout: dict) -> dict[str, dict[str, tuple[str, tuple]]]:
    """Groups of {reference name: (our target, shape)}; targets are 'encoder.*', 'target.*', 'predictor.*'."""
    C, F, D, Dp = cfg.channels, cfg.conv_dim, cfg.embed_dim, cfg.pred_dim
    fronts = range(1 if cfg.share_ear_encoders or C == 1 else C)
    frontend: dict[str, tuple[str, tuple]] = {}
    for c, stack in zip(fronts, layout["stacks"]):
        for i, (k, _) in enumerate(cfg.conv_spec):
            j = 0 if i == 0 else 2 * i + 1  # our Sequential: conv, GroupNorm, GELU, then conv, GELU pairs
            frontend[f"{stack}{i}.0.weight"] = (
                f"encoder.frontends.{c}.cnn.layers.{j}.weight",
                (F, 1 if i == 0 else F, k),
            )
        for p in ("weight", "bias"):
            frontend[f"{stack}0.2.{p}"] = (f"encoder.frontends.{c}.cnn.layers.1.{p}", (F,))
    shared = {f"feature_norms.{p}": ("encoder.frontends.*.norm." + p, (F,)) for p in ("weight", "bias")}
    if layout["has_mapper"] or F != D:
        shared["post_extraction_mapper.weight"] = ("encoder.frontends.*.proj.weight", (D, F))
        shared["post_extraction_mapper.bias"] = ("encoder.frontends.*.proj.bias", (D,))
    T = n_frames(cfg.crop_samples, cfg.conv_spec)
    groups = {
        "encoder": {
            **frontend,
            **shared,
            **_transformer_names("encoder.", "encoder.transformer.", cfg.depth, D, layout["hidden"]),
        },
        "pos_encoder": {"pos_encoding_encoder": ("", (1, C * T, D))},
        "teacher": _transformer_names(
            "teacher_encoder.", "target.transformer.", cfg.depth, D, layout["hidden"]
        ),
        "decoder": {
            "encoder_to_decoder_mapper.weight": ("predictor.embed.weight", (Dp, D)),
            "encoder_to_decoder_mapper.bias": ("predictor.embed.bias", (Dp,)),
            "decoder_to_encoder_mapper.weight": ("predictor.out.weight", (D, Dp)),
            "decoder_to_encoder_mapper.bias": ("predictor.out.bias", (D,)),
            "mask_token": ("predictor.mask_token", (1, 1, Dp)),
            **_transformer_names(
                "decoder.", "predictor.transformer.", cfg.pred_depth, Dp, layout["pred_hidden"]
            ),
        },
        "pos_decoder": {"pos_encoding_decoder": ("", (1, C * T, Dp))},
    }
    return groups


def _check_table(ref: ReferenceWeights, name: str, dim: int, cfg: ModelConfig) -> None:
    """The stored sin-cos table must be the one this project computes (else the layout is another one)."""
    pos = EarTimePosition(cfg.channels, dim, cfg.ear_embedding, cfg.pos_embedding)
    ours = pos(n_frames(cfg.crop_samples, cfg.conv_spec))
    theirs = ref.state[name].float().reshape(ours.shape)
    err = float((ours - theirs).abs().max())
    if err > 1e-5:
        raise InputError(
            f"{ref.path}: tensor '{ref.original[name]}' is not the reference's fixed sin-cos "
            f"embedding for {cfg.channels} ear(s) (max difference {err:.3g})"
        )


def convert(ref: ReferenceWeights) -> ImportedModel:
    """Check every tensor of the source against the reference layout, and map it onto this project's names."""
    cfg, layout = reference_config(ref)
    groups = _expected(cfg, layout)
    st, where = ref.state, str(ref.path)
    known = {name for g in groups.values() for name in g}
    unexpected = sorted(n for n in st if n not in known)
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise InputError(
            f"{where}: unexpected tensor '{ref.original[unexpected[0]]}'{more}: not part of the "
            f"reference's {'binaural' if cfg.channels > 1 else 'mono'} WavJEPA layout"
        )
    required = ["encoder"] + [
        g
        for g, present in (("teacher", layout["has_teacher"]), ("decoder", layout["has_decoder"]))
        if present
    ]
    for g in required:  # a group present at all must be complete
        missing = [n for n in groups[g] if n not in st]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InputError(f"{where}: missing tensor '{missing[0]}'{more}")
    for g in groups.values():
        for name, (_, shape) in g.items():
            if name in st and tuple(st[name].shape) != tuple(shape):
                raise InputError(
                    f"{where}: tensor '{ref.original[name]}' has shape {tuple(st[name].shape)}, "
                    f"expected {tuple(shape)}"
                )
    if "pos_encoding_encoder" in st:
        _check_table(ref, "pos_encoding_encoder", cfg.embed_dim, cfg)
    if "pos_encoding_decoder" in st:
        _check_table(ref, "pos_encoding_decoder", cfg.pred_dim, cfg)

    template = {k: tuple(v.shape) for k, v in _meta_encoder(cfg).state_dict().items()}
    n_front = 1 if cfg.share_ear_encoders or cfg.channels == 1 else cfg.channels
    encoder_sd = {f"pos.{k}": v for k, v in _positions(cfg, cfg.embed_dim).items()}  # fixed, not imported
    target_sd = dict(encoder_sd) if layout["has_teacher"] else None
    predictor_sd: dict[str, torch.Tensor] | None = {} if layout["has_decoder"] else None
    for g in required:
        for name, (ours, _) in groups[g].items():
            value = st[name].detach().to(torch.float32).contiguous()
            targets = [ours.replace("*", str(c)) for c in range(n_front)] if "*" in ours else [ours]
            for i, t in enumerate(targets):
                value = value if i == 0 else value.clone()  # one tensor per name (safetensors shares none)
                part, key = t.split(".", 1)
                if part == "encoder":
                    encoder_sd[key] = value
                elif part == "target":
                    target_sd[key] = value
                else:
                    predictor_sd[key] = value
    if "post_extraction_mapper.weight" not in groups["encoder"]:  # none in the reference when widths agree
        for c in range(n_front):
            encoder_sd[f"frontends.{c}.proj.weight"] = torch.eye(cfg.embed_dim)
            encoder_sd[f"frontends.{c}.proj.bias"] = torch.zeros(cfg.embed_dim)
    if target_sd is not None:  # the reference's teacher shares the waveform encoder with the student
        for k, v in encoder_sd.items():
            if not k.startswith("transformer."):
                target_sd[k] = v.clone()
    if predictor_sd is not None:
        predictor_sd.update({f"pos.{k}": v for k, v in _positions(cfg, cfg.pred_dim).items()})
    # Every tensor of the Encoder is accounted for, with its shape.
    shapes = {k: tuple(v.shape) for k, v in encoder_sd.items()}
    assert shapes == template, sorted(set(template) ^ set(shapes))
    source = describe_source(ref, cfg, layout)
    return ImportedModel(cfg, encoder_sd, target_sd, predictor_sd, source)


def _meta_encoder(cfg: ModelConfig) -> Encoder:
    """An Encoder without storage or initialisation (its names and shapes; cheap at any size)."""
    with torch.device("meta"):
        return Encoder(cfg)


def _positions(cfg: ModelConfig, dim: int) -> dict[str, torch.Tensor]:
    """The fixed positional buffers of an EarTimePosition (the reference's are computed, never learned)."""
    return dict(EarTimePosition(cfg.channels, dim, cfg.ear_embedding, cfg.pos_embedding).state_dict())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def describe_source(ref: ReferenceWeights, cfg: ModelConfig, layout: dict) -> dict:
    kind = "reference Lightning checkpoint" if ref.kind == "lightning" else "reference Hugging Face folder"
    parts = ["encoder"] + [
        p for p, on in (("teacher", layout["has_teacher"]), ("predictor", layout["has_decoder"])) if on
    ]
    return {
        "kind": kind,
        "reference": REFERENCE,
        "model": "WavJEPA-Nat (binaural)" if cfg.channels > 1 else "WavJEPA (mono)",
        "path": str(ref.path.resolve()),
        "weights_file": ref.weights_file.name,
        "sha256": _sha256(ref.weights_file),
        "parts": parts,
        "compiled_names": any("_orig_mod." in k for k in ref.original.values()),
    }


def import_reference(path: str | Path, allow_pickle: bool = False) -> ImportedModel:
    return convert(read_reference(path, allow_pickle))


def load_reference_encoder(path: str | Path, allow_pickle: bool = False, ref: ReferenceWeights | None = None):
    """The reference model as this project's Encoder (eval mode), with `.source` describing the file."""
    imported = convert(ref if ref is not None else read_reference(path, allow_pickle))
    enc = _meta_encoder(imported.config).to_empty(device="cpu")  # every tensor is loaded below
    enc.load_state_dict(imported.encoder, strict=True)
    enc.source = imported.source
    return enc.eval()
