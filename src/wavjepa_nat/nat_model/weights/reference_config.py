"""The ModelConfig that runs the reference's computation, read from its weights' shapes and its stored
hyper-parameters (Lightning) or config.json (Hugging Face), with facts about its layout for the mapping.

The imported ModelConfig selects the reference's variants (nat_model/config.py): post-norm blocks with eps
1e-6, the split ear/time positional layout, the ears' tokens averaged per frame, the reference's HEAR
runtime, and its binaural layout (per-ear stacks and norm, no interaural path).
"""

from __future__ import annotations

import ast
import re

import torch

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS, ModelConfig, get_preset
from wavjepa_nat.nat_model.encoder import n_frames, receptive_field
from wavjepa_nat.nat_model.weights.reference_files import REF_CONV, ReferenceWeights

# The reference's conv stack is wav2vec 2.0's without its last layer: (10, 5), 4 x (3, 2), (2, 2). A
# Lightning checkpoint stores kernels (in the weights) but not strides; each kernel has one stride there.
_STRIDE_OF_KERNEL = {10: 5, 3: 2, 2: 2}
_HEADS_OF_WIDTH = {384: 12, 768: 12, 1024: 16}  # decoder, base, large (12 / 12 / 16 heads)
REFERENCE_CROP_SECONDS = 2.01  # the reference's training crop and HEAR window: 32160 samples, 200 frames


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
    conv_name = re.escape(stacks[0]) + r"(\d+)\." + REF_CONV + r"\."
    n_conv = 1 + max(int(m.group(1)) for k in st if (m := re.match(conv_name, k)))
    kernels, conv_dim = [], None
    for i in range(n_conv):
        name = f"{stacks[0]}{i}.{REF_CONV}.weight"
        shape = _shape(st, name, where)
        if len(shape) != 3:
            raise InputError(f"{where}: tensor '{name}' has shape {shape}, expected a Conv1d weight")
        conv_dim = conv_dim or shape[0]
        kernels.append(shape[2])
    in_first = _shape(st, f"{stacks[0]}0.{REF_CONV}.weight", where)[1]
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
            name = ref.original[f"{stacks[0]}{i}.{REF_CONV}.weight"]
            raise InputError(
                f"{where}: tensor '{name}' has kernel {kernels[i]}, config.json says {kernels_cfg[i]}"
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
    values.update(BINAURAL_LAYOUTS["reference"])  # per-ear norm, no interaural path (ModelConfig()'s has one)
    values.update(
        channels=channels,
        share_ear_encoders=channels > 1 and len(stacks) == 1,
        fs=fs,
        crop_samples=crop,
        conv_spec=conv_spec,
        conv_dim=conv_dim,
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
