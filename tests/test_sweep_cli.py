"""`wavjepa-nat robustness`: bad input gives a one-line error, exit code 2 and no traceback.

A few cases run the installed `wavjepa-nat` in a subprocess (the real entry point, ~1-3 s each); the
rest call the same `main()` in this process.
"""

import numpy as np
import pytest
import soundfile as sf
from _cli import run_main
from _fake_encoder import cli, export_tiny
from _sweep_bank import simulate_sweep_bank


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    simulate_sweep_bank(root / "bank.h5", noise_bed_seconds=0.5)
    export_tiny(root / "mono.safetensors", channels=1)
    for label, n in (("dog", 3), ("cat", 3)):
        (root / "two" / label).mkdir(parents=True)
        if label == "dog":
            (root / "one" / label).mkdir(parents=True)
        for i in range(n):
            x = np.random.default_rng(i).standard_normal(8000) * 0.1
            sf.write(root / "two" / label / f"{i}.wav", x, 16000)
            if label == "dog":
                sf.write(root / "one" / label / f"{i}.wav", x, 16000)
    return root


def _argv(files, extra):
    args = {
        "--model": files / "mono.safetensors",
        "--task": files / "two",
        "--bank": files / "bank.h5",
        "--out": files / "out",
    }
    for k in extra:
        args.pop(k, None)
    return ["robustness"] + [str(a) for kv in args.items() for a in kv] + [str(a) for a in extra]


def _check(files, rc, out, err, expect):
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("error:") and expect in lines[0], lines[0]
    assert not (files / "out").exists()


@pytest.mark.parametrize(
    "extra,expect",
    [
        (("--snr", "20..-5"), "LO > HI"),
        (("--model", "nope.ckpt"), "checkpoint not found"),
        (("--task", "one"), "1 class ('dog')"),
    ],
)
def test_installed_cli_errors(files, extra, expect):
    extra = [files / e if e in ("nope.ckpt", "one") else e for e in extra]
    _check(files, *cli(*_argv(files, extra)), expect)


@pytest.mark.parametrize(
    "extra,expect",
    [
        (("--snr", "abc"), "--snr: 'abc' is not a number"),
        (("--snr", "0..10:0"), "step must be positive"),
        (("--rt60", "1.6..0.2"), "LO > HI"),
        (("--rt60", "x..1"), "not a number"),
        (("--rt60", "0.5"), "one value"),
        (("--rt60", "2.0..3.0"), "RT60 bin 2-3 s: no test-split BRIRs"),
        (("--probe-train", "sometimes"), "--probe-train"),
        (("--snr", "0..20:0.001"), "gives 20,001 values; at most 200"),  # it would run for ever
        (("--rt60", "0.2..1.5:1e-9"), "values; at most 200"),
        (("--out", "two"), "is one of the inputs"),  # the report written into the task folder
    ],
)
def test_errors(files, monkeypatch, capsys, extra, expect):
    extra = [files / e if e == "two" else e for e in extra]
    _check(files, *run_main(monkeypatch, capsys, _argv(files, extra)), expect)


def test_a_second_sweep_into_the_same_out_is_refused(files, monkeypatch, capsys):
    from wavjepa_nat.files import exclusive_lock

    with exclusive_lock(files / "out"):  # as a sweep running now in another process holds it
        rc, out, err = run_main(monkeypatch, capsys, _argv(files, []))
    _check(files, rc, out, err, "is being written by another process")


def test_ctrl_c_in_the_mlp_probe_stops_the_sweep_with_130_and_no_report(files, monkeypatch, capsys):
    """scikit-learn's MLP fit catches KeyboardInterrupt and returns a half-trained model; the sweep must stop
    (exit 130, one line) and write no report. The Ctrl-C arrives inside the real MLP fit."""
    import os
    import signal

    from sklearn.neural_network import MLPRegressor

    from wavjepa_nat.robustness import sweep
    from wavjepa_nat.robustness.metrics.direction import DirectionProbe

    real = MLPRegressor._update_no_improvement_count

    def interrupted(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the user's Ctrl-C, during an iteration
        return real(self, *args, **kwargs)

    def classify_with_a_direction_probe(self, progress):
        rng = np.random.default_rng(0)
        DirectionProbe("mlp").fit(rng.standard_normal((40, 4)), rng.uniform(-90, 90, 40))
        raise AssertionError("the interrupted fit carried on")

    monkeypatch.setattr(MLPRegressor, "_update_no_improvement_count", interrupted)
    monkeypatch.setattr(sweep.ClassificationPass, "run", classify_with_a_direction_probe)
    rc, _, err = run_main(monkeypatch, capsys, _argv(files, []))
    assert rc == 130 and err.strip().splitlines()[-1:] == ["stopped: interrupted (Ctrl-C)"], (rc, err, _)
    assert not (files / "out" / "report.md").exists() and not (files / "out" / "results.json").exists()
