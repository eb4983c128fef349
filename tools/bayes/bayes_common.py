"""The data, initial particles, bandwidth and evaluation shared by the Bayesian reference tools.

Everything here follows /work/shared/docs/algorithms.md (§1 for the kernel, §5 for the models)
in float64 NumPy; svgd_numpy.py, svgd_jax.py, nuts_logistic.py and report.py import it so that
the implementations differ only in the SVGD loop they are meant to compare.

Conventions (the authors' code, where algorithms.md is silent it is said here):
- CSV files with a header row; the label/response column is named, every other column is a
  feature, in the file's order.
- Logistic (§5.1): features standardised with the training rows' mean and std (divisor N, a
  constant feature gets std 1), an intercept column of ones appended last; labels: the smaller
  of the two values is −1, the larger +1. θ = (w, log α), w's last entry the intercept.
- BNN (§5.2): the development set is the last min(round(0.1·N), 500) rows of the training file
  (round half to even, as the authors' np.round); inputs and y standardised with the statistics
  of the remaining rows, which are the rows the model is trained on. θ = (W1 [d×50] row-major,
  b1, w2, b2, log γ, log λ).
- Random streams: NumPy's default_rng; the logistic minibatch permutation comes from
  default_rng([seed, 1]) and the initial particles from default_rng([seed, 2]), so that two
  implementations given the same seed walk the same minibatches.
"""
import json
import math
import sys

import numpy as np

LOGISTIC_A0, LOGISTIC_B0 = 1.0, 0.01
BNN_A0, BNN_B0, BNN_HIDDEN = 1.0, 0.1, 50


def fail(msg):
    """One line on stderr, exit status 2."""
    print(msg, file=sys.stderr)
    sys.exit(2)


def read_csv(path):
    """(header, values [rows, cols] float64) of a CSV file with a header row."""
    try:
        with open(path) as f:
            header = [c.strip().strip('"') for c in f.readline().strip().split(",")]
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    if values.shape[1] != len(header):
        fail(f"{path}: {values.shape[1]} columns, the header has {len(header)}")
    if not np.all(np.isfinite(values)):
        fail(f"{path}: non-finite values; give finite numbers only")
    return header, values


def split_column(path, column):
    header, v = read_csv(path)
    if column not in header:
        fail(f"{path}: no column \"{column}\" (columns: {', '.join(header)})")
    c = header.index(column)
    return np.delete(v, c, axis=1), v[:, c], [h for h in header if h != column]


def feature_stats(x):
    """Mean and std (divisor N) per column; a constant column gets std 1."""
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1.0
    return mean, std


class LogisticData:
    """Bayesian logistic regression data (§5.1): x_train [N, d] with the intercept last,
    y_train ±1, the same for the test rows, and the fixed minibatch permutation."""

    def __init__(self, train, test, label="label", seed=0, batch=None):
        x, y, self.features = split_column(train, label)
        xt, yt, _ = split_column(test, label)
        classes = np.unique(y)
        if len(classes) != 2:
            fail(f"{train}: label \"{label}\" has {len(classes)} distinct values; give two classes")
        if not np.all(np.isin(yt, classes)):
            fail(f"{test}: label values other than the training file's {classes.tolist()}")
        self.mean, self.std = feature_stats(x)

        def prep(a):
            z = (a - self.mean) / self.std
            return np.hstack([z, np.ones((a.shape[0], 1))])

        self.x_train, self.x_test = prep(x), prep(xt)
        self.y_train = np.where(y == classes[1], 1.0, -1.0)
        self.y_test = np.where(yt == classes[1], 1.0, -1.0)
        self.n_rows, self.dw = self.x_train.shape
        self.dim = self.dw + 1
        self.batch = self.n_rows if batch is None else min(batch, self.n_rows)
        self.perm = np.random.default_rng([seed, 1]).permutation(self.n_rows)

    def batch_rows(self, step):
        """The rows of minibatch `step`: perm[(step·m + j) mod N], j < m."""
        return self.perm[(step * self.batch + np.arange(self.batch)) % self.n_rows]

    def init(self, n, seed):
        """The authors' draws: α ~ Gamma(a0, scale b0), w ~ N(0, α⁻¹ I), θ = (w, log α)."""
        rng = np.random.default_rng([seed, 2])
        alpha = rng.gamma(LOGISTIC_A0, LOGISTIC_B0, size=n)
        w = rng.standard_normal((n, self.dw)) / np.sqrt(alpha)[:, None]
        return np.hstack([w, np.log(alpha)[:, None]])


