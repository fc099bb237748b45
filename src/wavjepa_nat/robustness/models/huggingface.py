"""Any Hugging Face `transformers` audio model as a sweep model: `--model hf:PATH[@LAYER|@all]`.

    emb = HFEmbedder("hf:models/wav2vec2-base@6", input_rate=16000)
    x = emb.scene_embeddings(audio)          # audio (n, 2, S) at 16 kHz, as the sweep renders it

PATH is a local model folder (config.json, weights, preprocessor_config.json) or a model id already in the
local Hugging Face cache. Nothing is downloaded: every read is local (local_files_only), and a model that is
not there is a one-line InputError. The model is AutoModel, its input the folder's AutoFeatureExtractor
(or the feature extractor of the processor the folder names). A folder with its own code (`auto_map` in
config.json: EAT, SSLAM, labhamlet's wavjepa folders) runs only with --trust-remote-code, which the report
records. transformers is the optional extra `hf` (pip install wavjepa-nat[hf]).

Input formation: the rendered audio is resampled to the extractor's sampling_rate; a mono model gets the
mean of the two ears; a model whose config says two channels (num_channels / n_channels / in_channels = 2)
gets both ears, each ear through the extractor, stacked as (n, 2, ...). Encoder-decoder models (Whisper)
run their encoder only.

Embedding: the model's hidden states (output_hidden_states=True): 0 = the input embeddings, 1..L the
layers. The clip embedding is the mean over time (all tokens) of hidden state L (the last; the default),
of LAYER (@LAYER), or the mean of layers 1..L (@all).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wavjepa_nat.dsp import resample
from wavjepa_nat.errors import InputError

PREFIX = "hf:"
KIND = "Hugging Face transformers model"
EXTRA = "pip install 'wavjepa-nat[hf]'"
CHANNEL_KEYS = ("num_channels", "n_channels", "in_channels", "audio_channels")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


def is_hf_spec(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


@dataclass(frozen=True)
class HFSpec:
    spec: str  # as the user wrote it
    path: str  # folder or model id
    layer: int | str | None  # None = the last, an int, or "all"

    @property
    def layer_text(self) -> str:
        if self.layer is None:
            return "last layer"
        return "mean of layers 1..L" if self.layer == "all" else f"hidden state {self.layer}"


def parse_hf_spec(spec: str) -> HFSpec:
    """'hf:PATH[@LAYER|@all]' -> HFSpec; an '@' followed by anything else is part of PATH."""
    body = spec[len(PREFIX) :]
    path, at, tail = body.rpartition("@")
    layer: int | str | None = None
    if at and tail.lower() == "all":
        layer = "all"
    elif at and re.fullmatch(r"-?\d+", tail):
        layer = int(tail)
        if layer < 0:
            raise InputError(f"--model {spec}: layer {layer} is out of range (write @0..@L, or @all)")
    else:
        path = body
    if not path:
        raise InputError(f"--model {spec}: no model folder or id (write hf:PATH[@LAYER|@all])")
    return HFSpec(spec, path, layer)


def hf_name(spec: str) -> str:
    s = parse_hf_spec(spec)
    at = "" if s.layer is None else f"@{s.layer}"
    return f"{PREFIX}{Path(s.path).name or s.path}{at}"


def transformers_module():
    """transformers, or the one-line error naming the extra. Offline: the hub is never asked (HF_HUB_OFFLINE,
    read when huggingface_hub is first imported; every load also passes local_files_only)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import transformers
    except ImportError:
        raise InputError(f"hf: models need the optional transformers dependency: {EXTRA}") from None
    return transformers


def model_folder(s: HFSpec) -> Path:
    """The local folder of PATH: the folder itself, or the cached snapshot of a model id."""
    p = Path(s.path).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise InputError(f"--model {s.spec}: {p} is not a Hugging Face model folder (no config.json)")
        return p
    if p.exists():
        raise InputError(f"--model {s.spec}: {p} is a file, not a Hugging Face model folder")
    if _REPO_ID.match(s.path):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(s.path, "config.json")
        if isinstance(cached, str) and Path(cached).is_file():
            return Path(cached).parent
    raise InputError(
        f"--model {s.spec}: no model folder {s.path}, and no model '{s.path}' in the local Hugging Face "
        "cache (nothing is downloaded)"
    )


