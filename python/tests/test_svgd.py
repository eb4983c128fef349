"""SVGD runs: agreement with `stein svgd` bit for bit, the NumPy score against the built-in
target, the callback, the step-level engine, bad input, Ctrl-C and the GIL."""

import json
import os
import signal
import threading

import numpy as np
import pytest

import stein
from conftest import DATA, GAUSS, gauss_score


def write_gauss(tmp_path):
    path = tmp_path / "gauss.json"
    path.write_text(json.dumps(GAUSS))
    return path


@pytest.mark.parametrize("optimizer", ["adagrad", "sgd", "adam"])
def test_svgd_agrees_with_the_cli_bit_for_bit(cli, tmp_path, optimizer):
    target = write_gauss(tmp_path)
    x0 = np.random.default_rng(1).normal(size=(37, 2)).astype(np.float32)
    np.save(tmp_path / "x0.npy", x0)
    out = tmp_path / "out.npy"
    printed = json.loads(
        cli("svgd", "--target", target, "--init", tmp_path / "x0.npy", "--steps", 25,
            "--step-size", 0.05, "--optimizer", optimizer, "--ksd-every", 10, "--out", out)
    )
    r = stein.svgd(target, x0, steps=25, step_size=0.05, optimizer=optimizer, ksd_every=10, progress=False)
    assert np.array_equal(r.particles, np.load(out))
    assert r.h == printed["h"] and r.ksd2_u == printed["ksd2_u"]
    assert [p.ksd2_u for p in r.ksd_trace] == [p["ksd2_u"] for p in printed["ksd_trace"]]
    # The same target as a dict.
    r2 = stein.svgd(GAUSS, x0, steps=25, step_size=0.05, optimizer=optimizer, progress=False)
    assert np.array_equal(r2.particles, r.particles)


def test_drawn_particles_agree_with_the_cli(cli, tmp_path):
    target = write_gauss(tmp_path)
    out = tmp_path / "out.npy"
    cli("svgd", "--target", target, "--n", 20, "--seed", 4, "--steps", 5, "--step-size", 0.1, "--out", out)
    r = stein.svgd(target, 20, seed=4, steps=5, step_size=0.1, progress=False)
    assert np.array_equal(r.particles, np.load(out))


def test_logistic_regression_agrees_with_the_cli(cli, tmp_path):
    target = tmp_path / "logistic.json"
    target.write_text(json.dumps({"kind": "logistic", "data": str(DATA / "breast-cancer.csv"), "label": "label"}))
    out = tmp_path / "out.npy"
    cli("svgd", "--target", target, "--init", "prior", "--n", 16, "--seed", 3, "--steps", 4,
        "--step-size", 0.05, "--score-batch", 50, "--out", out)
    r = stein.svgd(target, 16, init="prior", seed=3, steps=4, step_size=0.05, score_batch=50, progress=False)
    assert r.particles.shape == (16, 32)
    assert np.array_equal(r.particles, np.load(out))


def test_the_numpy_score_follows_the_built_in_target():
    x0 = np.random.default_rng(2).normal(size=(64, 2))
    a = stein.svgd(GAUSS, x0, steps=20, step_size=0.05, progress=False)
    b = stein.svgd(gauss_score, x0, steps=20, step_size=0.05, progress=False)
    # The same model: equal up to f32 rounding of the score (AdaGrad's normalised steps
    # carry it on, so few steps), and after more steps near N(mean, cov).
    assert np.allclose(a.particles, b.particles, atol=1e-4)
    b = stein.svgd(gauss_score, x0, steps=300, step_size=0.05, progress=False)
    assert np.allclose(b.mean, GAUSS["mean"], atol=0.1)
    assert np.allclose(b.cov, GAUSS["cov"], atol=0.15)


def test_callback_sees_the_particles_and_may_stop_the_run():
    x0 = np.random.default_rng(3).normal(size=(10, 2))
    seen = []

    def cb(step, x):
        seen.append((step, x.copy()))
        return step < 6

    r = stein.svgd(lambda x: -x, x0, steps=20, step_size=0.1, callback=cb, callback_every=3, progress=False)
    assert [s for s, _ in seen] == [3, 6]
    assert r.stopped and r.steps == 6 and np.isnan(r.ksd2_u)
    assert np.array_equal(seen[-1][1], r.particles)
    full = stein.svgd(lambda x: -x, x0, steps=20, step_size=0.1, callback=lambda s, x: None,
                      callback_every=7, progress=False)
    assert not full.stopped and full.steps == 20

    class Stop(Exception):
        pass

    def bad(step, x):
        raise Stop("callback")

    with pytest.raises(Stop):
        stein.svgd(lambda x: -x, x0, steps=5, step_size=0.1, callback=bad, progress=False)


