#!/usr/bin/env bash
# Set up (if needed) and run the main job on the embedded defaults: `wavjepa-nat demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/wavjepa-nat demo --out "${1:-demo_out}"