class BnnData:
    """BNN regression data (§5.2): the training rows without the development set,
    standardised; the development and test rows in the data's units."""

    def __init__(self, train, test, response="MEDV", dev_fraction=0.1):
        x, y, self.features = split_column(train, response)
        xt, yt, _ = split_column(test, response)
        n_dev = min(int(np.round(dev_fraction * x.shape[0])), 500)
        if n_dev < 1 or n_dev >= x.shape[0]:
            fail(f"{train}: {x.shape[0]} rows leave no development or no training rows")
        self.x_dev_raw, self.y_dev = x[-n_dev:], y[-n_dev:]
        x, y = x[:-n_dev], y[:-n_dev]
        self.mean_x, self.std_x = feature_stats(x)
        self.mean_y, self.std_y = float(y.mean()), float(y.std())
        self.x_train = (x - self.mean_x) / self.std_x
        self.y_train = (y - self.mean_y) / self.std_y
        self.x_dev = (self.x_dev_raw - self.mean_x) / self.std_x
        self.x_test = (xt - self.mean_x) / self.std_x
        self.y_test = yt
        self.n_rows, self.d = self.x_train.shape
        self.h = BNN_HIDDEN
        self.n_weights = self.d * self.h + 2 * self.h + 1  # P
        self.dim = self.n_weights + 2

    def unpack(self, theta):
        """(W1 [n, d, H], b1 [n, H], w2 [n, H], b2 [n], log γ [n], log λ [n])."""
        d, h = self.d, self.h
        n = theta.shape[0]
        w1 = theta[:, : d * h].reshape(n, d, h)
        b1 = theta[:, d * h : d * h + h]
        w2 = theta[:, d * h + h : d * h + 2 * h]
        return w1, b1, w2, theta[:, -3], theta[:, -2], theta[:, -1]

    def predict(self, theta, x):
        """ŷ [n, rows] in standardised units."""
        w1, b1, w2, b2, _, _ = self.unpack(theta)
        a = np.maximum(np.einsum("rd,ndh->nrh", x, w1) + b1[:, None, :], 0.0)
        return np.einsum("nrh,nh->nr", a, w2) + b2[:, None]

    def init(self, n, seed):
        """The authors' draws: W1 ~ N(0, 1/(d+1)), b1 = 0, w2 ~ N(0, 1/(H+1)), b2 = 0,
        log λ = log Gamma(a0, scale b0), log γ = −log MSE on up to 1000 random training rows."""
        rng = np.random.default_rng([seed, 2])
        d, h = self.d, self.h
        theta = np.zeros((n, self.dim))
        for i in range(n):
            w1 = rng.standard_normal((d, h)) / math.sqrt(d + 1)
            w2 = rng.standard_normal(h) / math.sqrt(h + 1)
            log_lambda = math.log(rng.gamma(BNN_A0, BNN_B0))
            theta[i, : d * h] = w1.ravel()
            theta[i, d * h + h : d * h + 2 * h] = w2
            theta[i, -1] = log_lambda
            rows = rng.choice(self.n_rows, min(self.n_rows, 1000), replace=False)
            err = self.predict(theta[i : i + 1], self.x_train[rows])[0] - self.y_train[rows]
            theta[i, -2] = -math.log(np.mean(err**2))
        return theta

    def batch_rows(self, step, batch):
        """The rows of minibatch `step`: (step·m + j) mod N in file order, as the authors'
        code (the split already shuffled the rows)."""
        m = min(batch, self.n_rows)
        return (step * m + np.arange(m)) % self.n_rows


def sq_dists(x):
    """All n² squared pairwise distances, from differences (exact zeros on the diagonal)."""
    diff = x[:, None, :] - x[None, :, :]
    return np.einsum("ijk,ijk->ij", diff, diff)


def median_bandwidth(d2):
    """§1: h = med / log(n + 1), med the median of all n² squared distances (diagonal
    included, NumPy's even-count convention); h = 1 when med = 0."""
    med = float(np.median(d2))
    return med / math.log(d2.shape[0] + 1) if med > 0 else 1.0


def logmeanexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.mean(np.exp(a - m), axis=axis))


def evaluate_logistic(data, theta):
    """§5.1: p̄_t = mean over particles of σ(y_t wᵀx_t); accuracy = mean(p̄ > 0.5),
    test log-likelihood = mean log p̄."""
    w = np.asarray(theta, np.float64)[:, :-1]
    z = data.y_test[None, :] * (w @ data.x_test.T)  # [n, rows]
    log_p = logmeanexp(-np.logaddexp(0.0, -z), axis=0)
    return {"accuracy": float(np.mean(log_p > math.log(0.5))), "test_ll": float(np.mean(log_p))}


def _normal_ll(y, mu, gamma):
    """log N(y; mu, 1/gamma), gamma [n] broadcast over rows."""
    g = gamma[:, None]
    return 0.5 * (np.log(g) - math.log(2 * math.pi)) - 0.5 * g * (mu - y[None, :]) ** 2


