#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, the benches compile, then every test
# (GPU tests run on the default adapter, lavapipe without a GPU, and FAIL if none opens), then
# the Python package's suite (scripts/test-python.sh).
# The long suite (scripts/test-long.sh: the whole case tables, n = 4099 at every d, φ layout
# and chunking) is not run here: CI starts with an empty Mesa shader cache, and the long
# suite's extra unrolled pipelines (φ at d = 128, the KSD's difference form at d = 100, ...)
# are each tens of seconds of cold shader build on lavapipe, on top of a default suite that
# already takes most of CI's time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all -- --check
fi
# Lints of both crates, the Python binding's included (one invocation, one check of the
# dependencies they share).
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --release --workspace --all-targets --quiet -- -D warnings
fi
cargo bench --no-run --quiet
cargo test --release "$@"
# The Python package (python/): built against the same target directory, tested with pytest.
scripts/test-python.sh
