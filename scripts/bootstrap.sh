#!/usr/bin/env bash
# Creates .venv inside the repository and installs the pinned Python tools that the tests and
# the demo use (the moto server and cargo-lambda). Safe to run again: it only installs what
# requirements-dev.txt lists and skips the work when nothing changed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.requirements.sha256"
wanted=$(sha256sum "$root/requirements-dev.txt" | cut -d' ' -f1)

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  exit 0
fi

python=${PYTHON:-python3}
if [[ ! -x "$venv/bin/python" ]]; then
  echo "bootstrap: creating $venv" >&2
  "$python" -m venv "$venv"
fi

echo "bootstrap: installing requirements-dev.txt into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/requirements-dev.txt"
echo "$wanted" > "$stamp"
