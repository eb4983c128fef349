"""stein: Stein variational gradient descent (SVGD) and deep energy-based models on any GPU.

The computations run in WGSL compute shaders through wgpu (Vulkan, Metal, DX12; Mesa's
lavapipe on a machine without a GPU); arrays go in and come out as NumPy arrays.

Primitives: :func:`phi`, :func:`median_bandwidth`, :func:`ksd`, :func:`mmd2`.
Runs: :func:`svgd` (a whole run, as ``stein svgd``) and :class:`SVGD` (step by step).
Energy models: :func:`train` (as ``stein train``, with its run directory) and :func:`load`.
Devices: :func:`adapters`, :class:`Device`, :func:`default_device`.

A *target* is a built-in target of the library, as a dict or the path of a JSON file
(``{"kind": "gmm" | "gaussian" | "wgsl" | "logistic" | ...}``, docs/targets.md), or a Python
function ``score(x: ndarray[n, d]) -> ndarray[n, d]`` returning ∇ log p at each row (NumPy,
JAX or PyTorch code; called once per step with the GIL held).

Errors: ``ValueError`` for bad input (the command line's one-line message), ``RuntimeError``
for the device, :class:`DivergedError` when a run's numbers blow up; Ctrl-C stops a long call
after the step in flight with ``KeyboardInterrupt``.
"""

from __future__ import annotations

import difflib
import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple, Union

# Mesa's Vulkan device-select layer probes for a display and prints when there is none;
# stein never presents (the `stein` binary sets the same). Before the first device opens.
os.environ.setdefault("NODEVICE_SELECT", "1")

import numpy as np  # noqa: E402

from . import _stein  # noqa: E402
from ._stein import Device, DivergedError  # noqa: E402

__version__: str = _stein.version()

__all__ = [
    "Device",
    "DivergedError",
    "KsdPoint",
    "KsdResult",
    "Model",
    "Run",
    "SVGD",
    "SvgdResult",
    "adapters",
    "default_device",
    "ksd",
    "load",
    "median_bandwidth",
    "mmd2",
    "phi",
    "svgd",
    "train",
]

_default: Optional[Device] = None
_default_lock = threading.Lock()


def adapters() -> List[Dict[str, Any]]:
    """Every GPU adapter wgpu can see, as dicts (name, backend, device_type, driver,
    driver_info, compute, max_storage_buffer_binding_size, max_buffer_size), as
    ``stein info`` lists them."""
    return _stein.adapters()


def default_device() -> Device:
    """The device calls use when given none: opened on first use (the best adapter, as
    ``stein`` chooses it; ``WGPU_BACKEND`` and ``WGPU_ADAPTER_NAME`` apply) and kept, so
    that its pipelines are built once for the whole session."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Device()
        return _default


def _device(device: Optional[Device]) -> Device:
    if device is None:
        return default_device()
    if not isinstance(device, Device):
        raise ValueError(f"device must be a stein.Device, not {type(device).__name__}")
    return device


ArrayLike = Any
Target = Union[Dict[str, Any], str, "os.PathLike[str]", Callable[[np.ndarray], Any]]


def _matrix(x: ArrayLike, name: str, d: Optional[int] = None) -> np.ndarray:
    """x as a C-contiguous float32 [n, d] array (one conversion), its shape and values
    checked, errors naming the argument."""
    try:
        a = np.asarray(x)
    except Exception as e:  # a ragged list, an object that is no array
        raise ValueError(f"{name} must be an array of shape (n, d): {e}") from None
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold float32 or float64 values, not {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {a.shape}")
    n, dd = a.shape
    if n < 1 or dd < 1:
        raise ValueError(f"{name} must have at least one row and one column; got shape {a.shape}")
    if d is not None and dd != d:
        raise ValueError(f"{name} has d = {dd} but {d} is needed; give {name} of shape (n, {d})")
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, by position
        a = np.ascontiguousarray(a, dtype=np.float32)
    bad = ~np.isfinite(a)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{name} has a non-finite value ({a[i, j]}) at row {i}, column {j} (after conversion "
            "to float32); give finite values"
        )
    return a


def _array(buf: bytearray, shape: Tuple[int, ...]) -> np.ndarray:
    """A writable float32 view of a bytearray the extension returned (no copy)."""
    return np.frombuffer(buf, dtype=np.float32).reshape(shape)


def _score_adapter(score: Callable[[np.ndarray], Any]) -> Callable[[bytearray, int, int], bytes]:
    """The function the extension calls for a host score: x as an [n, d] float32 array, the
    user's result checked for shape and type and returned as float32 bytes."""

    def call(buf: bytearray, n: int, d: int) -> bytes:
        x = _array(buf, (n, d))
        s = np.asarray(score(x))
        if s.shape != (n, d):
            raise ValueError(
                f"score(x) returned shape {s.shape} for x of shape ({n}, {d}); return ∇ log p "
                "at each row, an array of x's shape"
            )
        if s.dtype.kind not in "fiu":
            raise ValueError(f"score(x) returned {s.dtype} values; return float32 or float64")
        return np.ascontiguousarray(s, dtype=np.float32).tobytes()

    return call


