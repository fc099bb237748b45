"""Any HEAR 2021 module as a sweep model: `--model hear:MODULE` or `--model hear:MODULE:WEIGHTS`.

    emb = HearEmbedder("hear:my_hear_module:weights.pt", input_rate=16000)
    x = emb.scene_embeddings(audio)          # audio (n, 2, S) at 16 kHz, as the sweep renders it

The module is imported by name (it must be installed, or on sys.path / PYTHONPATH); `load_model(WEIGHTS)`
(or `load_model()` without weights) returns the model; embeddings come from
`get_scene_embeddings(audio, model)` in batches, under torch.no_grad.

Input formation:
- the rendered audio is resampled from the bank's rate to the model's `sample_rate` (dsp.resample);
- a mono model (the HEAR default) gets the mean of the two ears, audio (n, samples);
- a two-channel model gets both ears, audio (n, 2, samples), row 0 = left. A model declares two channels
  with an attribute `n_channels = 2` (or `channels = 2`) on the object load_model returns; the HEAR API
  itself has no such field, so without it a model is mono.

The module is checked when it is loaded, on two short clips, before any sweep work: it must return a
float32 torch tensor of shape (n, scene_embedding_size) with finite values. Any breach, and any exception
the module raises, is a HearModuleError (an InputError) naming the module and what it broke.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np

from wavjepa_nat.dsp import resample
from wavjepa_nat.errors import InputError

PREFIX = "hear:"
KIND = "HEAR 2021 module"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class HearModuleError(InputError):
    """A HEAR module that is missing, fails to load, or breaks the API."""


def is_hear_spec(spec) -> bool:
    return isinstance(spec, str) and spec.startswith(PREFIX)


def parse_hear_spec(spec: str) -> tuple[str, str | None]:
    """'hear:MODULE[:WEIGHTS]' -> (module, weights or None); WEIGHTS is all after the second ':'."""
    module, _, weights = spec[len(PREFIX) :].partition(":")
    if not _MODULE_NAME.match(module):
        raise InputError(
            f"--model {spec}: '{module}' is not a Python module name (write hear:MODULE[:WEIGHTS])"
        )
    return module, (weights or None)


def hear_name(spec: str) -> str:
    """A short report name: hear:MODULE, plus :STEM of the weights file when given."""
    module, weights = parse_hear_spec(spec)
    return f"{PREFIX}{module}" + (f":{Path(weights).stem}" if weights else "")


def check_hear_spec(spec: str) -> None:
    """Cheap checks before any work: the syntax and the weights file (the import happens on loading)."""
    _, weights = parse_hear_spec(spec)
    if weights is not None and not Path(weights).exists():
        raise InputError(f"{spec}: weights not found: {weights}")


def _brief(err: BaseException) -> str:
    text = " ".join(str(err).split()) or "no message"
    return f"{type(err).__name__}: {text[:300]}"


class HearEmbedder:
    """A HEAR module behind the sweep's embedder interface (scene_embeddings of (n, C, S) audio)."""

    kind = KIND

    def __init__(
        self,
        spec: str,
        input_rate: int,
        device: str = "cpu",
        batch_size: int = 16,
        name: str | None = None,
        validate: bool = True,
    ):
        self.spec = spec
        self.module_name, self.weights = parse_hear_spec(spec)
        self.name = name or hear_name(spec)
        self.input_rate = int(input_rate)
        self.sample_rate = self.input_rate  # the rate scene_embeddings accepts; the model's is model_rate
        self.batch_size = int(batch_size)
        self.device = device
        self.notes: list[str] = []
        self.module = self._import()
        self.model = self._load()
        self.model_rate = self._positive_int("sample_rate")
        self.output_dim = self._positive_int("scene_embedding_size")
        self.channels = self._channels()
        self.input = "binaural (both ears)" if self.channels == 2 else "mono mixdown (mean of the two ears)"
        if self.model_rate != self.input_rate:
            self.input += f", resampled {self.input_rate} -> {self.model_rate} Hz"
            self.notes.append(f"rendered audio resampled from {self.input_rate} to {self.model_rate} Hz")
        if self.channels == 1:
            self.notes.append(
                "binaural renderings averaged to mono (the mean of the two ears) for this mono HEAR model"
            )
        if validate:
            rng = np.random.default_rng(0)
            self.scene_embeddings(0.1 * rng.standard_normal((2, 2, self.input_rate)).astype(np.float32))

    def fail(self, what: str) -> HearModuleError:
        return HearModuleError(f"{self.spec}: {what}")

    # ------------------------------------------------------------ loading

    def _import(self):
        try:
            module = importlib.import_module(self.module_name)
        except ModuleNotFoundError as err:
            if err.name and self.module_name.split(".")[0] == err.name.split(".")[0]:
                raise self.fail(
                    f"module '{self.module_name}' is not installed (not importable from "
                    f"sys.path / PYTHONPATH)"
                ) from None
            raise self.fail(f"importing the module failed: {_brief(err)}") from None
        except Exception as err:
            raise self.fail(f"importing the module failed: {_brief(err)}") from None
        for fn in ("load_model", "get_scene_embeddings"):
            if not callable(getattr(module, fn, None)):
                raise self.fail(f"the module has no {fn}() (not a HEAR 2021 module)")
        return module

    def _load(self):
        try:
            model = self.module.load_model(self.weights) if self.weights else self.module.load_model()
        except Exception as err:
            raise self.fail(f"load_model({self.weights or ''}) failed: {_brief(err)}") from None
        if model is None:
            raise self.fail("load_model returned None")
        if hasattr(model, "to") and hasattr(model, "eval"):
            try:
                model = model.to(self.device).eval() or model
            except Exception as err:
                raise self.fail(f"moving the model to {self.device} failed: {_brief(err)}") from None
        return model

    def _positive_int(self, attr: str) -> int:
        value = getattr(self.model, attr, None)
        try:
            number = int(value)
            ok = number == value and number > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise self.fail(f"the model's {attr} is {value!r}; the HEAR API needs a positive integer")
        return number

    def _channels(self) -> int:
        for attr in ("n_channels", "channels"):
            value = getattr(self.model, attr, None)
            if value is not None:
                if value not in (1, 2):
                    raise self.fail(
                        f"the model's {attr} is {value!r}; 1 (mono) or 2 (binaural) are supported"
                    )
                return int(value)
        return 1

    def describe(self) -> dict:
        file = getattr(self.module, "__file__", None)
        version = getattr(self.module, "__version__", None)
        source = self.spec + (f" ({file})" if file else "") + (f", version {version}" if version else "")
        return {
            "kind": KIND,
            "source": source,
            "sample_rate": self.model_rate,
            "input": self.input,
            "config": {
                "module": self.module_name,
                "weights": self.weights,
                "file": file,
                "version": version,
                "n_channels": self.channels,
                "scene_embedding_size": self.output_dim,
            },
        }

    # ------------------------------------------------------------ embedding

    def _form_input(self, audio: np.ndarray) -> np.ndarray:
        x = np.asarray(audio, np.float32)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3 or x.shape[1] not in (1, 2):
            raise InputError(f"audio must have shape (n, samples) or (n, 1|2, samples), got {x.shape}")
        if self.channels == 1:
            x = x.mean(axis=1)
        elif x.shape[1] == 1:
            x = np.repeat(x, 2, axis=1)
        return np.ascontiguousarray(resample(x, self.input_rate, self.model_rate, axis=-1), np.float32)

    def _check(self, out, n: int) -> np.ndarray:
        import torch

        if not isinstance(out, torch.Tensor):
            raise self.fail(
                f"get_scene_embeddings returned {type(out).__name__}; the HEAR API needs a torch tensor"
            )
        if out.dtype != torch.float32:
            raise self.fail(f"get_scene_embeddings returned dtype {out.dtype}; the HEAR API needs float32")
        want = (n, self.output_dim)
        if tuple(out.shape) != want:
            raise self.fail(
                f"get_scene_embeddings returned shape {tuple(out.shape)} for {n} clips; expected "
                f"{want} (n, scene_embedding_size)"
            )
        x = out.detach().cpu().numpy()
        if not np.all(np.isfinite(x)):
            raise self.fail(
                f"get_scene_embeddings returned non-finite values (NaN or inf) in "
                f"{int(np.sum(~np.isfinite(x).all(axis=1)))} of {n} clips"
            )
        return x

    def scene_embeddings(self, audio: np.ndarray) -> np.ndarray:
        """audio (n, 2, S) (or (n, S)) at input_rate -> (n, scene_embedding_size) float32."""
        import torch

        x = self._form_input(audio)
        out = []
        for i in range(0, len(x), self.batch_size):
            batch = torch.from_numpy(x[i : i + self.batch_size]).to(self.device)
            try:
                with torch.no_grad():
                    emb = self.module.get_scene_embeddings(batch, self.model)
            except Exception as err:
                raise self.fail(f"get_scene_embeddings raised {_brief(err)}") from None
            out.append(self._check(emb, len(batch)))
        if not out:
            return np.zeros((0, self.output_dim), np.float32)
        return np.concatenate(out).astype(np.float32)


def unload(module_name: str) -> None:
    """Forget an imported module (tests that write modules of the same name)."""
    for key in [k for k in sys.modules if k == module_name or k.startswith(module_name + ".")]:
        del sys.modules[key]
