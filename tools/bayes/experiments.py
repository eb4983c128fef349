#!/usr/bin/env python3
"""The SVGD paper's Bayesian experiments (issue 19 item 6), run end to end; scripts/experiments-bayes.sh
calls this with the virtualenv of tools/bayes/setup.sh.

(i)   bnn: Boston housing, the authors' protocol: random 90/10 splits (split.py, seeds 1..K),
      20 particles, 2000 iterations, AdaGrad with momentum at 1e-3, batch 100, the dev-set
      rule; RMSE and test log-likelihood, mean ± standard error over splits, for stein,
      svgd_numpy.py and svgd_jax.py, beside the SVGD paper's 2.96 / −2.50.
(ii)  logistic: breast cancer, 80/20 splits (seeds 1..K), 100 particles, 6000 iterations,
      step 0.05, batch 100, against NUTS (nuts_logistic.py, 4 chains × 2000 warm-up + 5000):
      accuracy, test log-likelihood, and per coordinate |Δmean| / sd_NUTS and sd / sd_NUTS.
(iii) time: wall-clock of each tool on the first split of each model, start-up included, and
      per iteration: (wall(T iterations) − wall(1 iteration)) / (T − 1), each tool run as a
      fresh process (the tools' own loop timings are given beside).

stein is run as `$STEIN svgd --target T.json --init prior ...` then `$STEIN predict ...`. Where
`stein predict` does not exist yet the metrics of stein's particles are computed by
bayes_common.py's evaluation and marked "python-eval" in the records and tables; where stein
lacks a target kind (bnn), its rows say so with stein's own one-line error. Nothing is invented:
every number in the tables comes from a record in the raw files.

Outputs: raw records, one JSON line per run, in BENCH/MACHINE-DATE-bayes-{bnn,logistic,time}
[-quick].jsonl, and the Markdown tables printed and written to BENCH/MACHINE-DATE-bayes[-quick].md;
split files and particles under --work (default out/bayes[-quick]). Existing raw files are
refused unless --overwrite is given.
"""
import argparse
import datetime
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import bayes_common as bc  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data")
PAPER_BNN = {"rmse": 2.96, "test_ll": -2.50}



def die(msg):
    """One line on stderr, exit status 2 (a user's mistake)."""
    print(msg, file=sys.stderr)
    sys.exit(2)

def run(cmd, log):
    """Runs cmd, returns (rc, stdout, stderr, wall seconds)."""
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n[rc {p.returncode}, {wall:.3f} s]\n{p.stderr}\n")
    return p.returncode, p.stdout, p.stderr, wall


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def first_error(stderr):
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    return lines[-1] if lines else "no message"


