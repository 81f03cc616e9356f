"""Throughput of :func:`learnedmin.minimize_batch` on channel estimation (``learnedmin-bench batch``).

The same random channels (:func:`learnedmin.problems.channel.sample`: P paths, M subcarriers,
starts perturbed from the truth) are solved by

* ``minimize_batch`` -- all instances in one call (numpy; torch on a device when asked), with
  ``jac=True`` (the quasi-Newton slot) and with the Gauss-Newton matrix ``2 J'J`` as ``hess``
  (Newton-CG on the information LM uses);
* a Python loop over ``scipy.optimize.least_squares(method="lm")`` (MINPACK's
  Levenberg-Marquardt on the residual and its Jacobian);
* a Python loop over ``scipy.optimize.minimize(method=learned)``.

Each reports instances per second (wall time of the whole solve, one process), the share of
instances whose delays are all resolved (within half a resolution cell of the truth) and the
RMSE of the resolved delays over the root of the mean Cramér-Rao bound. The loops run on the
first ``loop_limit`` instances when B is larger (their cost per instance does not depend on B);
the table says how many ran. Ratios are throughputs divided by the LM loop's, measured in the
same run.
"""

import math
import time

import numpy as np

from .._xp import array_namespace
from ..problems import channel as ch

__all__ = ["measure_batch", "format_batch"]

WEIGHTS = "channel"


def _delay_errors(theta, s, P):
    """Delay errors in resolution cells (paths matched in sorted order, circular distance)."""
    period = 1.0 / float(s.freqs[1] - s.freqs[0])
    est = np.sort(np.mod(theta[:, :P], period), axis=-1)
    true = np.sort(np.mod(s.theta_true[:, :P], period), axis=-1)
    d = np.abs(np.mod(est - true + period / 2, period) - period / 2) / s.cell
    return np.where(np.all(np.isfinite(theta[:, :P]), axis=-1)[:, None], d, np.inf)


def _quality(theta, s, P, root_crb):
    errors = _delay_errors(theta, s, P)
    resolved = np.all(errors <= 0.5, axis=-1)
    rmse = math.sqrt(float(np.mean(errors[resolved] ** 2))) if resolved.any() else math.nan
    return float(resolved.mean()), rmse / root_crb


def _lm_loop(s, count):
    from scipy.optimize import least_squares

    out = np.empty((count, s.theta0.shape[-1]))
    for i in range(count):
        y = s.y[i]
        out[i] = least_squares(lambda t: ch.residual(t, y, s.freqs), s.theta0[i],
                               jac=lambda t: ch.jacobian(t, s.freqs), method="lm").x
    return out


def _learned_loop(s, count):
    from scipy.optimize import minimize

    method = _method()
    out = np.empty((count, s.theta0.shape[-1]))
    for i in range(count):
        y = s.y[i]
        out[i] = minimize(lambda t: ch.cost_and_gradient(t, y, s.freqs), s.theta0[i],
                          jac=True, method=method).x
    return out


def _gauss_newton(theta, freqs):
    J = ch.jacobian(theta, freqs)
    return 2 * (array_namespace(J).matrix_transpose(J) @ J)


def _batch(s, device, gauss_newton):
    from .. import minimize_batch

    theta0, y, freqs = s.theta0, s.y, s.freqs
    if device is not None:
        import torch

        theta0, y, freqs = (torch.from_numpy(a).to(device) for a in (theta0, y, freqs))

    def fg(theta, y):
        return ch.cost_and_gradient(theta, y, freqs)

    def hess(theta, y):
        return _gauss_newton(theta, freqs)

    res = minimize_batch(fg, theta0, args=(y,), jac=True, hess=hess if gauss_newton else None,
                         weights=WEIGHTS)
    if device is None:
        return res.x
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return res.x.cpu().numpy()


def _method():
    from ..batch import _minimizer

    return _minimizer(WEIGHTS)


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def measure_batch(sizes=(1, 100, 10_000), P=3, M=64, snr_db=20.0, seed=0, loop_limit=500,
                  device=None, progress=None):
    """Rows of the throughput table, one per (B, solver).

    ``device``: ``None`` for numpy; a torch device name to run ``minimize_batch`` on torch
    tensors there.
    """
    if device is not None:
        import torch

        device = torch.device(device)
    # the archive is loaded once, outside the timings
    _method().policy
    rows = []
    for B in sizes:
        s = ch.sample(seed, P=P, M=M, snr_db=snr_db, batch=B)
        root_crb = math.sqrt(float(np.mean(np.diagonal(ch.crb(s.theta_true, s.freqs, s.sigma2),
                                                       axis1=-2, axis2=-1)[:, :P]))) / s.cell
        count = min(B, loop_limit)
        head = s._replace(y=s.y[:count], theta_true=s.theta_true[:count],
                          theta0=s.theta0[:count], sigma2=s.sigma2[:count])
        on = "" if device is None else f", {device}"
        solvers = (("LM loop", _lm_loop, (head, count), count),
                   ("learned loop", _learned_loop, (head, count), count),
                   (f"minimize_batch (jac=True{on})", _batch, (s, device, False), B),
                   (f"minimize_batch (Gauss-Newton hess{on})", _batch, (s, device, True), B))
        base = None
        for name, fn, args, n in solvers:
            if progress:
                progress(f"B = {B}: {name} on {n} instances")
            theta, seconds = _timed(fn, *args)
            sample = head if n == count else s
            resolved, ratio = _quality(theta, sample, P, root_crb)
            rate = n / seconds
            base = rate if base is None else base
            rows.append({"B": B, "solver": name, "instances": n, "seconds": seconds,
                         "per_second": rate, "ratio_to_lm": rate / base,
                         "resolved": resolved, "rmse_over_root_crb": ratio})
    return {"P": P, "M": M, "snr_db": snr_db, "seed": seed, "rows": rows}


def format_batch(result):
    """The throughput table as Markdown."""
    lines = [f"Channel estimation, P = {result['P']}, M = {result['M']}, "
             f"{result['snr_db']:g} dB, starts perturbed from the truth (seed {result['seed']}).",
             "",
             "| B | solver | instances run | instances / s | ratio to LM loop | resolved | "
             "RMSE / √CRB |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['B']} | {r['solver']} | {r['instances']} | {r['per_second']:.0f} | "
                     f"{r['ratio_to_lm']:.2f} | {100 * r['resolved']:.1f} % | "
                     f"{r['rmse_over_root_crb']:.2f} |")
    lines += ["", "instances / s: instances solved per second of wall time; ratio: throughput "
              "over the LM loop's at the same B; resolved: every delay within half a resolution "
              "cell of the truth; RMSE / √CRB: root-mean-square delay error of the resolved "
              "instances over the root of the mean Cramér-Rao bound."]
    return "\n".join(lines)
