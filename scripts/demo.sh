#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${1:-demo_out}
mkdir -p "$OUT"
.venv/bin/wavjepa-nat simulate-rirs --out "$OUT/bank.h5" --n-scenes 64 --rt60 0.2..1.5 --workers 2
.venv/bin/wavjepa-nat bank info "$OUT/bank.h5" --plots "$OUT/bank_plots"
.venv/bin/wavjepa-nat bank verify "$OUT/bank.h5"
