"""Running the CLI's main() in-process, as a user's shell would: exit code, stdout, stderr."""

import sys


def run_main(monkeypatch, capsys, argv):
    from wavjepa_nat.cli import main

    monkeypatch.setattr(sys, "argv", ["wavjepa-nat", *map(str, argv)])
    try:
        main()
        rc = 0
    except SystemExit as exc:
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err