def _target(target: Target) -> Tuple[str, Any]:
    """(kind, value) for the extension: "callable", "json" (a dict or JSON text) or "path"."""
    if callable(target):
        return "callable", _score_adapter(target)
    if isinstance(target, dict):
        try:
            return "json", json.dumps(target)
        except (TypeError, ValueError) as e:
            raise ValueError(f"target: the dict is not JSON ({e}); use numbers, lists and strings") from None
    if isinstance(target, str) and target.lstrip().startswith("{"):
        return "json", target
    if isinstance(target, (str, os.PathLike)):
        return "path", os.fspath(target)
    raise ValueError(
        f"target must be a dict, the path of a JSON target file, or a function score(x) -> ∇ log p; "
        f"got {type(target).__name__}"
    )


def _bandwidth(h: Union[str, float]) -> Union[str, float]:
    if isinstance(h, str):
        return h
    if isinstance(h, (int, float, np.floating, np.integer)) and not isinstance(h, bool):
        return float(h)
    raise ValueError(f"h must be \"median\", \"median-sampled\" or a positive number, not {h!r}")


class _Bar:
    """The library's progress reports as a tqdm bar (made at the first report)."""

    def __init__(self, tqdm: Any, desc: str, unit: str) -> None:
        self._tqdm, self._desc, self._unit = tqdm, desc, unit
        self._bar: Any = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = self._tqdm(total=total, desc=self._desc, unit=self._unit, leave=False)
        if self._bar.total != total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def status(self, line: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(line, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _bar(progress: bool, desc: str, unit: str) -> Optional[_Bar]:
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return _Bar(tqdm, desc, unit)


def _count(v: Any, name: str, least: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, not {v!r}")
    if v < least:
        raise ValueError(f"{name} must be at least {least}; got {v}")
    return int(v)


def _number(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, not {v!r}")
    return float(v)


# --- primitives -------------------------------------------------------------------------


def phi(
    x: ArrayLike,
    score: Target,
    h: Union[str, float] = "median",
    *,
    score_batch: Optional[int] = None,
    return_h: bool = False,
    device: Optional[Device] = None,
) -> Union[np.ndarray, Tuple[np.ndarray, float]]:
    """The Stein direction φ at the particles ``x`` [n, d] under ``score``:

    φ(x_i) = (1/n) Σ_j [k(x_j, x_i) ∇log p(x_j) + ∇_{x_j} k(x_j, x_i)],
    k(x, y) = exp(−‖x − y‖²/h),

    with h = med / log(n + 1) for ``h="median"`` (med: the exact median of all n² squared
    distances), ``"median-sampled"`` (med from 2²⁰ sampled pairs) or a given number.
    ``score`` is a target (dict or JSON path) or a function ``score(x) -> ∇ log p``.
    Returns φ [n, d] (float32), or (φ, h) with ``return_h=True``. As ``stein phi``.
    """
    dev = _device(device)
    a = _matrix(x, "x")
    kind, value = _target(score)
    buf, hv = _stein.phi(dev, kind, value, a.tobytes(), a.shape[0], a.shape[1], _bandwidth(h), score_batch)
    p = _array(buf, a.shape)
    return (p, hv) if return_h else p


def median_bandwidth(x: ArrayLike, *, device: Optional[Device] = None) -> float:
    """SVGD's median bandwidth of the particles ``x`` [n, d]: h = med / log(n + 1), med the
    exact median of all n² squared distances (diagonal included, the mean of the two middle
    values for an even count); h = 1 when all particles coincide."""
    dev = _device(device)
    a = _matrix(x, "x")
    h, _ = _stein.median_bandwidth(dev, a.tobytes(), a.shape[0], a.shape[1])
    return h


class KsdResult(NamedTuple):
    """KSD² of particles: the U-statistic (NaN for one particle), the V-statistic, and h."""

    ksd2_u: float
    ksd2_v: float
    h: float


def ksd(
    x: ArrayLike,
    score: Target,
    h: Union[str, float] = "median",
    *,
    score_batch: Optional[int] = None,
    device: Optional[Device] = None,
) -> KsdResult:
    """The squared kernel Stein discrepancy of the particles ``x`` [n, d] against ``score``
    (a target or a score function), RBF kernel with bandwidth ``h`` ("median",
    "median-sampled" or a number): the U- and V-statistics and the h used."""
    dev = _device(device)
    a = _matrix(x, "x")
    kind, value = _target(score)
    v, u, hv = _stein.ksd(dev, kind, value, a.tobytes(), a.shape[0], a.shape[1], _bandwidth(h), score_batch)
    return KsdResult(u, v, hv)


def mmd2(x: ArrayLike, y: ArrayLike, h: Optional[float] = None, *, device: Optional[Device] = None) -> float:
    """The unbiased MMD² between samples ``x`` [n, d] and ``y`` [m, d] (n, m >= 2), RBF kernel
    exp(−‖a − b‖²/h) with h the median of the pooled sample's squared distances unless
    given. Can be slightly negative when the samples agree."""
    dev = _device(device)
    a = _matrix(x, "x")
    b = _matrix(y, "y", a.shape[1])
    hv = None if h is None else _number(h, "h")
    v, _ = _stein.mmd2(dev, a.tobytes(), a.shape[0], b.tobytes(), b.shape[0], a.shape[1], hv)
    return v


# --- SVGD runs --------------------------------------------------------------------------


class KsdPoint(NamedTuple):
    """KSD² after ``step`` steps (median bandwidth)."""

    step: int
    ksd2_v: float
    ksd2_u: float


class SvgdResult:
    """What :func:`svgd` returns.

    Attributes:
        particles: final particles [n, d], float32.
        steps: steps taken (fewer than asked when the callback stopped the run).
        stopped: whether the callback stopped the run (then ``ksd2_*`` are NaN).
        h: the bandwidth of the last step.
        ksd2_u, ksd2_v: KSD² of the final particles (median bandwidth).
        ksd_trace: :class:`KsdPoint` every ``ksd_every`` steps (and before the first).
        mean [d], cov [d, d]: of the final particles (f64; divisor n − 1).
        seconds_per_step: seconds per step (the steps only).
        seconds: seconds of all steps.
        adapter: the adapter that ran it.
    """

    def __init__(self, particles: np.ndarray, info: Dict[str, Any], stopped: bool) -> None:
        d = info["d"]
        self.particles = particles
        self.n: int = info["n"]
        self.d: int = d
        self.steps: int = info["steps"]
        self.stopped = stopped
        self.h: float = _float(info["h"])
        self.ksd2_u: float = _float(info["ksd2_u"])
        self.ksd2_v: float = _float(info["ksd2_v"])
        self.mean = np.array([_float(v) for v in info["mean"]])
        self.cov = np.array([_float(v) for v in info["cov"]]).reshape(d, d)
        self.seconds_per_step: float = info["seconds_per_step"]
        self.seconds: float = self.seconds_per_step * max(self.steps, 1)
        self.adapter: str = info["adapter"]
        self.ksd_trace = [KsdPoint(p["step"], _float(p["ksd2_v"]), _float(p["ksd2_u"])) for p in info["ksd_trace"]]

    def __repr__(self) -> str:
        return (
            f"SvgdResult(n={self.n}, d={self.d}, steps={self.steps}, h={self.h:.4g}, "
            f"ksd2_u={self.ksd2_u:.4g}, seconds_per_step={self.seconds_per_step:.3g})"
        )


def _float(v: Any) -> float:
    # serde_json writes NaN and inf as null.
    return float("nan") if v is None else float(v)


def svgd(
    target: Target,
    x0: Union[ArrayLike, int],
    *,
    steps: int,
    step_size: float,
    bandwidth: Union[str, float] = "median",
    optimizer: str = "adagrad",
    ksd_every: Optional[int] = None,
    seed: Optional[int] = None,
    callback: Optional[Callable[[int, np.ndarray], Optional[bool]]] = None,
    callback_every: int = 1,
    init: str = "normal",
    score_batch: Optional[int] = None,
    device: Optional[Device] = None,
    progress: bool = True,
) -> SvgdResult:
    """An SVGD run, as ``stein svgd`` runs it (the same steps, bit for bit on one device).

    Args:
        target: a built-in target (dict or JSON path: gmm, gaussian, wgsl, logistic, ...) or
            a function ``score(x: ndarray[n, d]) -> ndarray[n, d]`` (∇ log p per row),
            called once per step (and once per KSD) on the host.
        x0: the initial particles [n, d] (float32 or float64), or a number n of particles
            drawn with ``seed``: from N(0, I) (``init="normal"``) or from a Bayesian
            target's prior (``init="prior"``; kind "logistic").
        steps: number of steps (at least 1).
        step_size: ε (typical: 1e-3 to 1 with adagrad).
        bandwidth: "median" (exact, every step), "median-sampled" or a fixed h.
        optimizer: "adagrad" (the SVGD authors' AdaGrad with momentum), "sgd" or "adam".
        ksd_every: KSD² (median bandwidth) every K steps and before the first, into
            ``ksd_trace``.
        seed: seed of the drawn initial particles (default 0).
        callback: ``callback(step, x)`` every ``callback_every`` steps and after the last,
            x the particles [n, d] then; returning False stops the run there.
        score_batch: rows of a Bayesian target's data per score evaluation (minibatches).
        device: the device (default: :func:`default_device`).
        progress: a tqdm progress bar when tqdm is installed.

    Returns:
        :class:`SvgdResult`. Ctrl-C raises ``KeyboardInterrupt`` after the step in flight.
    """
    dev = _device(device)
    steps = _count(steps, "steps")
    step_size = _number(step_size, "step_size")
    if ksd_every is not None:
        ksd_every = _count(ksd_every, "ksd_every")
    callback_every = _count(callback_every, "callback_every")
    seed = 0 if seed is None else _count(seed, "seed", 0)
    kind, value = _target(target)
    if isinstance(x0, (int, np.integer)) and not isinstance(x0, bool):
        if kind == "callable":
            raise ValueError("x0 must be an array [n, d] for a score function: its dimension d is x0's")
        buf, n, d = None, _count(x0, "x0"), 0
    else:
        a = _matrix(x0, "x0")
        buf, (n, d) = a.tobytes(), a.shape
    cb = None
    if callback is not None:
        if not callable(callback):
            raise ValueError("callback must be a function callback(step, x)")

        def cb(step: int, xb: bytearray, n_: int, d_: int) -> bool:
            return callback(step, _array(xb, (n_, d_))) is not False

    out, info, stopped = _stein.svgd(
        dev, kind, value, buf, n, d, init, seed, steps, step_size, _bandwidth(bandwidth),
        optimizer, ksd_every, score_batch, cb, callback_every, _bar(progress, "svgd", "step"),
    )
    info = json.loads(info)
    return SvgdResult(_array(out, (info["n"], info["d"])), info, stopped)


class SVGD:
    """SVGD step by step: the particles, the optimizer's state and the score stay on the
    device, and each call reads back only what it returns.

    >>> s = stein.SVGD(lambda x: -x, x0, step_size=0.05)
    >>> s.step(100)
    >>> s.particles, s.ksd()

    Args:
        target, x0 [n, d], step_size, bandwidth, optimizer, score_batch, device: as
            :func:`svgd`.
    """

    def __init__(
        self,
        target: Target,
        x0: ArrayLike,
        *,
        step_size: float,
        bandwidth: Union[str, float] = "median",
        optimizer: str = "adagrad",
        score_batch: Optional[int] = None,
        device: Optional[Device] = None,
    ) -> None:
        dev = _device(device)
        a = _matrix(x0, "x0")
        kind, value = _target(target)
        self._shape = a.shape
        self._engine = _stein.SvgdEngine(
            dev, kind, value, a.tobytes(), a.shape[0], a.shape[1],
            _number(step_size, "step_size"), _bandwidth(bandwidth), optimizer, score_batch,
        )

    def step(self, k: int = 1) -> "SVGD":
        """``k`` steps x ← x + ε·update(φ(x)) (one submit each); Ctrl-C stops between steps
        with ``KeyboardInterrupt``. Returns self."""
        self._engine.step(_count(k, "k"))
        return self

    @property
    def particles(self) -> np.ndarray:
        """The current particles [n, d] (read back; a copy). Assigning replaces them (the
        optimizer's state is kept)."""
        return _array(self._engine.particles(), self._shape)

    @particles.setter
    def particles(self, x: ArrayLike) -> None:
        a = _matrix(x, "particles", self._shape[1])
        if a.shape != self._shape:
            raise ValueError(f"particles must have shape {self._shape}; got {a.shape}")
        self._engine.set_particles(a.tobytes())

    def phi(self) -> np.ndarray:
        """φ at the current particles [n, d], with the run's bandwidth."""
        buf, _ = self._engine.phi()
        return _array(buf, self._shape)

    def bandwidth(self) -> float:
        """The bandwidth h the next step will use."""
        return self._engine.bandwidth()

    def ksd(self) -> KsdResult:
        """KSD² of the current particles (median bandwidth)."""
        v, u, h = self._engine.ksd()
        return KsdResult(u, v, h)

    @property
    def steps_taken(self) -> int:
        """Steps taken so far."""
        return self._engine.steps_taken

    @property
    def n(self) -> int:
        """Number of particles."""
        return self._engine.n

    @property
    def d(self) -> int:
        """Dimension."""
        return self._engine.d


# --- energy models ----------------------------------------------------------------------


class Run:
    """A training run directory written by :func:`train`.

    Attributes:
        out: the run directory.
        steps: updates done in all.
        total: updates the run was asked for.
        last: the last metrics line this call wrote (dict), or None.
    """

    def __init__(self, out: Union[str, "os.PathLike[str]"], steps: int = 0, total: int = 0, last: Optional[Dict[str, Any]] = None) -> None:
        self.out = Path(out)
        self.steps = steps
        self.total = total
        self.last = last

    @property
    def metrics(self) -> List[Dict[str, Any]]:
        """Every line of the run's ``metrics.jsonl`` (step, energy_gap, grad_norm,
        step_seconds, valid_loglik, h)."""
        path = self.out / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    @property
    def config(self) -> Dict[str, Any]:
        """The run's ``config.json``."""
        return json.loads((self.out / "config.json").read_text())

    def model(self, device: Optional[Device] = None) -> "Model":
        """The trained model, ``model.safetensors``."""
        return load(self.out / "model.safetensors", device=device)

    def __repr__(self) -> str:
        return f"stein.Run({str(self.out)!r}, steps={self.steps})"


def train(
    data: Union[str, "os.PathLike[str]", None] = None,
    *,
    out: Union[str, "os.PathLike[str]", None] = None,
    resume: Union[str, "os.PathLike[str]", None] = None,
    overwrite: bool = False,
    device: Optional[Device] = None,
    progress: bool = True,
    **options: Any,
) -> Run:
    """Trains an energy model, as ``stein train`` does, into the run directory ``out``.

    Args:
        data: training data: a .npy [N, d] (f32, f64 or u8) or .csv file, or "ring8".
        out: the run directory (new or empty; ``overwrite=True`` replaces a run there).
        resume: continue the run in this directory from its last checkpoint (then ``steps``
            is the new total; only the schedule options may change).
        **options: ``stein train``'s options by name with ``_`` for ``-``: model ("grbm",
            "mlp"), algo ("cd", "pcd", "stein-cd", "stein-gan", "hybrid"), hidden, widths,
            activation, sigma0, sampler, k, langevin_step, svgd_step, bandwidth ("median" or
            a number), valid, holdout, batch, lr, weight_decay, seed, raw_u8, standardize,
            nz, gen_widths, gen_activation, gen_output, gen_lr, kernel, phi_norm, mix_prob;
            and the schedule: steps, epochs, log_every, checkpoint_every, grid_every,
            image_shape.

    Returns:
        :class:`Run`. Ctrl-C stops after the update in flight, writes the checkpoint and
        raises ``KeyboardInterrupt``; ``train(resume=out)`` continues.
    """
    dev = _device(device)
    run_names, schedule_names = _stein.train_option_names()
    given: Dict[str, Any] = {}
    schedule: Dict[str, Any] = {}
    for key, value in options.items():
        long = key.replace("_", "-")
        if long not in run_names and long not in schedule_names:
            names = [n.replace("-", "_") for n in run_names + schedule_names]
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean `{near[0]}`?" if near else "the options are " + ", ".join(sorted(names))
            raise ValueError(f"train: unknown option `{key}`; {hint}")
        if long == "bandwidth" and value == "median":
            value = None
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, tuple):
            value = list(value)
        (schedule if long in schedule_names else given)[long] = value
    try:
        options_json, schedule_json = json.dumps(given), json.dumps(schedule)
    except (TypeError, ValueError) as e:
        raise ValueError(f"train: an option is not a number, string, list or bool ({e})") from None
    fs = lambda p: None if p is None else os.fspath(p)  # noqa: E731
    summary = json.loads(
        _stein.train(
            dev, fs(data), fs(out), fs(resume), bool(overwrite), options_json, schedule_json,
            _bar(progress, "train", "update"),
        )
    )
    return Run(summary["out"], summary["steps"], summary["total"], summary["last"])


class Model:
    """A trained energy model (``model.safetensors`` of a run): its unnormalised
    log-density f(x), score ∇ₓf, samples and log-likelihood. Values are in the data's units
    by default (the model's stored standardisation applied and undone); ``units="model"``
    takes and gives them in the model's own.

    Attributes:
        d: input dimension. spec: the model's kind and shape. transform: the data transform
        it was trained in (None for old files). path: the file.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], device: Optional[Device] = None) -> None:
        self.path = Path(path)
        self._device = device
        self._model = _stein.Model(os.fspath(path))
        self.d: int = self._model.d
        self.spec: Dict[str, Any] = json.loads(self._model.spec_json)
        t = self._model.transform_json
        self.transform: Optional[Dict[str, Any]] = None if t is None else json.loads(t)

    @property
    def theta(self) -> np.ndarray:
        """The parameters θ, flat (float32)."""
        return np.frombuffer(self._model.theta(), dtype=np.float32)

    def energy(self, x: ArrayLike, *, units: str = "data") -> np.ndarray:
        """f(x) [n] at the rows of ``x`` [n, d] (as ``stein energy``)."""
        a = _matrix(x, "x", self.d)
        buf = self._model.energy(_device(self._device), a.tobytes(), a.shape[0], a.shape[1], units)
        return _array(buf, (a.shape[0],))

    def score(self, x: ArrayLike, *, units: str = "data") -> np.ndarray:
        """∇ₓ f(x) [n, d] at the rows of ``x``, in the units of x."""
        a = _matrix(x, "x", self.d)
        buf = self._model.score(_device(self._device), a.tobytes(), a.shape[0], a.shape[1], units)
        return _array(buf, a.shape)

    def sample(
        self,
        n: int,
        *,
        method: Optional[str] = None,
        steps: int = 1000,
        step_size: float = 0.01,
        seed: int = 0,
        units: str = "data",
    ) -> np.ndarray:
        """``n`` samples [n, d] (as ``stein sample``), started at N(0, I): method "gibbs"
        (RBM; the default for it), "langevin" (the default otherwise; η = step_size) or
        "svgd" (AdaGrad, ε = step_size), ``steps`` sweeps or steps."""
        if method is None:
            method = "gibbs" if self.spec.get("model") == "grbm" else "langevin"
        n = _count(n, "n")
        buf = self._model.sample(
            _device(self._device), n, method, _count(steps, "steps"), _number(step_size, "step_size"),
            _count(seed, "seed", 0), units,
        )
        return _array(buf, (n, self.d))

    def log_likelihood(
        self,
        data: Union[ArrayLike, str, "os.PathLike[str]"],
        method: str = "auto",
        *,
        units: str = "data",
        samples: Optional[ArrayLike] = None,
        ais_temperatures: int = 1000,
        ais_runs: int = 100,
        ais_chains: int = 100,
        seed: int = 0,
        grid: int = 512,
        margin: float = 0.5,
        progress: bool = True,
    ) -> Dict[str, Any]:
        """The mean log-likelihood of ``data`` (an array [n, d] or a .npy/.csv path), as
        ``stein eval`` reports it: a dict with ``loglik``, ``log_z``, ``method`` (exact for an
        RBM with H <= 20, quadrature for d <= 2, else AIS with its ``std_err``), the method's
        figures, ``mmd2`` against ``samples`` when given, and ``warning`` when the estimate is
        doubtful. Ctrl-C stops AIS with ``KeyboardInterrupt``."""
        path, buf, n = None, None, 0
        if isinstance(data, (str, os.PathLike)):
            path = os.fspath(data)
        else:
            a = _matrix(data, "data", self.d)
            buf, n = a.tobytes(), a.shape[0]
        sbuf, m = None, 0
        if samples is not None:
            s = _matrix(samples, "samples", self.d)
            sbuf, m = s.tobytes(), s.shape[0]
        report = self._model.log_likelihood(
            _device(self._device), path, buf, n, self.d, units, method,
            _count(ais_temperatures, "ais_temperatures"), _count(ais_runs, "ais_runs"),
            _count(ais_chains, "ais_chains"), _count(seed, "seed", 0), _count(grid, "grid"),
            _number(margin, "margin"), sbuf, m, _bar(progress, "eval", "step"),
        )
        return json.loads(report)

    def __repr__(self) -> str:
        return f"stein.Model({str(self.path)!r}, {self.spec})"


def load(path: Union[str, "os.PathLike[str]"], *, device: Optional[Device] = None) -> Model:
    """A trained model file (``model.safetensors``, as ``stein train`` writes it)."""
    return Model(path, device=device)