def read_config(folder: Path, spec: str) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"--model {spec}: {folder}/config.json is not readable JSON ({err})") from None
    if not isinstance(config, dict):
        raise InputError(f"--model {spec}: {folder}/config.json must hold a JSON object")
    return config


def needs_remote_code(config: dict) -> bool:
    return bool(config.get("auto_map"))


def n_layers(config: dict) -> int | None:
    """The number of layers L the config declares (hidden states 0..L), None when it names none."""
    for key in ("num_hidden_layers", "encoder_layers", "num_layers", "depth"):
        value = config.get(key)
        if isinstance(value, int) and value > 0:
            return value
    for sub in ("audio_config", "encoder"):
        if isinstance(config.get(sub), dict):
            found = n_layers(config[sub])
            if found:
                return found
    return None


def check_layer(s: HFSpec, layers: int | None) -> None:
    if isinstance(s.layer, int) and layers is not None and s.layer > layers:
        raise InputError(
            f"--model {s.spec}: layer {s.layer} is out of range (this model has hidden states 0..{layers})"
        )


def check_hf_spec(spec: str, trust_remote_code: bool = False) -> None:
    """Before any work, reading config.json only: transformers installed, the folder (or cached id), remote
    code allowed where the folder needs it, the layer in range."""
    s = parse_hf_spec(spec)
    transformers_module()
    folder = model_folder(s)
    config = read_config(folder, spec)
    if needs_remote_code(config) and not trust_remote_code:
        raise InputError(
            f"--model {spec}: the folder runs its own code (auto_map in config.json); read it, then pass "
            "--trust-remote-code to allow it"
        )
    check_layer(s, n_layers(config))


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text[:300]}"


