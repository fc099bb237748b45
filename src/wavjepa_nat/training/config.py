"""TrainConfig: every option of `train`, with its default and its help, validated on construction.

Kept apart from the training loop (training/loop.py) so that `wavjepa-nat train --help` and config checks
import neither torch nor Lightning; `wavjepa-nat train` builds its flags from these fields' metadata.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from wavjepa_nat.data.augment import AUGMENT_ON, AugmentConfig, noise_options
from wavjepa_nat.data.mixtures import MixConfig
from wavjepa_nat.errors import InputError
from wavjepa_nat.ranges import parse_interval

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
# Lightning's precision strings (lightning.fabric.connector), and auto: bf16-mixed on GPU, 32-true on CPU.
PRECISIONS = (
    "auto",
    "32-true",
    "32",
    "16-mixed",
    "16",
    "bf16-mixed",
    "bf16",
    "16-true",
    "bf16-true",
    "64-true",
    "64",
    "transformer-engine",
    "transformer-engine-float16",
)
_TYPE_WORDS = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "a string",
    tuple: "a LO..HI pair of numbers",
    dict: "a mapping",
}


# The sections of the config.yaml that train writes (training/loop.py): its "train" section is a --config.
WRITTEN_SECTIONS = {"train", "model", "clip", "augment", "teacher", "package_version"}
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seed_everything refuse more


def _float(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{flag} must be a number, got {text!r}") from None


def _is_optional(kind) -> bool:
    return typing.get_origin(kind) in (typing.Union, types.UnionType)


def _has_type(value, base) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return number and float(value).is_integer() and isinstance(value, int)
    if base is float:
        return number
    if base is tuple:
        return (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
    return isinstance(value, base)


def _opt(default, help: str, flag: str | None = None, **kw):
    """A TrainConfig field with its CLI help (and flag, when it is not --field-name)."""
    meta = {"help": help, **({"flag": flag} if flag else {})}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={**meta, **kw})
    return field(default=default, metadata={**meta, **kw})


@dataclass
class TrainConfig:
    data: str = _opt(
        "",
        "Training audio: a folder, a .csv/.jsonl manifest, WebDataset shards "
        "('unbal_train{000..869}.tar') or 'builtin'.",
    )
    bank: str = _opt(
        "",
        "RIR bank (HDF5) from `simulate-rirs`; its train split is used. Not needed when "
        "--clean-ratio is 1 (every clip dry).",
    )
    out: str = _opt("runs/run", "Run directory: config.yaml, last.ckpt, checkpoints/, logs.")
    preset: str = _opt("tiny", "Model size: tiny (CPU, minutes) | small | base (the paper) | large.")
    channels: int = _opt(2, "2: WavJEPA-Nat (binaural), 1: WavJEPA (mono).")
    clean_ratio: float = _opt(0.0, "Probability that a clip stays dry (drawn per clip).")
    snr: tuple[float, float] = _opt((5.0, 40.0), "SNR range LO..HI in dB for wet clips.", range=True)
    noise: str = _opt(
        "auto",
        "Noise of wet clips: bank (the scenes' stored beds) | builtin (procedural noises) | a noise corpus "
        "(folder or manifest, e.g. WHAM!; its train split) played through each scene's noise sources plus "
        "a diffuse part, fresh per clip | auto (bank when the bank has beds, else builtin).",
    )
    max_steps: int = _opt(300, "Optimizer steps.")
    batch_clips: int = _opt(2, "Clips per step per device; each gives --n-crops crops.")
    n_crops: int = _opt(8, "2.01 s crops per clip.")
    clip_seconds: float = _opt(10.0, "Clips are padded or cut to this length (s).")
    num_workers: int = _opt(2, "DataLoader worker processes.")
    ckpt_every: int = _opt(100, "Save a checkpoint every N steps.")
    log_every: int = _opt(10, "Log metrics every N steps.")
    seed: int = _opt(0, "Seed of data order, augmentation, masks and initialisation.")
    accelerator: str = _opt("auto", "auto | cpu | gpu.")
    devices: str = _opt("auto", "Devices per node (DDP when > 1): auto or a number.")
    num_nodes: int = _opt(1, "Nodes (under torchrun or SLURM).")
    precision: str = _opt(
        "auto",
        "auto (bf16-mixed on GPU, 32-true on CPU, where bf16 is slow) or a Lightning precision string.",
    )
    augment_on: str = _opt("cpu", "cpu (in DataLoader workers) | gpu (batched on the device after transfer).")
    compile: bool = _opt(False, "torch.compile the model.")
    grad_checkpointing: bool = _opt(False, "Trade compute for activation memory.")
    resume: bool = _opt(False, "Continue OUT/last.ckpt exactly where it stopped.")
    lr: float | None = _opt(None, "Peak learning rate (default: the preset's).")
    ear_norm: str | None = _opt(
        None,
        "per_ear (the reference: each ear's first-layer GroupNorm divides out "
        "its level, erasing the ILD) | joint (statistics pooled over both "
        "ears: the ILD reaches the model). Default: the preset's.",
    )
    layout: str | None = _opt(
        None,
        "Binaural layout: apart (the presets' default: the reference's tokens, "
        "each frame's interaural GCC-PHAT + ILD cues appended to the embedding) | "
        "spatial (the previous default: first-layer norm pooled over the ears, one "
        "CNN for both ears, the cues added to every token) | reference (the "
        "reference WavJEPA-Nat: per-ear norm, one CNN per ear, no cues). "
        "--ear-norm, when given, overrides its norm.",
    )
    model_overrides: dict = _opt(
        {}, "Other ModelConfig fields, e.g. {warmup_steps: 50} (YAML only).", cli=False
    )
    init_from: str | None = _opt(
        None,
        "Start from saved weights (continued pre-training or fine-tuning): an "
        "export (.safetensors, e.g. from import-weights), a wavjepa-nat "
        "checkpoint, or the reference's .ckpt / Hugging Face folder. The "
        "architecture comes from the weights; --preset and the flags set the "
        "schedule.",
    )

    loss: str = _opt("mse", "mse (the reference) | l1 (SALT): the error between predictions and targets.")
    teacher: str = _opt(
        "ema",
        "ema (the reference: the student's moving average) | frozen:SRC: a model this project loads "
        "(a .ckpt or .safetensors of ours, e.g. a --objective reconstruct run's last.ckpt, or imported "
        "published WavJEPA / WavJEPA-Nat weights), loaded once and frozen; it may differ in width, depth "
        "and channels, not in frame grid or sample rate.",
    )
    teacher_input: str = _opt(
        "same",
        "same: the teacher encodes the student's crops | dry: the dry source of the same crops (before "
        "room and noise), so the student predicts the clean sound's features from the scene.",
    )
    mix_prob: float = _opt(
        0.0,
        "Probability per clip that it becomes a polyphonic scene: the clip plus K-1 other clips of the data, "
        "each through another position (the bank's noise-source positions) of the same room and head.",
    )
    mix_sources: tuple[float, float] = _opt((2, 3), "K, the sources of a mixture: LO..HI (>= 2).", range=True)
    mix_tir: tuple[float, float] = _opt(
        (0.0, 12.0), "Each interferer's target-to-interferer ratio LO..HI in dB (at the ears).", range=True
    )
    mix_target: str | None = _opt(
        None,
        "mixture: the teacher encodes the mixture | retention (the default with --mix-prob > 0, SSLAM): "
        "the target is the mean of the teacher's targets of each source alone.",
    )
    objective: str = _opt(
        "jepa",
        "jepa: predict the teacher's latents | reconstruct: predict the masked tokens' log-mel spectra "
        "(SALT's stage 1; its checkpoint is then a --teacher frozen:OUT/last.ckpt).",
    )

    def __post_init__(self) -> None:
        self._check_types()
        # YAML and JSON give lists: the ranges are tuples again, so a run's config.yaml gives back its config.
        self.snr = tuple(float(v) for v in self.snr)
        self.mix_sources = tuple(self.mix_sources)
        self.mix_tir = tuple(float(v) for v in self.mix_tir)
        if not str(self.data).strip():
            raise InputError("--data is required (a folder, manifest, shards or 'builtin')")
        from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS  # the package would import torch

        if self.layout is not None and self.layout not in BINAURAL_LAYOUTS:
            raise InputError(f"--layout must be one of {', '.join(BINAURAL_LAYOUTS)}, got '{self.layout}'")
        if not self.bank and self.clean_ratio < 1.0:
            raise InputError(
                f"--bank is required unless --clean-ratio is 1 (every clip dry); it is {self.clean_ratio}"
            )
        from wavjepa_nat.nat_model.config import MAX_LR, PRESETS  # here, not at import: it loads torch

        if self.preset not in PRESETS:
            raise InputError(f"--preset must be one of {', '.join(PRESETS)}; got '{self.preset}'")
        for name in ("max_steps", "batch_clips", "n_crops", "ckpt_every", "log_every", "num_nodes"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0 or self.seed < 0:
            raise InputError(f"--num-workers and --seed must be >= 0, got {self.num_workers}, {self.seed}")
        if self.seed > MAX_SEED:
            raise InputError(
                f"--seed must be at most 2^32 - 1 = {MAX_SEED} (numpy's and Lightning's), got {self.seed}"
            )
        if not (math.isfinite(self.clip_seconds) and self.clip_seconds > 0):
            raise InputError(f"--clip-seconds must be a positive number, got {self.clip_seconds}")
        if self.lr is not None and not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise InputError(f"--lr must be a positive number up to {MAX_LR:g}, got {self.lr}")
        if self.augment_on not in AUGMENT_ON:
            raise InputError(f"--augment-on must be one of {', '.join(AUGMENT_ON)}, got '{self.augment_on}'")
        if self.devices != "auto" and not (str(self.devices).isdigit() and int(self.devices) >= 1):
            raise InputError(f"--devices must be 'auto' or a number >= 1, got '{self.devices}'")
        if self.accelerator not in ACCELERATORS:
            raise InputError(
                f"--accelerator must be one of {', '.join(ACCELERATORS)}, got '{self.accelerator}'"
            )
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.channels not in (1, 2):
            raise InputError(
                f"--channels must be 1 (mono WavJEPA) or 2 (binaural WavJEPA-Nat), got {self.channels}"
            )
        if not isinstance(self.model_overrides, dict):
            raise InputError(f"model_overrides must be a mapping, got {self.model_overrides!r}")
        self.augment_config(crop_samples=1)  # the augmentation's own checks (clean ratio, SNR, channels)
        if self.mix_target == "retention" and self.mix_prob == 0:
            raise InputError("--mix-target retention needs --mix-prob > 0 (there are no mixtures to retain)")
        self.mix_config()  # its own checks (probability, sources, TIR, target)
        self._check_recipe()

    def _check_recipe(self) -> None:
        for name, allowed in (
            ("loss", ("mse", "l1")),
            ("teacher_input", ("same", "dry")),
            ("objective", ("jepa", "reconstruct")),
        ):
            if getattr(self, name) not in allowed:
                flag = f"--{name.replace('_', '-')}"
                raise InputError(f"{flag} must be one of {', '.join(allowed)}, got '{getattr(self, name)}'")
        if self.teacher != "ema" and not (self.teacher.startswith("frozen:") and self.teacher_source.strip()):
            raise InputError(f"--teacher must be 'ema' or 'frozen:SRC' (a model file), got '{self.teacher}'")
        if self.objective == "reconstruct" and self.teacher != "ema":
            raise InputError(
                "--objective reconstruct trains on log-mel targets (SALT's stage 1): it takes no "
                f"--teacher {self.teacher}"
            )

    @property
    def teacher_source(self) -> str:
        """SRC of --teacher frozen:SRC ('' for the EMA teacher)."""
        return self.teacher.partition(":")[2] if self.teacher.startswith("frozen:") else ""

    def recipe(self):
        from wavjepa_nat.nat_model.jepa import Recipe

        kind = "frozen" if self.teacher_source else "ema"
        return Recipe(self.objective, kind, self.teacher_input, self.loss)

    def _check_types(self) -> None:
        """Each option has its field's type (a YAML file can hold anything): one line naming the option."""
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value, kind = getattr(self, f.name), hints[f.name]
            optional = _is_optional(kind)
            if value is None and optional:
                continue
            kind = next(k for k in typing.get_args(kind) if k is not type(None)) if optional else kind
            base = typing.get_origin(kind) or kind
            if base is str and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # devices: 2, precision: 32 in YAML
                setattr(self, f.name, value)
            if isinstance(value, str) and base in (float, tuple):  # YAML 1.1 reads 1e-3 and "5..40" as text
                flag = f"--{f.name.replace('_', '-')}"
                value = parse_interval(value, flag) if base is tuple else _float(value, flag)
                setattr(self, f.name, value)
            if not _has_type(value, base):
                flag = f"--{f.name.replace('_', '-')} ({f.name})" if f.metadata.get("cli", True) else f.name
                raise InputError(f"{flag} must be {_TYPE_WORDS.get(base, base.__name__)}, got {value!r}")

    @classmethod
    def from_sources(cls, yaml_path: str | None, flags: dict) -> TrainConfig:
        """Defaults <- YAML file <- flags that were given (not None)."""
        values = {}
        if yaml_path:
            path = Path(yaml_path)
            if not path.is_file():
                raise InputError(f"--config file not found: {path}")
            try:
                loaded = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as err:
                raise InputError(f"--config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
            if not isinstance(loaded, dict):
                raise InputError(f"--config {path} must hold a mapping of option: value")
            if isinstance(loaded.get("train"), dict) and set(map(str, loaded)) <= WRITTEN_SECTIONS:
                loaded = loaded["train"]  # the config.yaml a run writes: its train options start a new run
            values.update(loaded)
        values.update({k: v for k, v in flags.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(values) - known))  # YAML keys can be numbers
        if unknown:
            raise InputError(f"unknown training option(s): {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as err:  # e.g. a YAML string where a number belongs
            raise InputError(f"training options: {err}") from None

    def model_config(self):
        from wavjepa_nat.nat_model.config import BINAURAL_LAYOUTS, get_preset

        overrides = dict(BINAURAL_LAYOUTS[self.layout]) if self.layout else {}
        overrides.update(self.model_overrides)
        overrides.update({k: v for k, v in (("lr", self.lr), ("ear_norm", self.ear_norm)) if v is not None})
        model_cfg = get_preset(
            self.preset,
            channels=self.channels,
            grad_checkpointing=self.grad_checkpointing,
            compile=self.compile,
            **overrides,
        )
        # Short runs: keep the reference's schedule shapes but fit them into max_steps (one replace: the
        # config validates warmup <= total on construction).
        fit = {}
        if "total_steps" not in overrides:
            fit["total_steps"] = self.max_steps
        if "warmup_steps" not in overrides:
            fit["warmup_steps"] = min(model_cfg.warmup_steps, max(1, self.max_steps // 10))
        if "ema_ramp_steps" not in overrides:
            fit["ema_ramp_steps"] = min(model_cfg.ema_ramp_steps, self.max_steps)
        return dataclasses.replace(model_cfg, **fit)

    def clip_config(self, fs: int):
        from wavjepa_nat.data.clips import ClipConfig

        return ClipConfig(fs=fs, clip_seconds=self.clip_seconds)

    def mix_config(self) -> MixConfig:
        target = self.mix_target or ("retention" if self.mix_prob > 0 else "mixture")
        return MixConfig(self.mix_prob, tuple(self.mix_sources), tuple(self.mix_tir), target)

    def augment_config(self, crop_samples: int) -> AugmentConfig:
        return AugmentConfig(
            clean_ratio=self.clean_ratio,
            snr_db=self.snr,
            channels=self.channels,
            n_crops=self.n_crops,
            crop_samples=crop_samples,
            seed=self.seed,
            **noise_options(self.noise),
        )
