#!/usr/bin/env bash
# Creates the Python tools the tests use, each in its own venv under .venv/ (ignored by git), because their
# pins conflict (PyAirbyte pins duckdb 1.4, fakesnow pins duckdb 2.0). Idempotent: a venv is rebuilt only
# when its requirements file changed. `setup.sh --bench` also sets up the benchmark-only venvs
# (tests/python/bench/requirements-*.txt, e.g. Evidently), which the tests do not need.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
py="${PYTHON:-python3}"
mkdir -p "$root/.venv"
# One set-up at a time (tests and people may start it concurrently).
exec 9>"$root/.venv/.lock"
flock 9
files=("$root"/tests/python/requirements-*.txt)
if [[ "${1:-}" == "--bench" ]]; then files+=("$root"/tests/python/bench/requirements-*.txt); fi
for req in "${files[@]}"; do
  name="$(basename "$req" .txt)"; name="${name#requirements-}"
  venv="$root/.venv/$name"
  stamp="$venv/.requirements.sha256"
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then continue; fi
  echo "setting up Python venv $name ..." >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  echo "$want" > "$stamp"
done
