#!/usr/bin/env bash
# The Python package's suite (python/tests), as CI runs it after the Rust suite: a virtualenv
# in the target directory (made once; git ignores it), maturin, pytest and NumPy from PyPI,
# the extension built with the release profile into the same target directory (so it reuses
# the main crate's compiled dependencies and builds only PyO3 and the binding), its lints,
# then pytest. The suite compares against the `stein` binary, built here if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/py-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin pytest numpy
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --release -p stein-python --quiet -- -D warnings
fi
cargo build --release --quiet --bin stein
VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release --quiet -m python/Cargo.toml
"$venv/bin/python" -m pytest -q python/tests "$@"
