#!/usr/bin/env bash
# Installs what a fresh Debian machine with only the Rust toolchain lacks to build Cassia:
# libclang for RocksDB's bindings (bindgen). Sourced by scripts/devnet and scripts/test.
# Nothing else is needed: .proto files compile without protoc, and RocksDB builds from source.

have_libclang() {
    # bindgen needs the shared library and clang's own headers (stdbool.h).
    ldconfig -p 2>/dev/null | grep -q 'libclang[-.0-9]*\.so' &&
        compgen -G '/usr/lib/llvm-*/lib/clang/*/include/stdbool.h' >/dev/null
}

if ! have_libclang; then
    echo "setup: installing libclang (RocksDB's bindings need it)..." >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # The smallest set that works; fall back to the generic package on other Debian releases.
    $sudo apt-get install -y -qq --no-install-recommends libclang1-14 libclang-common-14-dev ||
        $sudo apt-get install -y -qq --no-install-recommends libclang-dev
    have_libclang || { echo "setup: libclang is still missing; install libclang-dev by hand" >&2; exit 1; }
fi