class Experiment:
    def __init__(self, a):
        self.a = a
        self.py = sys.executable
        self.log = os.path.join(a.work, "commands.log")
        self.records = {}

    def emit(self, part, rec):
        self.records.setdefault(part, []).append(rec)
        with open(self.raw_path(part), "a") as f:
            f.write(json.dumps(rec) + "\n")

    def raw_path(self, part):
        q = ("-quick" if self.a.quick else "") + self.a.suffix
        return os.path.join(self.a.bench, f"{self.a.machine}-{self.a.date}-bayes-{part}{q}.jsonl")

    def split(self, data, fraction, seed, name):
        d = os.path.join(self.a.work, f"{name}-{seed}")
        if not os.path.exists(os.path.join(d, "test.csv")):
            rc, _, err, _ = run([self.py, os.path.join(HERE, "split.py"), data, "--fraction",
                                 str(fraction), "--seed", str(seed), "--out-dir", d], self.log)
            if rc != 0:
                die(f"experiments: split failed: {first_error(err)}")
        return d

    def python_tool(self, tool, model, d, seed, iters, extra, out=None):
        script = {"numpy": "svgd_numpy.py", "jax": "svgd_jax.py",
                  "jax_python": "svgd_jax.py"}[tool]
        cmd = [self.py, os.path.join(HERE, script), "--model", model, "--train",
               os.path.join(d, "train.csv"), "--test", os.path.join(d, "test.csv"),
               "--seed", str(seed), "--iters", str(iters)] + extra
        if tool == "jax_python":
            cmd += ["--loop", "python"]
        if out:
            cmd += ["--out-f64", out]
        rc, out_s, err, wall = run(cmd, self.log)
        rec = last_json(out_s) if rc == 0 else None
        if rec is None:
            return {"tool": tool, "status": "failed", "error": first_error(err), "wall_s": wall}
        rec.update({"tool": tool, "status": "ok", "wall_s": round(wall, 4)})
        return rec

    def stein(self, model, d, seed, iters, n, step, out, label_eval):
        """stein svgd, then stein predict (or the Python evaluation of its particles)."""
        target = os.path.join(d, f"{model}.json")
        if model == "logistic":
            spec = {"kind": "logistic", "data": "train.csv", "label": "label", "seed": seed}
        else:
            spec = {"kind": "bnn", "data": "train.csv", "response": "MEDV",
                    "dev_fraction": 0.1, "seed": seed}
        with open(target, "w") as f:
            json.dump(spec, f)
        cmd = [self.a.stein, "svgd", "--target", target, "--init", "prior", "--n", str(n),
               "--steps", str(iters), "--step-size", str(step), "--score-batch", "100",
               "--seed", str(seed), "--out", out, "--quiet", "--overwrite"]
        rc, out_s, err, wall = run(cmd, self.log)
        if rc != 0:
            return {"tool": "stein", "status": "failed", "error": first_error(err),
                    "wall_s": round(wall, 4)}
        info = last_json(out_s) or {}
        rec = {"tool": "stein", "status": "ok", "model": model, "n": n, "iters": iters,
               "step_size": step, "seed": seed, "wall_s": round(wall, 4),
               "seconds_per_step": info.get("seconds_per_step"), "adapter": info.get("adapter"),
               "h": info.get("h")}
        if not label_eval:
            return rec
        pcmd = [self.a.stein, "predict", "--target", target, "--particles", out, "--data",
                os.path.join(d, "test.csv")] + (["--dev-rule"] if model == "bnn" else [])
        rc, out_s, err, pwall = run(pcmd, self.log)
        metrics = parse_predict(out_s) if rc == 0 else None
        if metrics:
            rec.update(metrics)
            rec.update({"eval": "stein predict", "predict_wall_s": round(pwall, 4)})
            # The same particles through bayes_common's evaluation: a check of stein predict.
            theta = np.load(out).astype(np.float64)
            rec["python_eval"] = evaluate(model, d, seed, theta)
        else:
            rec["eval"] = "python-eval"
            rec["predict_error"] = first_error(err) if rc != 0 else "output not understood"
            theta = np.load(out).astype(np.float64)
            rec.update(evaluate(model, d, seed, theta))
        return rec

    # (i) ---------------------------------------------------------------------------------
    def bnn(self):
        a = self.a
        for s in range(1, a.bnn_splits + 1):
            d = self.split(os.path.join(DATA, "boston-housing.csv"), 0.9, s, "boston")
            for tool in a.tools:
                if tool == "stein":
                    rec = self.stein("bnn", d, s, a.bnn_iters, 20, 1e-3,
                                     os.path.join(d, "stein.npy"), True)
                else:
                    rec = self.python_tool(tool, "bnn", d, s, a.bnn_iters, [],
                                           os.path.join(d, f"{tool}.npy"))
                rec.update({"exp": "bnn", "split": s})
                self.emit("bnn", rec)
                say(f"bnn split {s} {tool}: " + brief(rec, ("rmse", "test_ll", "wall_s")))

    # (ii) --------------------------------------------------------------------------------
    def logistic(self):
        a = self.a
        for s in range(1, a.logistic_splits + 1):
            d = self.split(os.path.join(DATA, "breast-cancer.csv"), 0.8, s, "cancer")
            nuts_file = os.path.join(d, "nuts.json")
            if a.nuts and not os.path.exists(nuts_file):
                cmd = [self.py, os.path.join(HERE, "nuts_logistic.py"), "--train",
                       os.path.join(d, "train.csv"), "--test", os.path.join(d, "test.csv"),
                       "--seed", str(s), "--chains", str(a.nuts_chains), "--warmup",
                       str(a.nuts_warmup), "--samples", str(a.nuts_samples)]
                rc, out_s, err, wall = run(cmd, self.log)
                nrec = last_json(out_s) if rc == 0 else None
                if nrec is None:
                    nrec = {"tool": "nuts", "status": "failed", "error": first_error(err)}
                else:
                    nrec.update({"tool": "nuts", "status": "ok", "wall_s": round(wall, 3)})
                    with open(nuts_file, "w") as f:
                        json.dump(nrec, f)
                nrec.update({"exp": "logistic", "split": s})
                self.emit("logistic", nrec)
                say(f"logistic split {s} nuts: " + brief(nrec, ("accuracy", "test_ll",
                                                                 "r_hat_max", "ess_min", "wall_s")))
            nuts = json.load(open(nuts_file)) if os.path.exists(nuts_file) else None
            for tool in a.tools:
                out = os.path.join(d, f"{tool}.npy")
                if tool == "stein":
                    rec = self.stein("logistic", d, s, a.logistic_iters, 100, 0.05, out, True)
                else:
                    rec = self.python_tool(tool, "logistic", d, s, a.logistic_iters, [], out)
                if rec["status"] == "ok" and nuts:
                    rec.update(moments(np.load(out), nuts))
                rec.update({"exp": "logistic", "split": s})
                self.emit("logistic", rec)
                say(f"logistic split {s} {tool}: " + brief(rec, ("accuracy", "test_ll",
                                                                 "dmean_max", "sd_ratio_median",
                                                                 "wall_s")))

    # the cross-check ----------------------------------------------------------------------
    def check(self):
        """svgd_jax.py (float32 and float64) against svgd_numpy.py from the same initial
        particles and minibatches, a few steps, on the first split of each model."""
        for model, data, frac, name in (("bnn", "boston-housing.csv", 0.9, "boston"),
                                        ("logistic", "breast-cancer.csv", 0.8, "cancer")):
            d = self.split(os.path.join(DATA, data), frac, 1, name)
            x0, ref = os.path.join(d, "check-x0.npy"), os.path.join(d, "check-numpy.npy")
            steps = self.a.check_steps
            r = self.python_tool("numpy", model, d, 1, steps, ["--out-init", x0], ref)
            for x64 in (False, True):
                out = os.path.join(d, f"check-jax{'64' if x64 else '32'}.npy")
                j = self.python_tool("jax", model, d, 1, steps,
                                     ["--init-npy", x0] + (["--x64"] if x64 else []), out)
                rec = {"exp": "check", "model": model, "steps": steps,
                       "dtype": f"svgd_jax.py, {'float64' if x64 else 'float32'}",
                       "status": "ok" if r["status"] == j["status"] == "ok" else "failed"}
                if rec["status"] == "ok":
                    a, b, start = np.load(ref), np.load(out), np.load(x0)
                    diff = np.abs(a - b)
                    rec.update({"max_abs_diff": float(diff.max()),
                                "max_rel_diff": float((diff / np.maximum(1, np.abs(a))).max()),
                                "max_move": float(np.abs(a - start).max()),
                                "values": int(a.size)})
                self.emit("check", rec)
                say(f"check {model} {rec['dtype']}: " + brief(rec, ("max_abs_diff",
                                                                     "max_rel_diff")))
            if model == "logistic" and "stein" in self.a.tools:
                self.check_stein(d, steps)

    def check_stein(self, d, steps):
        """stein's logistic SVGD against svgd_numpy.py from the same particles on the full
        data (no minibatch, so that the two need not share a permutation)."""
        x0, x0f = os.path.join(d, "check-x0.npy"), os.path.join(d, "check-x0-f32.npy")
        ref, out = os.path.join(d, "check-numpy-full.npy"), os.path.join(d, "check-stein.npy")
        np.save(x0f, np.load(x0).astype(np.float32))
        r = self.python_tool("numpy", "logistic", d, 1, steps,
                             ["--init-npy", x0f, "--batch", "1000000"], ref)
        target = os.path.join(d, "check-logistic.json")
        with open(target, "w") as f:
            json.dump({"kind": "logistic", "data": "train.csv", "label": "label"}, f)
        rc, _, err, _ = run([self.a.stein, "svgd", "--target", target, "--init", x0f,
                             "--steps", str(steps), "--step-size", "0.05", "--out", out,
                             "--quiet", "--overwrite"], self.log)
        rec = {"exp": "check", "model": "logistic (full data)", "steps": steps,
               "dtype": "stein, float32", "status": "ok" if rc == 0 and r["status"] == "ok"
               else "failed"}
        if rec["status"] == "ok":
            a, b, start = np.load(ref), np.load(out).astype(np.float64), np.load(x0f)
            diff = np.abs(a - b)
            rec.update({"max_abs_diff": float(diff.max()),
                        "max_rel_diff": float((diff / np.maximum(1, np.abs(a))).max()),
                        "max_move": float(np.abs(a - start).max()), "values": int(a.size)})
        else:
            rec["error"] = first_error(err) if rc != 0 else r.get("error")
        self.emit("check", rec)
        say("check stein logistic: " + brief(rec, ("max_abs_diff", "max_rel_diff")))

    # (iii) -------------------------------------------------------------------------------
    def timing(self):
        a = self.a
        for model, data, frac, name, iters, n, step in (
                ("bnn", "boston-housing.csv", 0.9, "boston", a.bnn_iters, 20, 1e-3),
                ("logistic", "breast-cancer.csv", 0.8, "cancer", a.logistic_iters, 100, 0.05)):
            if model not in a.time_models:
                continue
            d = self.split(os.path.join(DATA, data), frac, 1, name)
            for tool in a.tools + (["jax_python"] if "jax" in a.tools else []):
                walls = {}
                for t in (1, iters):
                    out = os.path.join(d, f"time-{tool}.npy")
                    if tool == "stein":
                        rec = self.stein(model, d, 1, t, n, step, out, False)
                    else:
                        rec = self.python_tool(tool, model, d, 1, t, [])
                    walls[t] = rec
                big, one = walls[iters], walls[1]
                rec = {"exp": "time", "model": model, "tool": tool, "iters": iters,
                       "status": "ok" if big["status"] == one["status"] == "ok" else "failed"}
                if rec["status"] == "ok":
                    rec.update({"wall_s": big["wall_s"], "wall_1_s": one["wall_s"],
                                "per_iter_ms": round(1e3 * (big["wall_s"] - one["wall_s"])
                                                     / max(iters - 1, 1), 4),
                                "own_per_iter_ms": big.get("per_iter_ms") or (
                                    1e3 * big["seconds_per_step"]
                                    if big.get("seconds_per_step") else None),
                                "compile_s": big.get("compile_s")})
                else:
                    rec["error"] = big.get("error") or one.get("error")
                self.emit("time", rec)
                say(f"time {model} {tool}: " + brief(rec, ("wall_s", "wall_1_s", "per_iter_ms")))