class HFEmbedder:
    """A transformers model behind the sweep's embedder interface (scene_embeddings of (n, C, S) audio)."""

    kind = KIND

    def __init__(
        self,
        spec: str,
        input_rate: int | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        name: str | None = None,
        trust_remote_code: bool = False,
    ):
        check_hf_spec(spec, trust_remote_code)
        transformers = transformers_module()
        self.spec = parse_hf_spec(spec)
        self.folder = model_folder(self.spec)
        self.config = read_config(self.folder, spec)
        self.name = name or hf_name(spec)
        self.trust_remote_code = bool(trust_remote_code)
        self.remote_code = needs_remote_code(self.config)
        self.version = transformers.__version__
        self.batch_size = int(batch_size)
        self.device = device
        self.notes: list[str] = []
        self.extractor = self._load_extractor(transformers)
        self.model = self._load_model(transformers)
        self.model_rate = int(self.extractor.sampling_rate)
        # the rate scene_embeddings accepts (None: the model's own); the model's is model_rate
        self.input_rate = self.sample_rate = int(input_rate or self.model_rate)
        channels = next((self.config[k] for k in CHANNEL_KEYS if k in self.config), 1)
        self.channels = 2 if channels == 2 else 1
        self.input = "binaural (both ears)" if self.channels == 2 else "mono mixdown (mean of the two ears)"
        if self.model_rate != self.input_rate:
            self.input += f", resampled {self.input_rate} -> {self.model_rate} Hz"
            self.notes.append(f"audio resampled from {self.input_rate} to {self.model_rate} Hz")
        if self.channels == 1:
            self.notes.append("binaural renderings averaged to mono for this mono model")
        # A short forward pass: the number of hidden states, the width, and a layer in range.
        probe = self.hidden_states(np.zeros((1, self.channels, self.input_rate), np.float32))
        self.n_hidden = len(probe)
        check_layer(self.spec, self.n_hidden - 1)
        self.output_dim = int(self.pool(probe).shape[-1])

    def fail(self, what: str) -> InputError:
        return InputError(f"--model {self.spec.spec}: {what}")

    def _load_extractor(self, transformers):
        kw = {"local_files_only": True, "trust_remote_code": self.trust_remote_code}
        errors = []
        for auto in (transformers.AutoFeatureExtractor, transformers.AutoProcessor):
            try:
                found = auto.from_pretrained(str(self.folder), **kw)
            except Exception as err:  # noqa: BLE001 - each failure is reported below
                errors.append(_brief(err))
                continue
            found = getattr(found, "feature_extractor", found)
            if getattr(found, "sampling_rate", None):
                return found
        raise self.fail(f"no audio feature extractor in {self.folder} ({errors[0] if errors else ''})")

    def _load_model(self, transformers):
        transformers.utils.logging.disable_progress_bar()  # the sweep has its own progress bar
        try:
            model = transformers.AutoModel.from_pretrained(
                str(self.folder), local_files_only=True, trust_remote_code=self.trust_remote_code
            )
        except Exception as err:  # noqa: BLE001 - a one-line error naming the model
            raise self.fail(f"loading the model failed: {_brief(err)}") from None
        if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
            model = model.get_encoder()
            self.notes.append("encoder-decoder model; its encoder's hidden states are used")
        return model.to(self.device).eval()

    def describe(self) -> dict:
        trust = ", trust_remote_code" if self.remote_code else ""
        return {
            "kind": KIND,
            "source": f"{self.spec.spec} ({self.folder}), {self.spec.layer_text}, "
            f"transformers {self.version}{trust}",
            "sample_rate": self.model_rate,
            "input": self.input,
            "config": {
                "folder": str(self.folder),
                "model_type": self.config.get("model_type"),
                "architectures": self.config.get("architectures"),
                "layer": self.spec.layer_text,
                "hidden_states": self.n_hidden,
                "transformers_version": self.version,
                "trust_remote_code": self.remote_code and self.trust_remote_code,
                "n_channels": self.channels,
            },
        }

    # ------------------------------------------------------------ embedding

    def form_input(self, audio: np.ndarray) -> np.ndarray:
        """(n, S) or (n, C, S) at input_rate -> (n, channels, S') at the model's rate."""
        x = np.asarray(audio, np.float32)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3 or x.shape[1] not in (1, 2):
            raise InputError(f"audio must have shape (n, samples) or (n, 1|2, samples), got {x.shape}")
        x = x.mean(axis=1, keepdims=True) if self.channels == 1 else np.repeat(x, 2 // x.shape[1], axis=1)
        return np.ascontiguousarray(resample(x, self.input_rate, self.model_rate, axis=-1), np.float32)

    def hidden_states(self, audio: np.ndarray) -> list:
        """The model's hidden states (0..L) for a batch of audio at input_rate (one forward pass)."""
        import torch

        x = self.form_input(audio)
        n, c, _ = x.shape
        feats = self.extractor(
            list(x.reshape(n * c, -1)), sampling_rate=self.model_rate, return_tensors="pt", padding=True
        )
        inputs = {}
        for key, value in feats.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if c == 2:  # each ear through the extractor, stacked as (n, 2, ...)
                    value = value.reshape(n, c, *value.shape[1:])
                inputs[key] = value
        with torch.no_grad():
            out = self.model(**inputs, output_hidden_states=True)
        states = getattr(out, "hidden_states", None) or getattr(out, "encoder_hidden_states", None)
        if not states:
            raise self.fail("the model returns no hidden states (output_hidden_states=True)")
        return list(states)

    def chosen_layer(self, states: list):
        """Hidden states -> (n, T, D): the chosen layer (or the mean of layers 1..L), tokens in order."""
        import torch

        layer = self.spec.layer
        if layer == "all":
            chosen = torch.stack([h.float() for h in states[1:]]).mean(dim=0)
        else:
            chosen = states[-1 if layer is None else layer].float()
        return chosen.reshape(chosen.shape[0], -1, chosen.shape[-1])

    def pool(self, states: list) -> np.ndarray:
        """Hidden states -> (n, D): the chosen layer's mean over time."""
        return self.chosen_layer(states).mean(dim=1).cpu().numpy()

    def timestamp_embeddings(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """audio (n, C, S) at input_rate -> (tokens (n, T, D) float32, timestamps (n, T) ms): the chosen
        layer's tokens, stamped as T equal steps over the clip (their centres); a model's extra tokens
        (AST's CLS) are stamped like the others."""
        frames = np.concatenate(
            [
                self.chosen_layer(self.hidden_states(audio[i : i + self.batch_size])).cpu().numpy()
                for i in range(0, len(audio), self.batch_size)
            ]
        ).astype(np.float32)
        n, t = frames.shape[:2]
        step = 1000.0 * audio.shape[-1] / self.input_rate / t
        return frames, np.tile((np.arange(t) + 0.5) * step, (n, 1))

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """audio (n, 2, S) (or (n, S)) at input_rate -> (n, output_dim) float32."""
        out = [
            self.pool(self.hidden_states(audio[i : i + self.batch_size]))
            for i in range(0, len(audio), self.batch_size)
        ]
        if not out:
            return np.zeros((0, self.output_dim), np.float32)
        return np.concatenate(out).astype(np.float32)
