"""φ, the median bandwidth, KSD² and MMD² against NumPy f64 references of algorithms.md §1 and
§4, on built-in targets and on NumPy score functions; devices and adapters."""

import numpy as np
import pytest

import stein
from conftest import GAUSS, gauss_score


def ref_h(x):
    x = np.asarray(x, np.float64)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    med = np.median(d2)
    return med / np.log(len(x) + 1) if med > 0 else 1.0


def ref_phi(x, s, h):
    x = np.asarray(x, np.float64)
    r = x[None, :, :] - x[:, None, :]  # r[j, i] = x_i − x_j
    k = np.exp(-(r**2).sum(-1) / h)  # k[j, i]
    return (k.T @ s + (2 / h) * (k[:, :, None] * r).sum(0)) / len(x)


def ref_ksd(x, s, h):
    x = np.asarray(x, np.float64)
    n, d = x.shape
    r = x[:, None, :] - x[None, :, :]  # x_i − x_j
    r2 = (r**2).sum(-1)
    k = np.exp(-r2 / h)
    u = k * (s @ s.T)
    u += (2 / h) * k * np.einsum("ia,ija->ij", s, r)
    u -= (2 / h) * k * np.einsum("ja,ija->ij", s, r)
    u += k * (2 * d / h - 4 * r2 / h**2)
    return u.sum() / n**2, (u.sum() - np.trace(u)) / (n * (n - 1))


def ref_mmd2(x, y):
    z = np.concatenate([x, y]).astype(np.float64)
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    h = np.median(d2)
    k = np.exp(-d2 / h)
    n, m = len(x), len(y)
    kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * kxy.mean()
    )


def test_adapters_and_devices():
    a = stein.adapters()
    assert a and all({"name", "backend", "device_type", "compute"} <= set(x) for x in a)
    dev = stein.Device()
    assert dev.name and dev.backend in {"vulkan", "metal", "dx12", "gl"} and dev.label
    assert stein.default_device() is stein.default_device()
    with pytest.raises(ValueError, match="unknown backend"):
        stein.Device(backend="nope")
    with pytest.raises(ValueError, match="no compute-capable adapter matches"):
        stein.Device(adapter="no such adapter anywhere")


def test_pipelines_are_built_once_per_device(x50):
    dev = stein.Device()
    stein.phi(x50, GAUSS, device=dev)
    built = dev.pipelines_built
    assert built > 0
    stein.phi(x50 + 1, GAUSS, device=dev)
    stein.phi(x50, gauss_score, device=dev)
    assert dev.pipelines_built == built


@pytest.mark.parametrize("n,d", [(1, 1), (2, 3), (7, 2), (65, 5)])
def test_phi_matches_the_f64_reference(n, d):
    rng = np.random.default_rng(n * 10 + d)
    x = rng.normal(size=(n, d))
    score = lambda z: -z  # N(0, I)
    p, h = stein.phi(x, score, return_h=True)
    assert p.shape == (n, d) and p.dtype == np.float32
    assert h == pytest.approx(ref_h(x), rel=1e-5)
    assert np.allclose(p, ref_phi(x, -x, h), atol=1e-5, rtol=1e-4)
    # A fixed bandwidth.
    p2 = stein.phi(x, score, 0.7)
    assert np.allclose(p2, ref_phi(x, -x, 0.7), atol=1e-5, rtol=1e-4)


def test_callable_score_agrees_with_the_built_in_target(x50):
    # Same score to f32 rounding: φ agrees closely (the built-in evaluates it on the device).
    a = stein.phi(x50, GAUSS)
    b = stein.phi(x50, gauss_score)
    assert np.allclose(a, b, atol=1e-5)
    ka, kb = stein.ksd(x50, GAUSS), stein.ksd(x50, gauss_score)
    assert ka.ksd2_u == pytest.approx(kb.ksd2_u, abs=1e-5)