def parse_predict(text):
    """The metrics of `stein predict`'s output: a JSON line, or `name = value` pairs."""
    rec = last_json(text)
    out = {}
    if rec:
        for k in ("accuracy", "rmse", "test_ll", "test_log_likelihood", "log_likelihood", "ll"):
            if isinstance(rec.get(k), (int, float)):
                out["test_ll" if k in ("test_log_likelihood", "log_likelihood", "ll") else k] = \
                    float(rec[k])
    else:
        for k, v in re.findall(r"(accuracy|rmse|test[_ ]ll|log[- ]likelihood)\s*[:=]\s*"
                               r"(-?[0-9.]+(?:e-?[0-9]+)?)", text, re.I):
            k = k.lower()
            out["accuracy" if k == "accuracy" else "rmse" if k == "rmse" else "test_ll"] = float(v)
    return out or None


def evaluate(model, d, seed, theta):
    tr, te = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
    if model == "logistic":
        return bc.evaluate_logistic(bc.LogisticData(tr, te, "label", seed), theta)
    return bc.evaluate_bnn(bc.BnnData(tr, te, "MEDV", 0.1), theta)


def moments(theta, nuts):
    """Per coordinate: |mean − mean_NUTS| / sd_NUTS and sd / sd_NUTS (particles' sd, ddof 1)."""
    theta = np.asarray(theta, np.float64)
    mu, sd = np.array(nuts["mean"]), np.array(nuts["std"])
    dm = np.abs(theta.mean(0) - mu) / sd
    ratio = theta.std(0, ddof=1) / sd
    return {"dmean_max": float(dm.max()), "dmean_median": float(np.median(dm)),
            "dmean_argmax": nuts["coords"][int(dm.argmax())],
            "sd_ratio_median": float(np.median(ratio)), "sd_ratio_min": float(ratio.min()),
            "sd_ratio_max": float(ratio.max())}


