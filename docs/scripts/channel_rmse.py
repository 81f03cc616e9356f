"""Figure: delay RMSE against SNR for channel estimation, with the Cramér-Rao bound.

Regenerate with::

    python docs/scripts/channel_rmse.py

For every SNR it draws ``--trials`` random channels with :func:`learnedmin.problems.channel.sample`
(``P`` paths on ``M`` subcarriers, natural units: delays as fractions of the unambiguous range,
the badly scaled case), starts every estimator from the same perturbed truth and compares

* ``minimize(method=learned)`` with the gradient only (L-BFGS in the second-order slot),
* ``minimize(method=learned)`` with the Gauss-Newton product as ``hessp``,
* ``scipy.optimize.least_squares(method="lm")`` (Levenberg-Marquardt),

by the root-mean-square delay error in resolution cells, beside the square root of the mean
Cramér-Rao bound on the delays, and by the share of runs that resolve every path (all delays within
half a cell of the truth).
"""

import argparse
import time

import numpy as np

from _common import STATIC, save

P, M = 2, 32
SNR_DB = np.arange(-10.0, 31.0, 5.0)
SEED = 2024
SAMPLE_OPTIONS = {"units": "natural", "min_separation": 1.0, "delay_perturbation": 0.45}


def estimators():
    from scipy.optimize import least_squares, minimize

    from learnedmin import learned

    def learned_gradient(prob):
        return minimize(prob.fun, prob.x0, jac=prob.jac, method=learned).x

    def learned_gauss_newton(prob):
        return minimize(prob.fun, prob.x0, jac=prob.jac, hessp=prob.hessp, method=learned).x

    def levenberg_marquardt(prob):
        return least_squares(prob.residual, prob.x0, jac=prob.jacobian, method="lm").x

    return {
        "learned (gradient only)": learned_gradient,
        "learned + Gauss-Newton hessp": learned_gauss_newton,
        "least_squares(method='lm')": levenberg_marquardt,
    }


def measure(trials):
    from learnedmin.problems.channel import ChannelProblem, sample

    methods = estimators()
    rng = np.random.default_rng(SEED)
    sq_err = {name: np.zeros(len(SNR_DB)) for name in methods}
    resolved = {name: np.zeros(len(SNR_DB)) for name in methods}
    crb = np.zeros(len(SNR_DB))
    for i, snr in enumerate(SNR_DB):
        for _ in range(trials):
            prob = ChannelProblem.from_sample(sample(rng, P, M, snr, **SAMPLE_OPTIONS))
            crb[i] += np.mean((prob.crb_delay() / prob.cell) ** 2)
            for name, method in methods.items():
                errors = prob.delay_errors(method(prob))
                sq_err[name][i] += np.mean(errors ** 2)
                resolved[name][i] += np.all(errors <= 0.5)
        print(f"SNR {snr:5.1f} dB done")
    rmse = {name: np.sqrt(v / trials) for name, v in sq_err.items()}
    share = {name: v / trials for name, v in resolved.items()}
    return rmse, share, np.sqrt(crb / trials)


def main(out, trials):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    rmse, share, root_crb = measure(trials)
    print(f"measured in {time.perf_counter() - t0:.0f} s")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    ax = axes[0]
    markers = iter("os^")
    for name, values in rmse.items():
        ax.semilogy(SNR_DB, values, marker=next(markers), ms=4, label=name)
    ax.semilogy(SNR_DB, root_crb, "k--", label=r"$\sqrt{\mathrm{CRB}}$")
    ax.set_xlabel("SNR (dB, total path power per subcarrier)")
    ax.set_ylabel("delay RMSE (resolution cells)")
    ax.set_title(f"P = {P} paths, M = {M} subcarriers, {trials} channels per SNR", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    markers = iter("os^")
    for name, values in share.items():
        ax.plot(SNR_DB, values, marker=next(markers), ms=4, label=name)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("share of runs resolving every path")
    ax.set_title("all delays within 0.5 cell of the truth", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=STATIC / "channel_rmse.png")
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    main(args.out, args.trials)
