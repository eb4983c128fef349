"""Energy models: stein.train against `stein train` (the same θ), resume, options, and a
loaded model's energy (against `stein energy`), score (against finite differences),
samples and log-likelihood (against `stein eval`)."""

import json
import os
import signal
import threading

import numpy as np
import pytest

import stein

SMALL = dict(hidden=4, steps=20, log_every=10, checkpoint_every=10, batch=50)


@pytest.fixture(scope="module")
def data3(tmp_path_factory):
    """300 rows in 3-D (at d = 2 a run's end also writes a density plot and samples, seconds
    on lavapipe)."""
    path = tmp_path_factory.mktemp("data") / "d3.npy"
    np.save(path, np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data3):
    out = tmp_path_factory.mktemp("runs") / "py"
    return stein.train(data3, out=out, progress=False, **SMALL)


def test_train_writes_the_run_the_cli_writes(trained, cli, tmp_path, data3):
    assert trained.steps == 20 and trained.total == 20
    assert [m["step"] for m in trained.metrics] == [10, 20]
    assert trained.last == trained.metrics[-1]
    assert trained.config["train"]["hidden"] == 4
    out = tmp_path / "cli"
    cli("train", "--data", data3, "--out", out, "--hidden", 4, "--steps", 20, "--log-every", 10,
        "--checkpoint-every", 10, "--batch", 50)
    a = trained.model()
    b = stein.load(out / "model.safetensors")
    assert np.array_equal(a.theta, b.theta)
    assert a.spec == {"model": "grbm", "d": 3, "hidden": 4}


def test_resume_continues_and_refuses_other_options(trained):
    with pytest.raises(ValueError, match="--lr 0.1 \\(the run has 0.0003\\)"):
        stein.train(resume=trained.out, steps=30, lr=0.1, progress=False)
    run = stein.train(resume=trained.out, steps=30, progress=False)
    assert run.steps == 30 and [m["step"] for m in run.metrics][-1] == 30
    with pytest.raises(ValueError, match="already has 30 updates"):
        stein.train(resume=trained.out, steps=30, progress=False)


def test_train_options_are_checked(tmp_path, data3):
    with pytest.raises(ValueError, match="unknown option `learning_rate`"):
        stein.train("ring8", out=tmp_path / "a", learning_rate=0.1, progress=False)
    with pytest.raises(ValueError, match="did you mean `hidden`"):
        stein.train("ring8", out=tmp_path / "a", hiden=3, progress=False)
    with pytest.raises(ValueError, match="`algo`"):
        stein.train("ring8", out=tmp_path / "a", algo="sgd", progress=False)
    with pytest.raises(ValueError, match="give out=RUN_DIR"):
        stein.train("ring8", progress=False)
    with pytest.raises(ValueError, match="missing.npy"):
        stein.train(tmp_path / "missing.npy", out=tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    # An existing run is refused unless replaced.
    stein.train(data3, out=tmp_path / "b", progress=False, **SMALL)
    with pytest.raises(ValueError, match="overwrite"):
        stein.train(data3, out=tmp_path / "b", progress=False, **SMALL)
    r = stein.train(data3, out=tmp_path / "b", overwrite=True, algo="stein-cd", bandwidth="median",
                    progress=False, **SMALL)
    assert r.config["train"]["algo"] == "stein-cd"


def test_energy_matches_the_cli_and_the_score_its_gradient(trained, cli, tmp_path):
    m = trained.model()
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("energy", "--model", m.path, "--points", tmp_path / "x.npy", "--out", tmp_path / "f.npy")
    f = m.energy(x)
    assert f.shape == (9,) and np.array_equal(f, np.load(tmp_path / "f.npy"))
    s = m.score(x)
    eps = 1e-2
    for a in range(3):
        e = np.zeros(3, np.float32)
        e[a] = eps
        fd = (m.energy(x + e) - m.energy(x - e)) / (2 * eps)
        assert np.allclose(s[:, a], fd, atol=2e-3, rtol=1e-2)
    with pytest.raises(ValueError, match="x has d = 2 but 3 is needed"):
        m.energy(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="units"):
        m.energy(x, units="meters")


def test_samples_and_log_likelihood(trained, cli, tmp_path, data3):
    m = trained.model()
    for method in ["gibbs", "langevin", "svgd"]:
        s = m.sample(16, method=method, steps=5)
        assert s.shape == (16, 3) and np.isfinite(s).all()
    assert np.array_equal(m.sample(8, steps=3, seed=2), m.sample(8, steps=3, seed=2))
    with pytest.raises(ValueError, match="method"):
        m.sample(4, method="hmc")
    printed = json.loads(cli("eval", "--model", m.path, "--data", data3))
    r = m.log_likelihood(data3)
    assert r["method"] == "exact" and r["loglik"] == printed["loglik"]
    x = np.load(data3)
    assert m.log_likelihood(x)["loglik"] == r["loglik"]
    with_samples = m.log_likelihood(x, samples=m.sample(20, steps=5))
    assert with_samples["mmd2"]["n"] == 20
    with pytest.raises(ValueError, match="quadrature evaluation needs d <= 2"):
        m.log_likelihood(x, "quadrature")
    ais = m.log_likelihood(x, "ais", ais_temperatures=50, ais_runs=4, ais_chains=8, progress=False)
    assert ais["method"] == "ais" and abs(ais["loglik"] - r["loglik"]) < 0.5


def test_ctrl_c_stops_training_with_its_checkpoint(tmp_path, data3):
    out = tmp_path / "long"
    t = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.start()
    with pytest.raises(KeyboardInterrupt, match="checkpoint written"):
        stein.train(data3, out=out, hidden=4, steps=10**8, checkpoint_every=10**7, progress=False)
    t.join()
    assert (out / "checkpoint.safetensors").exists()
    done = json.loads((out / "config.json").read_text())["train"]["steps"]
    assert done == 10**8
