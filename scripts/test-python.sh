#!/usr/bin/env bash
# The Python package's suite (python/tests), as CI runs it after the Rust suite: a virtualenv
# in the target directory (made once; git ignores it), maturin, pytest and NumPy from PyPI,
# the extension built with the release profile into the same target directory, then pytest.
# (The binding's lints run in scripts/test.sh, with the main crate's.)
# The suite compares against the `stein` binary. It is built as `cargo test` builds it (for
# the integration tests, with the dev-dependencies' features), so after `cargo test` it is
# already fresh: `cargo build --bin stein` would resolve features without them (naga's
# msl-out, bitflags' std) and compile naga, wgpu and stein again (85 s on CI's 2 cores).
# The extension's own build does that once (maturin builds only the binding's package;
# PyO3's derive macros also take syn with more features).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/py-venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check maturin pytest numpy
cargo test --release --quiet --no-run --test integration
VIRTUAL_ENV="$venv" "$venv/bin/maturin" develop --release --quiet -m python/Cargo.toml
"$venv/bin/python" -m pytest -q python/tests "$@"
