#!/usr/bin/env bash
# The main job on an embedded default: a small ListOps run on generated data with the reference
# Transformer on CPU. Extra arguments are passed to lra-run (e.g. --preset code).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/ensure_venv.sh"
cd "$root"
exec "$root/.venv/bin/lra-run" --plugin torch/transformer --task listops --preset smoke "$@"
