"""Type stubs of the stein package (see the docstrings in stein/__init__.py)."""

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Literal, NamedTuple, Optional, Tuple, Union, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
Score = Callable[[NDArray[np.float32]], ArrayLike]
Target = Union[Dict[str, Any], PathLike, Score]
Bandwidth = Union[str, float]

class DivergedError(RuntimeError):
    """A run's numbers left the range where they mean anything (NaN, inf, a documented limit)."""

class Device:
    """A GPU device with its pipelines, built once and reused by every call made with it."""

    def __init__(self, backend: Optional[str] = None, adapter: Optional[str] = None) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def device_type(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def pipelines_built(self) -> int: ...

def adapters() -> List[Dict[str, Any]]:
    """Every adapter wgpu sees (name, backend, device_type, driver, compute, limits)."""

def default_device() -> Device:
    """The device of calls given none, opened on first use and kept."""

@overload
def phi(
    x: ArrayLike,
    score: Target,
    h: Bandwidth = "median",
    *,
    score_batch: Optional[int] = None,
    return_h: Literal[False] = False,
    device: Optional[Device] = None,
) -> NDArray[np.float32]: ...
@overload
def phi(
    x: ArrayLike,
    score: Target,
    h: Bandwidth = "median",
    *,
    score_batch: Optional[int] = None,
    return_h: Literal[True],
    device: Optional[Device] = None,
) -> Tuple[NDArray[np.float32], float]: ...
def median_bandwidth(x: ArrayLike, *, device: Optional[Device] = None) -> float:
    """h = med / log(n + 1), med the exact median of all n² squared distances."""

class KsdResult(NamedTuple):
    ksd2_u: float
    ksd2_v: float
    h: float

def ksd(
    x: ArrayLike,
    score: Target,
    h: Bandwidth = "median",
    *,
    score_batch: Optional[int] = None,
    device: Optional[Device] = None,
) -> KsdResult:
    """KSD² (U- and V-statistic) of the particles against the score."""

def mmd2(x: ArrayLike, y: ArrayLike, h: Optional[float] = None, *, device: Optional[Device] = None) -> float:
    """The unbiased MMD² between two samples (pooled median bandwidth unless h)."""

class KsdPoint(NamedTuple):
    step: int
    ksd2_v: float
    ksd2_u: float

class SvgdResult:
    particles: NDArray[np.float32]
    n: int
    d: int
    steps: int
    stopped: bool
    h: float
    ksd2_u: float
    ksd2_v: float
    mean: NDArray[np.float64]
    cov: NDArray[np.float64]
    seconds_per_step: float
    seconds: float
    adapter: str
    ksd_trace: List[KsdPoint]

def svgd(
    target: Target,
    x0: Union[ArrayLike, int],
    *,
    steps: int,
    step_size: float,
    bandwidth: Bandwidth = "median",
    optimizer: str = "adagrad",
    ksd_every: Optional[int] = None,
    seed: Optional[int] = None,
    callback: Optional[Callable[[int, NDArray[np.float32]], Optional[bool]]] = None,
    callback_every: int = 1,
    init: str = "normal",
    score_batch: Optional[int] = None,
    device: Optional[Device] = None,
    progress: bool = True,
) -> SvgdResult:
    """An SVGD run, as `stein svgd` runs it."""

class SVGD:
    """SVGD step by step, the state on the device."""

    def __init__(
        self,
        target: Target,
        x0: ArrayLike,
        *,
        step_size: float,
        bandwidth: Bandwidth = "median",
        optimizer: str = "adagrad",
        score_batch: Optional[int] = None,
        device: Optional[Device] = None,
    ) -> None: ...
    def step(self, k: int = 1) -> SVGD: ...
    @property
    def particles(self) -> NDArray[np.float32]: ...
    @particles.setter
    def particles(self, x: ArrayLike) -> None: ...
    def phi(self) -> NDArray[np.float32]: ...
    def bandwidth(self) -> float: ...
    def ksd(self) -> KsdResult: ...
    @property
    def steps_taken(self) -> int: ...
    @property
    def n(self) -> int: ...
    @property
    def d(self) -> int: ...

class Run:
    """A training run directory."""

    out: Path
    steps: int
    total: int
    last: Optional[Dict[str, Any]]
    def __init__(self, out: PathLike, steps: int = 0, total: int = 0, last: Optional[Dict[str, Any]] = None) -> None: ...
    @property
    def metrics(self) -> List[Dict[str, Any]]: ...
    @property
    def config(self) -> Dict[str, Any]: ...
    def model(self, device: Optional[Device] = None) -> Model: ...

def train(
    data: Optional[PathLike] = None,
    *,
    out: Optional[PathLike] = None,
    resume: Optional[PathLike] = None,
    overwrite: bool = False,
    device: Optional[Device] = None,
    progress: bool = True,
    **options: Any,
) -> Run:
    """Trains an energy model as `stein train` does."""

class Model:
    """A trained energy model file."""

    path: Path
    d: int
    spec: Dict[str, Any]
    transform: Optional[Dict[str, Any]]
    def __init__(self, path: PathLike, device: Optional[Device] = None) -> None: ...
    @property
    def theta(self) -> NDArray[np.float32]: ...
    def energy(self, x: ArrayLike, *, units: str = "data") -> NDArray[np.float32]: ...
    def score(self, x: ArrayLike, *, units: str = "data") -> NDArray[np.float32]: ...
    def sample(
        self,
        n: int,
        *,
        method: Optional[str] = None,
        steps: int = 1000,
        step_size: float = 0.01,
        seed: int = 0,
        units: str = "data",
    ) -> NDArray[np.float32]: ...
    def log_likelihood(
        self,
        data: Union[ArrayLike, PathLike],
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
    ) -> Dict[str, Any]: ...

def load(path: PathLike, *, device: Optional[Device] = None) -> Model:
    """A trained model file."""