def brief(rec, keys):
    if rec.get("status") == "failed":
        return "FAILED: " + rec.get("error", "")
    return ", ".join(f"{k} {rec[k]:.4g}" for k in keys if isinstance(rec.get(k), (int, float)))


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def mse(values):
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3f} (1 split)"
    return f"{v.mean():.3f} ± {v.std(ddof=1) / math.sqrt(len(v)):.3f}"


NAMES = {"stein": "stein", "numpy": "svgd_numpy.py (float64)", "jax": "svgd_jax.py (float32, lax.scan)",
         "jax_python": "svgd_jax.py (float32, jitted step in a Python loop)",
         "nuts": "NumPyro NUTS (reference)"}


def ok_rows(records, tool):
    return [r for r in records if r.get("tool") == tool and r.get("status") == "ok"]


def not_run(records, tool):
    bad = [r for r in records if r.get("tool") == tool and r.get("status") != "ok"]
    return f"not run: {bad[0].get('error', '')}" if bad else "not yet run"


def evalnote(rows):
    return " (metrics by python-eval)" if any(r.get("eval") == "python-eval" for r in rows) else ""


def tables(exp, header):
    out = [header]
    recs = exp.records
    if "bnn" in recs:
        r = recs["bnn"]
        out += ["", "### (i) Bayesian neural network, Boston housing", "",
                "| implementation | splits | RMSE | test LL (dev rule) | test LL (no dev rule) "
                "| test LL (authors' γ units, dev rule) | mean wall s / split |",
                "|---|---|---|---|---|---|---|",
                f"| SVGD paper (Liu & Wang 2016) | 20 | {PAPER_BNN['rmse']} | {PAPER_BNN['test_ll']} "
                "| | | |"]
        for tool in exp.a.tools:
            rows = ok_rows(r, tool)
            if not rows:
                out.append(f"| {NAMES[tool]} | 0 | {not_run(r, tool)} | | | | |")
                continue
            var = lambda k: mse([x["variants"][k] for x in rows if "variants" in x])  # noqa
            out.append(f"| {NAMES[tool]}{evalnote(rows)} | {len(rows)} | "
                       f"{mse([x['rmse'] for x in rows])} | {mse([x['test_ll'] for x in rows])} | "
                       f"{var('ll_data_units_nodev')} | {var('ll_authors_units_dev')} | "
                       f"{np.mean([x['wall_s'] for x in rows]):.1f} |")
        out.append("\nmean ± standard error over splits; LL per test point, in the data's units.")
    if "logistic" in recs:
        r = recs["logistic"]
        out += ["", "### (ii) Bayesian logistic regression, breast cancer (80/20)", "",
                "| implementation | splits | accuracy | test LL | max \\|Δmean\\|/sd_NUTS "
                "| median \\|Δmean\\|/sd_NUTS | sd/sd_NUTS median [min, max] | mean wall s / split |",
                "|---|---|---|---|---|---|---|---|"]
        nuts = ok_rows(r, "nuts")
        if nuts:
            out.append(f"| {NAMES['nuts']} | {len(nuts)} | {mse([x['accuracy'] for x in nuts])} | "
                       f"{mse([x['test_ll'] for x in nuts])} | 0 | 0 | 1 | "
                       f"{np.mean([x['wall_s'] for x in nuts]):.1f} |")
        for tool in exp.a.tools:
            rows = ok_rows(r, tool)
            if not rows:
                out.append(f"| {NAMES[tool]} | 0 | {not_run(r, tool)} | | | | | |")
                continue
            mom = [x for x in rows if "dmean_max" in x]
            m = lambda k, f=np.median: f([x[k] for x in mom]) if mom else float("nan")  # noqa
            out.append(f"| {NAMES[tool]}{evalnote(rows)} | {len(rows)} | "
                       f"{mse([x['accuracy'] for x in rows])} | {mse([x['test_ll'] for x in rows])} | "
                       f"{m('dmean_max', np.max):.2f} | {m('dmean_median'):.2f} | "
                       f"{m('sd_ratio_median'):.2f} [{m('sd_ratio_min', np.min):.2f}, "
                       f"{m('sd_ratio_max', np.max):.2f}] | "
                       f"{np.mean([x['wall_s'] for x in rows]):.1f} |")
        if nuts:
            out.append(
                f"\nNUTS: {nuts[0]['chains']} chains × ({nuts[0]['warmup']} warm-up + "
                f"{nuts[0]['samples']}) per split; max split R-hat "
                f"{max(x['r_hat_max'] for x in nuts):.4f}, min ESS "
                f"{min(x['ess_min'] for x in nuts):.0f}, median ESS "
                f"{np.median([x['ess_median'] for x in nuts]):.0f}, divergences "
                f"{sum(x['divergences'] for x in nuts)}"
                + ("" if not any("score_mean_max_z" in x for x in nuts) else
                   "; Stein's identity at the samples, max |mean score| / s.e. "
                   f"{max(x.get('score_mean_max_z', 0) for x in nuts):.2f}")
                + ". Moments over the 32 coordinates of "
                "θ = (w, intercept, log α); max over splits of the max, median over splits of "
                "the medians.")
    if "check" in recs:
        out += ["", "### Cross-check: svgd_jax.py and stein against svgd_numpy.py", "",
                "| model | implementation, dtype | steps | max \\|Δ\\| | max \\|Δ\\| / max(1, \\|x\\|) "
                "| largest move from the start | values |", "|---|---|---|---|---|---|---|"]
        for x in recs["check"]:
            if x["status"] != "ok":
                out.append(f"| {x['model']} | {x['dtype']} | {x['steps']} | failed | | | |")
                continue
            out.append(f"| {x['model']} | {x['dtype']} | {x['steps']} | {x['max_abs_diff']:.2e} | "
                       f"{x['max_rel_diff']:.2e} | {x['max_move']:.3g} | {x['values']} |")
        out.append("\nSame initial particles (svgd_numpy.py's draws, --init-npy) and the same "
                   "minibatches; svgd_numpy.py in float64. stein's row: the full data (no "
                   "--score-batch), as its minibatch permutation is its own.")
    if "time" in recs:
        out += ["", "### (iii) Time to result (one process per run, first split)", "",
                "| model | implementation | iterations | wall s (whole run) | wall s (1 iteration) "
                "| ms / iteration | the tool's own ms / iteration | compile s |",
                "|---|---|---|---|---|---|---|---|"]
        for x in recs["time"]:
            if x["status"] != "ok":
                out.append(f"| {x['model']} | {NAMES[x['tool']]} | {x['iters']} | "
                           f"not run: {x.get('error', '')} | | | | |")
                continue
            own = x.get("own_per_iter_ms")
            out.append(f"| {x['model']} | {NAMES[x['tool']]} | {x['iters']} | {x['wall_s']:.2f} | "
                       f"{x['wall_1_s']:.2f} | {x['per_iter_ms']:.3f} | "
                       f"{'' if own is None else f'{own:.3f}'} | "
                       f"{'' if x.get('compile_s') is None else x['compile_s']} |")
        out.append("\nms / iteration = (wall(T) − wall(1)) / (T − 1) over fresh processes.")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 splits each, 200 BNN / 500 logistic iterations, short NUTS")
    ap.add_argument("--parts", default="check,bnn,logistic,time",
                    help="of check (svgd_jax.py vs svgd_numpy.py), bnn, logistic, time")
    ap.add_argument("--check-steps", type=int, default=5)
    ap.add_argument("--tools", default="stein,numpy,jax", help="of stein, numpy, jax")
    ap.add_argument("--time-models", default="bnn,logistic")
    ap.add_argument("--stein", default=os.environ.get("STEIN", "target/release/stein"))
    ap.add_argument("--machine", default="llvmpipe-2cores")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--bench", default="bench")
    ap.add_argument("--work")
    ap.add_argument("--suffix", default="", help="appended to the raw and table file names "
                    "(e.g. --suffix=-stein for a run of one tool)")
    ap.add_argument("--bnn-splits", type=int)
    ap.add_argument("--bnn-iters", type=int)
    ap.add_argument("--logistic-splits", type=int)
    ap.add_argument("--logistic-iters", type=int)
    ap.add_argument("--nuts-chains", type=int)
    ap.add_argument("--nuts-warmup", type=int)
    ap.add_argument("--nuts-samples", type=int)
    ap.add_argument("--no-nuts", dest="nuts", action="store_false")
    ap.add_argument("--overwrite", action="store_true", help="replace existing raw files")
    ap.add_argument("--from-raw", action="store_true",
                    help="run nothing: print the tables of the existing raw files")
    a = ap.parse_args()
    q = a.quick
    for k, full, quick in (("bnn_splits", 20, 2), ("bnn_iters", 2000, 200),
                           ("logistic_splits", 5, 2), ("logistic_iters", 6000, 500),
                           ("nuts_chains", 4, 2), ("nuts_warmup", 2000, 300),
                           ("nuts_samples", 5000, 500)):
        if getattr(a, k) is None:
            setattr(a, k, quick if q else full)
    a.tools = [t for t in a.tools.split(",") if t]
    a.time_models = a.time_models.split(",")
    parts = a.parts.split(",")
    if any(p not in ("check", "bnn", "logistic", "time") for p in parts):
        die("experiments: --parts takes check, bnn, logistic and time, comma-separated")
    if any(t not in ("stein", "numpy", "jax") for t in a.tools):
        die("experiments: --tools takes stein, numpy and jax, comma-separated")
    if "stein" in a.tools and not a.from_raw:
        a.stein = os.path.abspath(a.stein)
        if not os.access(a.stein, os.X_OK):
            die(f"experiments: no stein binary at {a.stein}; run cargo build --release or "
                     "set STEIN")
    a.work = a.work or os.path.join("out", "bayes-quick" if q else "bayes")
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.bench, exist_ok=True)
    exp = Experiment(a)
    for part in parts:
        p = exp.raw_path(part)
        if a.from_raw:
            if not os.path.exists(p):
                die(f"experiments: no raw file {p}; run the experiment first")
            exp.records[part] = [json.loads(l) for l in open(p) if l.strip()]
        elif os.path.exists(p):
            if not a.overwrite:
                die(f"experiments: {p} exists; pass --overwrite to replace it")
            os.remove(p)
    for part in parts if not a.from_raw else []:
        getattr(exp, {"bnn": "bnn", "logistic": "logistic", "time": "timing",
                      "check": "check"}[part])()
    header = (f"## Bayesian experiments on {a.machine}, {a.date}{' (quick subset)' if q else ''}\n\n"
              f"Settings: bnn {a.bnn_splits} splits × {a.bnn_iters} iterations; logistic "
              f"{a.logistic_splits} splits × {a.logistic_iters} iterations; raw records in "
              + ", ".join(os.path.basename(exp.raw_path(p)) for p in parts) + ".")
    md = tables(exp, header)
    md_path = os.path.join(a.bench, f"{a.machine}-{a.date}-bayes{'-quick' if q else ''}"
                           f"-{'-'.join(parts)}{a.suffix}.md")
    with open(md_path, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