def test_inputs_in_float32_float64_and_any_layout(x50):
    ref = stein.phi(x50.astype(np.float32), GAUSS)
    assert np.array_equal(stein.phi(x50, GAUSS), ref)  # float64 converted once
    f = np.asfortranarray(x50)
    assert np.array_equal(stein.phi(f, GAUSS), ref)
    wide = np.zeros((50, 4))
    wide[:, ::2] = x50
    assert np.array_equal(stein.phi(wide[:, ::2], GAUSS), ref)  # a strided view
    assert np.array_equal(stein.phi(x50.tolist(), GAUSS), ref)  # a list


def test_median_bandwidth_is_exact():
    rng = np.random.default_rng(3)
    for n, d in [(1, 2), (2, 1), (10, 3), (129, 2)]:
        x = rng.normal(size=(n, d))
        assert stein.median_bandwidth(x) == pytest.approx(ref_h(x), rel=1e-5)
    assert stein.median_bandwidth(np.ones((4, 2))) == 1.0


def test_ksd_matches_the_f64_reference():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3))
    r = stein.ksd(x, lambda z: -z)
    v, u = ref_ksd(x, -x, r.h)
    assert r.h == pytest.approx(ref_h(x), rel=1e-5)
    assert r.ksd2_v == pytest.approx(v, abs=1e-5)
    assert r.ksd2_u == pytest.approx(u, abs=1e-5)
    r2 = stein.ksd(x, lambda z: -z, h=2.0)
    assert r2.h == 2.0 and r2.ksd2_v == pytest.approx(ref_ksd(x, -x, 2.0)[0], abs=1e-5)


def test_mmd2_matches_the_f64_reference():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(30, 2)), rng.normal(loc=0.5, size=(20, 2))
    assert stein.mmd2(x, y) == pytest.approx(ref_mmd2(x, y), abs=1e-5)
    with pytest.raises(ValueError, match="y has d = 3"):
        stein.mmd2(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="at least 2 rows"):
        stein.mmd2(x, np.zeros((1, 2)))


@pytest.mark.parametrize(
    "x,message",
    [
        (np.zeros(5), "x must be a 2-D array"),
        (np.zeros((0, 2)), "at least one row"),
        (np.zeros((3, 2), dtype=complex), "float32 or float64"),
        (np.array([[0.0, np.nan]]), "non-finite value"),
        (np.array([[1e39, 0.0]]), "non-finite value"),
        ("abc", "float32 or float64"),
        (np.zeros((4, 3)), "x has d = 3 but the target has d = 2"),
    ],
)
def test_bad_particles_name_the_argument(x, message):
    with pytest.raises(ValueError, match=message):
        stein.phi(x, GAUSS)


def test_bad_targets_and_bandwidths(tmp_path, x50):
    with pytest.raises(ValueError, match="cannot read target file"):
        stein.phi(x50, tmp_path / "missing.json")
    with pytest.raises(ValueError, match='missing "kind"'):
        stein.phi(x50, {"mean": [0, 0]})
    with pytest.raises(ValueError, match="target must be a dict"):
        stein.phi(x50, 42)
    with pytest.raises(ValueError, match="neither"):
        stein.phi(x50, GAUSS, "widest")
    with pytest.raises(ValueError, match="positive number|outside what f32"):
        stein.phi(x50, GAUSS, -1.0)
    with pytest.raises(ValueError, match="score-batch applies to targets with data rows"):
        stein.phi(x50, GAUSS, score_batch=3)


def test_a_score_function_s_mistakes(x50):
    with pytest.raises(ValueError, match=r"score\(x\) returned shape \(50, 1\)"):
        stein.phi(x50, lambda x: x[:, :1])
    with pytest.raises(ValueError, match="non-finite|NaN"):
        stein.phi(x50, lambda x: np.full_like(x, np.nan))

    class Boom(Exception):
        pass

    def raises(x):
        raise Boom("from the user's score")

    # The user's own exception comes back as it was raised.
    with pytest.raises(Boom, match="from the user's score"):
        stein.phi(x50, raises)
    with pytest.raises(ValueError, match="float32 or float64"):
        stein.phi(x50, lambda x: np.zeros(x.shape, dtype=complex))
