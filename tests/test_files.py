"""Outputs reach the disk whole or not at all (wavjepa_nat.files), a full disk ends any command with one line,
one writer per output, and outputs get the user's umask."""

import errno
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from tests._cli import run_main
from wavjepa_nat import files
from wavjepa_nat.errors import InputError


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _dry_wav(path, fs=16000):
    t = np.arange(fs // 2) / fs
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), fs)
    return path


@pytest.mark.parametrize("where", ["fsync", "write"])
def test_a_full_disk_ends_render_with_one_line_and_no_output(
    ten_scene_bank, tmp_path, monkeypatch, capsys, where
):
    """The disk fills while the wav is written (the write, or the flush to disk): one `error:` line naming
    the file, exit 2, and neither the wav nor a temporary file is left (a short wav opens as valid)."""
    dry = _dry_wav(tmp_path / "dry.wav")
    out = tmp_path / "out" / "scene.wav"
    if where == "fsync":
        monkeypatch.setattr(files, "_fsync", _no_space)
    else:
        monkeypatch.setattr(sf, "write", _no_space)
    rc, _, err = run_main(
        monkeypatch, capsys, ["render", "--bank", ten_scene_bank, "--input", dry, "--out", out]
    )
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert str(out) in err and "no space left" in err
    assert not out.exists() and not list(out.parent.glob("*.tmp"))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_read_only_or_forbidden_disk_ends_make_corpus_with_one_line(tmp_path, monkeypatch, capsys, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(sf, "write", refuse)
    out = tmp_path / "corpus"
    rc, _, err = run_main(
        monkeypatch,
        capsys,
        ["make-corpus", "--out", out, "--n-per-class", 3, "--seconds", 0.2, "--no-speech"],
    )
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".corpus")]


def test_the_second_writer_of_an_output_is_refused_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    with files.exclusive_lock(out):
        with pytest.raises(InputError, match="being written by another process"):
            with files.exclusive_lock(out):
                pass
    with files.exclusive_lock(out):  # released: the next run gets it
        pass
    assert not out.exists()


def test_outputs_get_the_users_umask(tmp_path):
    """safetensors and mkdtemp create private files (0600 / 0700); outputs are ordinary files of the user."""
    import torch
    from safetensors.torch import save_file

    from wavjepa_nat.data.corpus import CorpusConfig, make_corpus

    old = os.umask(0o022)
    try:
        with files.atomic_path(tmp_path / "w.safetensors") as tmp:
            save_file({"a": torch.zeros(2)}, str(tmp))
        make_corpus(tmp_path / "corpus", CorpusConfig(n_per_class=3, seconds=0.2, speech=False))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "w.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "corpus").stat().st_mode) == 0o755


@pytest.mark.parametrize("command", ["simulate-rirs", "embed"])
def test_a_full_disk_ends_other_commands_with_one_line(tmp_path, monkeypatch, capsys, command):
    from tests._fake_encoder import export_tiny

    if command == "simulate-rirs":
        out = tmp_path / "bank.h5"
        argv = ["simulate-rirs", "--out", out, "--n-scenes", 2, "--workers", 1, "--noise-bed-seconds", 0.5,
                "--noise-sources", "0..0", "--quiet"]  # fmt: skip
    else:
        export_tiny(tmp_path / "m.safetensors", channels=1)
        out = tmp_path / "e.h5"
        argv = [
            "embed",
            "--model",
            tmp_path / "m.safetensors",
            "--input",
            _dry_wav(tmp_path / "a.wav"),
            "--out",
            out,
        ]
    monkeypatch.setattr(files, "_fsync", _no_space)  # the disk is full when the output is flushed
    rc, _, err = run_main(monkeypatch, capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "no space left" in err, err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
