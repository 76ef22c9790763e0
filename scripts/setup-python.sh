#!/usr/bin/env bash
# Installs what the test suite needs beyond the build (scripts/setup.sh): gmssl, the independent
# Python implementation the 国密 cross-check (crypto/tests/sm_interop.rs) runs, into a virtual
# environment at .venv with the pinned versions of crypto/tests/interop/requirements.txt.
# Sourced by scripts/test; exports CASSIA_PYTHON for the test.

have_gmssl() {
    [ -x .venv/bin/python3 ] && .venv/bin/python3 -c 'import gmssl' 2>/dev/null &&
        cmp -s crypto/tests/interop/requirements.txt .venv/cassia-requirements.txt
}

if ! have_gmssl; then
    echo "setup: installing gmssl into .venv (the 国密 cross-check needs it)..." >&2
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends python3 python3-venv
    fi
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/python3 -m pip install --quiet --disable-pip-version-check \
        -r crypto/tests/interop/requirements.txt
    cp crypto/tests/interop/requirements.txt .venv/cassia-requirements.txt
    have_gmssl || { echo "setup: gmssl is still missing from .venv" >&2; exit 1; }
fi
export CASSIA_PYTHON="$PWD/.venv/bin/python3"
