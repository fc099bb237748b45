"""checks.check_not_an_input: no command writes over one of its own inputs (links resolved)."""

import hashlib

import numpy as np
import pytest
import soundfile as sf

from tests._cli import run_main


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("how", ["render same file", "render through a link", "merge into a shard", "export"])
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    ten_scene_bank, tmp_path, monkeypatch, capsys, how
):
    dry = tmp_path / "dry.wav"
    sf.write(dry, 0.1 * np.random.default_rng(0).standard_normal(8000), 16000)
    if how == "render same file":
        victim, argv = dry, ["render", "--bank", ten_scene_bank, "--input", dry, "--out", dry]
    elif how == "render through a link":
        (tmp_path / "link.wav").symlink_to(dry)
        victim, argv = (
            dry,
            ["render", "--bank", ten_scene_bank, "--input", dry, "--out", tmp_path / "link.wav"],
        )
    elif how == "merge into a shard":
        victim, argv = ten_scene_bank, ["bank", "merge", ten_scene_bank, "--out", ten_scene_bank]
    else:
        victim = tmp_path / "run.ckpt"
        victim.write_bytes(b"not really a checkpoint")
        (tmp_path / "model.safetensors").symlink_to(victim)
        argv = ["export", victim, "--out", tmp_path / "model.safetensors"]
    before = _digest(victim)
    rc, _, err = run_main(monkeypatch, capsys, argv)
    assert rc == 2 and err.count("\n") == 1 and "is one of the inputs" in err, err
    assert _digest(victim) == before
