"""Every example in python/examples runs (small settings) and prints its result and time."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_there_are_the_three_examples():
    assert {p.name for p in EXAMPLES} == {"svgd_numpy_score.py", "logistic_breast_cancer.py", "rbm_steincd.py"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(example, tmp_path):
    env = dict(os.environ, STEIN_EXAMPLE_SMALL="1", STEIN_EXAMPLE_OUT=str(tmp_path))
    r = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "time: " in r.stdout
