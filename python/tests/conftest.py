"""Shared fixtures: the repository's paths, the `stein` binary (for agreement with the command
line, bit for bit on the same device) and small inputs."""

import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import stein

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def python_handles_ctrl_c():
    """Python's own Ctrl-C handler for the session. The Ctrl-C tests send SIGINT to this
    process; a shell starts background jobs (`scripts/test.sh &`) with SIGINT ignored, Python
    then leaves it ignored, and those tests' 10^8-step runs would go on for hours."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def stein_binary() -> Path:
    """The `stein` binary of this checkout (`cargo test --release` or `cargo build --release`;
    scripts/test-python.sh builds it as `cargo test` does). STEIN_BIN overrides."""
    env = os.environ.get("STEIN_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "stein"


@pytest.fixture(scope="session")
def cli():
    """Runs `stein ARGS...`; fails with stderr when it fails."""
    exe = stein_binary()
    assert exe.is_file(), f"{exe} is missing; run `cargo build --release` first (or set STEIN_BIN)"

    def run(*args: str) -> str:
        r = subprocess.run([str(exe), "--quiet", *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, f"stein {' '.join(map(str, args))}: {r.stderr}"
        return r.stdout

    return run


@pytest.fixture(scope="session")
def device():
    return stein.default_device()


@pytest.fixture
def x50():
    return np.random.default_rng(0).normal(size=(50, 2))


GAUSS = {"kind": "gaussian", "mean": [0.5, -1.0], "cov": [[1.0, 0.3], [0.3, 0.5]]}


def gauss_score(x):
    """∇ log N(mean, cov) at the rows of x, in NumPy."""
    mean = np.array(GAUSS["mean"])
    prec = np.linalg.inv(np.array(GAUSS["cov"]))
    return -(x - mean) @ prec
