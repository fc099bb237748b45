"""Import the published WavJEPA / WavJEPA-Nat weights (labhamlet/wavjepa) into this project's modules.

Sources (read by reference_files.py, from local files only): a reference Lightning checkpoint, with the mono
model (one conv stack, `extract_audio.cnn.*`) or the binaural one (one stack per ear,
`extract_audio.cnns.{ear}.*`), or a Hugging Face style folder or its weights file.

The reference's module tree, by name (see tests/test_weights_reference.py, which rebuilds it from stock
torch modules): `extract_audio.cnn[s]` (Sequential blocks of Conv1d(bias=False), Dropout, [GroupNorm on
the first block only], GELU), `feature_norms` (LayerNorm over the conv features), `post_extraction_mapper`
(Linear conv features -> width; absent when the two are equal), `encoder` (torch.nn.TransformerEncoder:
post-norm layers, GELU, layer_norm_eps 1e-6, batch-first, final LayerNorm), `teacher_encoder` (its EMA
copy), `decoder` + `encoder_to_decoder_mapper` + `decoder_to_encoder_mapper` + `mask_token` (the
predictor), and the fixed sin-cos tables `pos_encoding_encoder` / `pos_encoding_decoder` (checked against
this project's formula). Each of its names maps to one of ours by name (the tables below); the config that
runs its computation comes from reference_config.py.

Every mismatch (a missing tensor, an unexpected one, a shape) is one InputError naming the tensor.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import EarTimePosition, Encoder, n_frames
from wavjepa_nat.nat_model.weights.reference_config import reference_config
from wavjepa_nat.nat_model.weights.reference_files import (
    REF_CONV,
    REF_GROUP_NORM,
    REFERENCE,
    ReferenceWeights,
    read_reference,
)

_LAYER_PARTS = {  # nn.TransformerEncoderLayer name -> (this project's Block name, shape as f(D, hidden))
    "self_attn.in_proj_weight": ("attn.qkv.weight", lambda d, h: (3 * d, d)),
    "self_attn.in_proj_bias": ("attn.qkv.bias", lambda d, h: (3 * d,)),
    "self_attn.out_proj.weight": ("attn.proj.weight", lambda d, h: (d, d)),
    "self_attn.out_proj.bias": ("attn.proj.bias", lambda d, h: (d,)),
    "linear1.weight": ("mlp.fc1.weight", lambda d, h: (h, d)),
    "linear1.bias": ("mlp.fc1.bias", lambda d, h: (h,)),
    "linear2.weight": ("mlp.fc2.weight", lambda d, h: (d, h)),
    "linear2.bias": ("mlp.fc2.bias", lambda d, h: (d,)),
    "norm1.weight": ("norm1.weight", lambda d, h: (d,)),
    "norm1.bias": ("norm1.bias", lambda d, h: (d,)),
    "norm2.weight": ("norm2.weight", lambda d, h: (d,)),
    "norm2.bias": ("norm2.bias", lambda d, h: (d,)),
}


@dataclasses.dataclass
class ImportedModel:
    config: ModelConfig
    encoder: dict[str, torch.Tensor]  # Encoder state dict
    target_encoder: dict[str, torch.Tensor] | None  # from teacher_encoder, when the source has it
    predictor: dict[str, torch.Tensor] | None  # from decoder & co, when the source has them
    source: dict[str, Any]


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
            frontend[f"{stack}{i}.{REF_CONV}.weight"] = (
                f"encoder.frontends.{c}.cnn.convs.{i}.weight",
                (F, 1 if i == 0 else F, k),
            )
        for p in ("weight", "bias"):
            frontend[f"{stack}0.{REF_GROUP_NORM}.{p}"] = (f"encoder.frontends.{c}.cnn.first_norm.{p}", (F,))
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
