"""`train --teacher frozen:SRC`: load the teacher once, check it against the run, and name its origin.

A frozen teacher is any model nat_model.weights.load_model loads (our .ckpt / .safetensors, the published
reference weights). It may differ from the student in width, depth and channels (nat_model/targets.py maps
its tokens onto the student's), but not in sample rate or frame grid (hop and receptive field): its
targets would not line up with the student's frames, and realigning them is not a trivial operation, so
such a teacher is refused. Its origin (path, sha256) goes into every checkpoint; a resumed run must use the
same teacher file, and a run started with one kind of teacher resumes only with that kind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from wavjepa_nat.errors import InputError
from wavjepa_nat.nat_model.config import ModelConfig
from wavjepa_nat.nat_model.encoder import Encoder, receptive_field
from wavjepa_nat.nat_model.targets import FrozenTeacher


def file_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder (a Hugging Face folder): of its files' names and contents in order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode() + b"\0")
        with open(f, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def load_teacher(src: str, model_cfg: ModelConfig) -> FrozenTeacher:
    """The frozen teacher of `--teacher frozen:SRC` for a student of model_cfg; InputError (one line) when
    it does not load or cannot teach this student."""
    from wavjepa_nat.nat_model.weights.export import load_model

    flag = f"--teacher frozen:{src}"
    path = Path(src).expanduser()
    if not path.exists():
        raise InputError(f"{flag}: not found")
    try:
        encoder = load_model(path)
    except InputError as err:
        raise InputError(f"{flag}: {err}") from None
    except Exception as err:  # noqa: BLE001 - any reader's failure is the same fact: it does not load
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise InputError(f"{flag}: does not load as a model ({first})") from None
    if not isinstance(encoder, Encoder):
        raise InputError(f"{flag}: not a WavJEPA encoder")
    cfg = encoder.config
    if int(cfg.fs) != int(model_cfg.fs):
        raise InputError(
            f"{flag}: the teacher is at {cfg.fs} Hz but the data and the student at {model_cfg.fs} Hz"
        )
    grid, student_grid = _frame_grid(cfg), _frame_grid(model_cfg)
    if grid != student_grid:
        raise InputError(
            f"{flag}: its frame grid (hop {grid[0]}, receptive field {grid[1]} samples) differs from the "
            f"student's (hop {student_grid[0]}, receptive field {student_grid[1]}): its targets would not "
            "line up with the student's frames"
        )
    origin = {
        "path": os.path.realpath(path),
        "sha256": file_sha256(path),
        "source": getattr(encoder, "source", None) or {},
        "channels": int(encoder.channels),
        "embed_dim": int(encoder.embed_dim),
        "depth": int(cfg.depth),
    }
    return FrozenTeacher(encoder, origin)


def _frame_grid(cfg: ModelConfig) -> tuple[int, int]:
    return int(cfg.hop_samples), int(receptive_field(cfg.conv_spec))


def check_resumed_teacher(saved_train: dict, saved_teacher: dict | None, teacher: str, out: Path) -> None:
    """A resumed run keeps its kind of teacher (runs from before --teacher had the EMA teacher) and its very
    teacher file (by sha256, before the teacher is loaded)."""
    before = str(saved_train.get("teacher", "ema"))
    was_frozen, is_frozen = before.startswith("frozen:"), teacher.startswith("frozen:")
    if was_frozen != is_frozen:
        raise InputError(
            f"--resume: the run in {out} was trained with --teacher {before}; it cannot continue with "
            f"--teacher {teacher}"
        )
    if not is_frozen or not saved_teacher or not saved_teacher.get("sha256"):
        return
    path = Path(teacher.partition(":")[2]).expanduser()
    sha = file_sha256(path) if path.exists() else ""
    if sha != saved_teacher["sha256"]:
        raise InputError(
            f"--resume: the run in {out} was trained against the teacher {saved_teacher.get('path')} "
            f"(sha256 {str(saved_teacher['sha256'])[:12]}); {path} is another file"
            + (f" (sha256 {sha[:12]})" if sha else " (not found)")
        )
