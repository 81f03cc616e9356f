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

__all__ = ["ChannelKernel", "measure_batch", "format_batch"]

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
        kernel = ChannelKernel(s.freqs)
        yi = _stacked(y)[None]
        out[i] = minimize(lambda t: tuple(v[0] for v in kernel.cost_and_gradient(t[None], yi)),
                          s.theta0[i], jac=True, method=method).x
    return out


class ChannelKernel:
    """Cost, gradient and Gauss-Newton matrix of the channel model for a batch, as an estimation
    user would write them for :func:`~learnedmin.minimize_batch`: one evaluation of the phases'
    cosines and sines serves the cost and the gradient (``jac=True``), and the Gauss-Newton matrix
    ``2 Re{D^H D}`` at the same point reuses them (``hess``).

    ``y`` is the stacked real observation ``[Re y, Im y]`` (B, 2M); numpy or torch arrays.
    """

    def __init__(self, freqs):
        self.freqs = freqs
        self._point = None  # (theta, C, S) of the last cost evaluation

    def _einsum(self, theta):
        if type(theta).__module__.startswith("torch"):
            import torch

            return torch.einsum
        return np.einsum

    def _phases(self, theta):
        xp = array_namespace(theta)
        P = theta.shape[-1] // 3
        phase = (2 * math.pi) * (theta[:, :P, None] * self.freqs)  # (B, P, M)
        return xp.cos(phase), xp.sin(phase)

    def cost_and_gradient(self, theta, y):
        """``(cost (B,), gradient (B, 3P))``; see :func:`learnedmin.problems.channel.gradient`."""
        xp, einsum = array_namespace(theta), self._einsum(theta)
        P, M = theta.shape[-1] // 3, y.shape[-1] // 2
        a, b = theta[:, P:2 * P], theta[:, 2 * P:]
        C, S = self._phases(theta)
        # s = sum_p (a + jb)(C - jS): Re = aC + bS, Im = bC - aS
        rr = y[:, :M] - einsum("bpm,bp->bm", C, a) - einsum("bpm,bp->bm", S, b)
        ri = y[:, M:] - einsum("bpm,bp->bm", C, b) + einsum("bpm,bp->bm", S, a)
        cost = xp.sum(rr * rr, axis=-1) + xp.sum(ri * ri, axis=-1)
        # conj(E)' r = (C rr - S ri) + j (C ri + S rr), also weighted by 2 pi f_m
        w = (2 * math.pi) * self.freqs
        c_re = einsum("bpm,bm->bp", C, rr) - einsum("bpm,bm->bp", S, ri)
        c_im = einsum("bpm,bm->bp", C, ri) + einsum("bpm,bm->bp", S, rr)
        cw_re = einsum("bpm,bm->bp", C, rr * w) - einsum("bpm,bm->bp", S, ri * w)
        cw_im = einsum("bpm,bm->bp", C, ri * w) + einsum("bpm,bm->bp", S, rr * w)
        self._point = (theta, C, S)
        return cost, xp.concat([2 * (a * cw_im - b * cw_re), -2 * c_re, -2 * c_im], axis=-1)

    def gauss_newton(self, theta, y):
        """``2 Re{D^H D}`` (B, 3P, 3P), from the cosines and sines of the last cost evaluation
        when it was at the same points.

        With ``E = C - jS`` and ``K_k = sum_m w_m^k conj(E_p) E_q`` (``w = 2 pi f``), the blocks
        are ``conj(g_p) g_q K_2`` (delays), ``j conj(g_p) K_1`` and ``-conj(g_p) K_1`` (delay and
        weights) and ``K_0``, ``j K_0``, ``K_0`` (weights): three Gram matrices of ``[C; S]``
        instead of the product of the (2M x 3P) Jacobian with itself.
        """
        xp, einsum = array_namespace(theta), self._einsum(theta)
        P = theta.shape[-1] // 3
        last = self._point
        if last is not None and last[0].shape == theta.shape and bool(xp.all(last[0] == theta)):
            C, S = last[1], last[2]
        else:
            C, S = self._phases(theta)
        w = (2 * math.pi) * self.freqs
        X = xp.concat([C, S], axis=-2)  # (B, 2P, M)
        K = []
        for k in range(3):
            G = einsum("bim,bjm->bij", X * w ** k, X)
            cc, cs, sc, ss = G[:, :P, :P], G[:, :P, P:], G[:, P:, :P], G[:, P:, P:]
            K.append((cc + ss, sc - cs))  # K_k = (C + jS) W^k (C - jS)^T: (real, imaginary)
        a, b = theta[:, P:2 * P], theta[:, 2 * P:]
        ar, br, ac, bc = a[:, :, None], b[:, :, None], a[:, None, :], b[:, None, :]
        # conj(g_p) g_q = (a_p a_q + b_p b_q) + j (a_p b_q - b_p a_q)
        gg_re, gg_im = ar * ac + br * bc, ar * bc - br * ac
        k0, k1, k2 = K
        tt = gg_re * k2[0] - gg_im * k2[1]                    # Re(conj(g_p) g_q K2)
        ta = br * k1[0] - ar * k1[1]                          # Re(j conj(g_p) K1) = -Im(conj(g_p) K1)
        tb = -(ar * k1[0] + br * k1[1])                       # Re(-conj(g_p) K1)
        aa, ab = k0[0], -k0[1]                                # Re K0, Re(j K0) = -Im K0
        rows = [xp.concat([tt, ta, tb], axis=-1),
                xp.concat([xp.matrix_transpose(ta), aa, ab], axis=-1),
                xp.concat([xp.matrix_transpose(tb), xp.matrix_transpose(ab), aa], axis=-1)]
        return 2 * xp.concat(rows, axis=-2)


def _stacked(y):
    return np.concatenate([y.real, y.imag], axis=-1)


def _batch(s, device, gauss_newton):
    from .. import minimize_batch

    theta0, y, freqs = s.theta0, _stacked(s.y), s.freqs
    if device is not None:
        import torch

        theta0, y, freqs = (torch.from_numpy(a).to(device) for a in (theta0, y, freqs))
    kernel = ChannelKernel(freqs)
    res = minimize_batch(kernel.cost_and_gradient, theta0, args=(y,), jac=True,
                         hess=kernel.gauss_newton if gauss_newton else None, weights=WEIGHTS)
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
