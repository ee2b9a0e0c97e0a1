#!/usr/bin/env bash
# Create (or reuse) the virtual environment at .venv/ and install the project with the given
# extras. Safe to run repeatedly: a stamp keyed on pyproject.toml and the extras skips a
# reinstall when nothing changed. Usage: scripts/bootstrap.sh [extra,extra,...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-}"
python="${GENIE_PYTHON:-$(command -v python3.11 || command -v python3)}"

# MuJoCo renders offscreen through EGL (software Mesa on machines without a GPU).
if [[ ",$extras," == *",data,"* ]] && ! ldconfig -p | grep -q "libEGL_mesa.so.0"; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[bootstrap] installing EGL/Mesa libraries for MuJoCo rendering (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 >/dev/null
    else
        echo "[bootstrap] warning: MuJoCo rendering needs libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri (apt)" >&2
    fi
fi

if [ ! -x .venv/bin/python ]; then
    echo "[bootstrap] creating .venv with $python"
    "$python" -m venv .venv
fi

key="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)-${extras//,/_}"
stamp=".venv/.genie-installed-$key"
if [ ! -f "$stamp" ]; then
    spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    echo "[bootstrap] installing $spec into .venv (first run takes a few minutes)"
    # DS_BUILD_OPS=0: DeepSpeed builds its ops lazily (JIT) instead of at install time.
    # The machine's pip config lists local mirrors that warn when a package is not in them.
    DS_BUILD_OPS=0 .venv/bin/python -m pip install --disable-pip-version-check -q -e "$spec" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
    touch "$stamp"
fi