def bnn_gammas(data, theta, dev_rule, units):
    """Each particle's noise precision in the data's units. units = "data": γ / std_y² (γ was
    trained on standardised y; algorithms.md's "in the data's units"); "authors": γ as is, as
    the authors' evaluation code does. dev_rule: per particle, replace it by 1 / (dev MSE) when
    that raises the development log-likelihood (§5.2)."""
    log_gamma = np.asarray(theta, np.float64)[:, -2]
    gamma = np.exp(log_gamma) / (data.std_y**2 if units == "data" else 1.0)
    if dev_rule:
        pred = data.predict(theta, data.x_dev) * data.std_y + data.mean_y
        mse = np.mean((pred - data.y_dev[None, :]) ** 2, axis=1)
        lik1 = _normal_ll(data.y_dev, pred, gamma).sum(1)
        lik2 = _normal_ll(data.y_dev, pred, 1.0 / mse).sum(1)
        gamma = np.where(lik2 > lik1, 1.0 / mse, gamma)
    return gamma


def evaluate_bnn(data, theta, dev_rule=True, units="data"):
    """§5.2: RMSE of the particle-mean prediction and mean_t log mean_i N(y_t; ŷ_i, γ_i⁻¹), in
    the data's units; `variants` gives the log-likelihood under the other choices of the dev
    rule and of γ's units."""
    theta = np.asarray(theta, np.float64)
    pred = data.predict(theta, data.x_test) * data.std_y + data.mean_y
    rmse = float(np.sqrt(np.mean((pred.mean(0) - data.y_test) ** 2)))

    def ll(rule, u):
        g = bnn_gammas(data, theta, rule, u)
        return float(np.mean(logmeanexp(_normal_ll(data.y_test, pred, g), axis=0)))

    variants = {f"ll_{u}_units_{'dev' if r else 'nodev'}": ll(r, u)
                for u in ("data", "authors") for r in (True, False)}
    return {"rmse": rmse, "test_ll": ll(dev_rule, units), "variants": variants}


def model_data(args):
    """The data object for the command-line options shared by the SVGD scripts."""
    if args.model == "logistic":
        return LogisticData(args.train, args.test, args.label or "label", args.seed, args.batch)
    return BnnData(args.train, args.test, args.label or "MEDV", args.dev_fraction)


def evaluate(args, data, theta):
    if args.model == "logistic":
        return evaluate_logistic(data, theta)
    return evaluate_bnn(data, theta, not args.no_dev_rule, args.gamma_units)


def add_common_args(ap):
    ap.add_argument("--model", choices=["logistic", "bnn"], required=True)
    ap.add_argument("--train", required=True, help="training CSV (header row)")
    ap.add_argument("--test", required=True, help="test CSV (header row)")
    ap.add_argument("--label", help="label (logistic, default `label`) or response column "
                    "(bnn, default `MEDV`)")
    ap.add_argument("--particles", type=int, help="default 100 (logistic), 20 (bnn)")
    ap.add_argument("--iters", type=int, help="default 6000 (logistic), 2000 (bnn)")
    ap.add_argument("--step-size", type=float, help="default 0.05 (logistic), 1e-3 (bnn)")
    ap.add_argument("--batch", type=int, default=100, help="minibatch rows (default 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dev-fraction", type=float, default=0.1, help="bnn development set")
    ap.add_argument("--no-dev-rule", action="store_true", help="bnn: skip the dev-set rule")
    ap.add_argument("--gamma-units", choices=["authors", "data"], default="authors",
                    help="bnn: γ used as the authors' evaluation code does (default, as "
                    "stein predict) or converted to the data's units, γ / std_y²")
    ap.add_argument("--init-npy", help="initial particles .npy [n, dim] instead of the draws")
    ap.add_argument("--out-init", help="write the initial particles here (.npy, float64)")
    ap.add_argument("--out", help="write the final particles here (.npy, float32 as stein's)")
    ap.add_argument("--out-f64", help="write the final particles here in float64")
    ap.add_argument("--json", help="append the result line to this file too")


def fill_defaults(args):
    logistic = args.model == "logistic"
    if args.particles is None:
        args.particles = 100 if logistic else 20
    if args.iters is None:
        args.iters = 6000 if logistic else 2000
    if args.step_size is None:
        args.step_size = 0.05 if logistic else 1e-3
    if args.batch < 1 or args.particles < 1 or args.iters < 0 or not args.step_size > 0:
        fail("--batch and --particles must be ≥ 1, --iters ≥ 0 and --step-size > 0")


def initial_particles(args, data):
    if args.init_npy:
        try:
            x0 = np.load(args.init_npy).astype(np.float64)
        except (OSError, ValueError) as e:
            fail(f"cannot read {args.init_npy}: {e}")
        if x0.ndim != 2 or x0.shape[1] != data.dim:
            fail(f"{args.init_npy}: shape {x0.shape}, the model needs [n, {data.dim}]")
        args.particles = x0.shape[0]
        return x0
    return data.init(args.particles, args.seed)


def finish(args, record, theta, x0):
    """Writes the optional particle files and prints (and appends) the JSON line."""
    if args.out_init:
        np.save(args.out_init, x0)
    if args.out:
        np.save(args.out, np.asarray(theta, np.float32))
    if args.out_f64:
        np.save(args.out_f64, np.asarray(theta, np.float64))
    line = json.dumps(record)
    print(line)
    if args.json:
        with open(args.json, "a") as f:
            f.write(line + "\n")
