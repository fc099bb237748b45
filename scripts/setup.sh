#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine with Python 3.11: system packages, a venv, the project.
# Idempotent: a second run only checks. Used by scripts/demo.sh, scripts/test.sh and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -f /usr/share/libmysofa/MIT_KEMAR_normal_pinna.sofa ] || need_apt+=(libmysofa1)   # real HRTF (KEMAR)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)                       # speech for the corpus
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "warning: cannot install ${need_apt[*]} (not root, no sudo); KEMAR and speech features will be skipped" >&2
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Reinstall when pyproject.toml changes (the stamp holds its hash), so new dependencies arrive.
stamp=.venv/.wavjepa-nat-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import wavjepa_nat, torch, pytest" >/dev/null 2>&1; then
  .venv/bin/pip install -q --upgrade pip
  # The CPU build of torch first, so that no dependency pulls a multi-GB CUDA build.
  .venv/bin/pip install -q "torch==2.13.0"
  .venv/bin/pip install -q -e ".[dev]"
  echo "$want" > "$stamp"
fi
