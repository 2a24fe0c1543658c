#!/usr/bin/env bash
# Create (or refresh) .venv with the core and both plugin distributions, pinned by constraints.txt.
# Idempotent: reinstalls only when constraints or a pyproject changed. Source it or run it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LRA_VENV:-$root/.venv}"
stamp="$venv/.lra-install-stamp"
want="$(cat "$root/constraints.txt" "$root/pyproject.toml" "$root/setup.py" "$root/scripts/ensure_venv.sh" "$root"/plugins/*/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing lra-arena, lra-torch, lra-jax into $venv (pinned by constraints.txt)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  "$venv/bin/python" -m pip install -q -c "$root/constraints.txt" \
    -e "$root[test,plot]" -e "$root/plugins/lra-torch" -e "$root/plugins/lra-jax" >&2
  echo "$want" > "$stamp"
fi
