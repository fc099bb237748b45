"""Ctrl-C and a scheduler's SIGTERM during every long-running command, each in its own process (issue 23):
exit 130 or 143, one `stopped:` line, nothing half-written under an output's final name, no temporary file
or lock left, and a rerun resumes where the command resumes.

The signal is sent by the process to itself at a chosen point of the work (the N-th call of a function),
so each run stops at the same place every time. The processes are forked from one that imported the CLI,
so that they share its start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _cli import run_main
from _cli_inputs import make_inputs

# One process imports the CLI once and forks a process per case (each then pays no start-up): the case's
# stdout and stderr go to files in its folder, SIGNAL arrives at the COUNT-th call of MODULE:FUNCTION (before
# the call), and the exit status is what the case's process reports (killed by a signal: minus the signal).
FORK_CASES = """
import importlib, json, os, signal, sys, traceback
import h5py, lightning, sklearn, soundfile, torch
from wavjepa_nat.cli import main

def run(signame, target, count, argv, folder):
    for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
        os.dup2(os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    module_name, name = target.split(":")
    module, calls = importlib.import_module(module_name), []
    real = getattr(module, name)

    def stop_then_call(*args, **kwargs):
        calls.append(1)
        if len(calls) == count:
            os.kill(os.getpid(), getattr(signal, signame))
        return real(*args, **kwargs)

    setattr(module, name, stop_then_call)
    sys.argv = ["wavjepa-nat", *argv]
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

running = {}
for case, args in json.loads(sys.argv[1]).items():
    pid = os.fork()
    if pid == 0:
        run(*args)
    running[pid] = case
status = {}
while running:
    pid, code = os.wait()
    status[running.pop(pid)] = os.waitstatus_to_exitcode(code)
print(json.dumps(status))
"""

COMMIT = "wavjepa_nat.files:commit"  # a finished file about to take its final name
# case -> (signal, where it arrives, its count, command line, output that must not exist, resumes)
CASES = {
    "simulate-rirs SIGTERM": (
        "SIGTERM", COMMIT, 2,  # the run's stamp, then the first part file
        "simulate-rirs --out {out}/bank.h5 --n-scenes 10 --workers 1 --noise-bed-seconds 0.5 "
        "--noise-sources 0..0 --quiet",
        "bank.h5", True,
    ),
    "train SIGINT": (
        "SIGINT", COMMIT, 3,  # config.yaml, the checkpoint of step 1, then that of step 2
        "train --data {corpus} --bank {bank} --out {out}/run --preset tiny --channels 1 --n-crops 2 "
        "--batch-clips 1 --clip-seconds 2.5 --num-workers 0 --max-steps 3 --ckpt-every 1",
        "run/last.ckpt", True,
    ),
    "nat-hear SIGINT": (
        "SIGINT", COMMIT, 3,  # the recipe, the first clip, then the second
        "nat-hear --task-dir {hear} --bank {bank} --out {out}/copy --snr none",
        "copy/task_metadata.json", True,
    ),
    "robustness SIGTERM": (
        "SIGTERM", COMMIT, 1,  # the first file of the report
        "robustness --model {root}/mono.safetensors --task {root}/task --bank {bank} --out {out}/sweep "
        "--snr 10 --rt60 none",
        "sweep/report.md", False,
    ),
    "render SIGINT": (
        "SIGINT", COMMIT, 1, "render --bank {bank} --input {wav} --out {out}/r.wav", "r.wav", False
    ),
    "make-corpus SIGINT": (
        "SIGINT", "soundfile:write", 2,  # the second clip
        "make-corpus --out {out}/corpus --n-per-class 3 --seconds 0.2 --no-speech", "corpus", False,
    ),
    "embed SIGTERM": (
        "SIGTERM", COMMIT, 1,
        "embed --model {root}/mono.safetensors --input {wav} --out {out}/e.h5", "e.h5", False,
    ),
}  # fmt: skip
EXIT = {"SIGINT": 130, "SIGTERM": 143}


@pytest.fixture(scope="module")
def stopped(tmp_path_factory, corpus_and_bank):
    """case -> (its folder, its command line, exit status, stderr): every case run at once, each in its
    own process."""
    inputs = make_inputs(tmp_path_factory.mktemp("inputs"), *corpus_and_bank)
    cases = {}
    for case, (signame, target, count, argv, _, _) in CASES.items():
        out = tmp_path_factory.mktemp(case.split()[0])
        cases[case] = [signame, target, count, argv.format(**inputs, out=out).split(), str(out)]
    done = subprocess.run(
        [sys.executable, "-c", FORK_CASES, json.dumps(cases)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    results = {}
    for case, (*_, argv, folder) in cases.items():
        out = Path(folder)
        err = (out / "stderr.txt").read_text()
        for name in ("stdout.txt", "stderr.txt"):
            (out / name).unlink()
        results[case] = (out, argv, status[case], err)
    return results


@pytest.mark.parametrize("case", list(CASES))
def test_a_signal_stops_every_long_command_cleanly_and_a_rerun_resumes(stopped, monkeypatch, capsys, case):
    signame, _, _, _, output, resumes = CASES[case]
    out, args, rc, err = stopped[case]
    lines = err.strip().splitlines()
    if case.startswith("train"):  # Lightning's own lines (the hardware it found) come first
        lines = [line for line in lines if not line.startswith(("GPU available", "TPU available"))]
    assert rc == EXIT[signame] and len(lines) == 1 and "Traceback" not in err, (rc, err)
    assert lines[0].startswith("stopped:") and ("SIGTERM" if signame == "SIGTERM" else "Ctrl-C") in lines[0]
    assert not (out / output).exists()
    assert not [p for p in out.rglob("*") if ".tmp" in p.name or p.suffix == ".lock"], list(out.rglob("*"))
    if resumes:
        if case.startswith("train"):
            args = [*args, "--resume"]
        rc, stdout, err = run_main(monkeypatch, capsys, args)
        assert rc == 0 and (out / output).exists(), err
        if case.startswith("nat-hear"):
            assert "1 already complete" in stdout, stdout