def test_the_step_level_engine_is_the_run():
    x0 = np.random.default_rng(4).normal(size=(33, 2))
    r = stein.svgd(GAUSS, x0, steps=12, step_size=0.05, progress=False)
    s = stein.SVGD(GAUSS, x0, step_size=0.05)
    s.step(5).step(7)
    assert s.steps_taken == 12 and (s.n, s.d) == (33, 2)
    assert np.array_equal(s.particles, r.particles)
    assert s.bandwidth() == pytest.approx(stein.median_bandwidth(r.particles))
    assert np.allclose(s.phi(), stein.phi(r.particles, GAUSS), atol=1e-6)
    k = s.ksd()
    assert k.ksd2_u == r.ksd2_u
    s.particles = x0
    assert np.array_equal(s.particles, x0.astype(np.float32))
    with pytest.raises(ValueError, match=r"particles must have shape \(33, 2\)"):
        s.particles = x0[:5]
    h = stein.SVGD(gauss_score, x0, step_size=0.05)
    h.step(12)
    assert np.allclose(h.particles, r.particles, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(steps=0), "steps must be at least 1"),
        (dict(step_size=-1.0), "step-size -1 must be positive"),
        (dict(optimizer="rmsprop"), "optimizer `rmsprop`"),
        (dict(bandwidth="wide"), "neither"),
        (dict(ksd_every=0), "ksd_every must be at least 1"),
        (dict(init="uniform", x0=5), "init `uniform`"),
        (dict(init="prior", x0=5), "prior"),
        (dict(x0=np.zeros((4, 3))), "x0 has d = 3 but the target has d = 2"),
        (dict(x0=np.zeros(4)), "x0 must be a 2-D array"),
    ],
)
def test_bad_runs_are_value_errors(kwargs, message):
    args = dict(x0=np.zeros((4, 2)), steps=3, step_size=0.1, progress=False)
    args.update(kwargs)
    x0 = args.pop("x0")
    with pytest.raises(ValueError, match=message):
        stein.svgd(GAUSS, x0, **args)


def test_a_diverging_run_says_so():
    x0 = np.random.default_rng(5).normal(size=(8, 2))
    with pytest.raises(stein.DivergedError, match="diverged"):
        stein.svgd(lambda x: x**3 * 1e30, x0, steps=30, step_size=1e3, optimizer="sgd", progress=False)


def test_the_score_function_needs_particles():
    with pytest.raises(ValueError, match="x0 must be an array"):
        stein.svgd(lambda x: -x, 10, steps=1, step_size=0.1)


def interrupt_soon(seconds=1.0):
    t = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_stops_a_long_run():
    x0 = np.random.default_rng(6).normal(size=(64, 2))
    t = interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        stein.svgd(GAUSS, x0, steps=10**9, step_size=0.01, progress=False)
    t.join()


def test_ctrl_c_stops_a_long_run_on_a_numpy_score():
    x0 = np.random.default_rng(6).normal(size=(64, 2))
    t = interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        stein.svgd(gauss_score, x0, steps=10**9, step_size=0.01, progress=False)
    t.join()


def test_ctrl_c_stops_the_step_level_engine():
    s = stein.SVGD(GAUSS, np.random.default_rng(7).normal(size=(64, 2)), step_size=0.01)
    t = interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        s.step(10**9)
    t.join()
    assert s.steps_taken > 0  # the engine stays usable after the steps it made
    s.step(1)


def test_the_gil_is_released_while_the_device_works():
    # A run of seconds in a thread; this thread, once the run has started, runs Python. Were
    # the GIL held for the whole run, this thread's line could only come after the run's.
    import time

    x0 = np.random.default_rng(8).normal(size=(512, 2))
    stein.SVGD(GAUSS, x0, step_size=0.01).step(1)  # the pipelines, built
    started, order = threading.Event(), []

    def work():
        started.set()
        stein.svgd(GAUSS, x0, steps=400, step_size=0.01, progress=False)
        order.append("run")

    th = threading.Thread(target=work)
    th.start()
    started.wait()
    time.sleep(0.2)  # the run is on the device by now (it only orders the two lines)
    order.append("python")
    th.join()
    assert order == ["python", "run"]
