#!/usr/bin/env bash
# The test command: sets up .venv (pinned) and runs the default (fast) test suite on CPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure_venv.sh"
cd "$root"
exec "$root/.venv/bin/python" -m pytest "$@"
