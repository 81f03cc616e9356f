"""Figure: the weights the bundled network chooses on a quadratic, beside the Chebyshev steps.

Regenerate with::

    python docs/scripts/weights_vs_chebyshev.py

It minimises f(x) = 1/2 (x - x*)' A (x - x*) with ``minimize(method=learned)``, A = Q diag(lam) Q'
with eigenvalues spread evenly over [LAM_MIN, LAM_MAX] and a random orthogonal Q, and plots

1. ``res.step_weights`` (one line per candidate slot);
2. the *effective gradient step* gamma_k = -s_k' g_k / |g_k|^2 of every step taken (the length of
   the gradient-descent step that makes the same progress along -g_k), beside the Chebyshev steps
   of Takabe & Wadayama (2020) for the same spectrum and the stability limit 2 / LAM_MAX;
3. the error |x_k - x*| of the learned run, of L-BFGS-B (a quasi-Newton method with a line
   search, the fair comparison for the run), of gradient descent with the Chebyshev steps and of
   gradient descent with the best constant step 2 / (LAM_MIN + LAM_MAX).

While the bundled network is untrained (it outputs the classical weights (0, 0, 1)), the learned
run *is* the classical rule (dense BFGS behind the line search) and the titles say so.
"""

import argparse

import numpy as np

from _common import STATIC, save

N = 200
LAM_MIN, LAM_MAX = 1.0, 31.0   # kappa = 31, the setting of Takabe & Wadayama
T_CHEB = 8                     # period of the Chebyshev steps
ITERATIONS = 48
SEED = 0


def chebyshev_steps(lam_min, lam_max, T):
    """gamma_k = 1 / [(lmax+lmin)/2 + (lmax-lmin)/2 cos((2k+1) pi / (2T))], k = 0..T-1."""
    k = np.arange(T)
    return 1.0 / ((lam_max + lam_min) / 2 + (lam_max - lam_min) / 2
                  * np.cos((2 * k + 1) * np.pi / (2 * T)))


def gradient_descent(A, x0, x_star, steps):
    x, errors = x0.copy(), [np.linalg.norm(x0 - x_star)]
    for gamma in steps:
        x = x - gamma * (A @ (x - x_star))
        errors.append(np.linalg.norm(x - x_star))
    return np.array(errors)


def main(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.optimize import minimize

    from learnedmin import learned

    rng = np.random.default_rng(SEED)
    lam = np.linspace(LAM_MIN, LAM_MAX, N)
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    A = (Q * lam) @ Q.T
    x_star = rng.standard_normal(N)
    x0 = x_star + rng.standard_normal(N)

    def fun(x):
        e = x - x_star
        return 0.5 * e @ A @ e

    def jac(x):
        return A @ (x - x_star)

    res = minimize(fun, x0, jac=jac, method=learned,
                   options={"maxiter": ITERATIONS, "gtol": 1e-13, "return_all": True})
    xs = np.array(res.allvecs)
    steps = np.diff(xs, axis=0)
    grads = np.array([jac(x) for x in xs[:-1]])
    gamma_eff = -np.einsum("ij,ij->i", steps, grads) / np.einsum("ij,ij->i", grads, grads)
    err_learned = np.linalg.norm(xs - x_star, axis=1)

    cheb = chebyshev_steps(LAM_MIN, LAM_MAX, T_CHEB)
    K = len(steps)
    cheb_run = np.resize(cheb, K)
    err_cheb = gradient_descent(A, x0, x_star, cheb_run)
    err_const = gradient_descent(A, x0, x_star, np.full(K, 2.0 / (LAM_MIN + LAM_MAX)))

    lbfgsb = [x0.copy()]
    minimize(fun, x0, jac=jac, method="L-BFGS-B", callback=lambda xk: lbfgsb.append(xk.copy()),
             options={"maxiter": ITERATIONS, "gtol": 1e-13, "ftol": 0.0})
    err_lbfgsb = np.linalg.norm(np.array(lbfgsb) - x_star, axis=1)

    trained = bool(learned.metadata.get("trained"))
    run_label = "learned" if trained else "learned (untrained: the classical rule)"

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    for i, slot in enumerate(("gradient", "momentum", "second order")):
        ax.plot(np.arange(K), res.step_weights[:K, i], marker=".", label=slot)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("weight $a_{k,i}$")
    ax.set_title("weights of the bundled network" + ("" if trained else
                                                     "\n(untrained: constant (0, 0, 1))"),
                 fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.semilogy(np.arange(K), gamma_eff, "o-", ms=3,
                label=run_label + r": $-s_k^\top g_k/\|g_k\|^2$")
    ax.semilogy(np.arange(K), cheb_run, "s--", ms=3, label=f"Chebyshev steps, T = {T_CHEB}")
    ax.axhline(2 / LAM_MAX, color="k", lw=0.8, ls=":",
               label=r"$2/\lambda_{\max}$ (stability limit of a constant step)")
    ax.set_xlabel("iteration k")
    ax.set_ylabel(r"effective gradient step $\gamma_k$")
    ax.set_title(rf"step sizes, $\lambda \in [{LAM_MIN:g}, {LAM_MAX:g}]$", fontsize=10)
    ax.legend(fontsize=7)

    ax = axes[2]
    ax.semilogy(err_learned, label=run_label)
    ax.semilogy(err_lbfgsb, label="L-BFGS-B")
    ax.semilogy(err_cheb, label="GD, Chebyshev steps")
    ax.semilogy(err_const, label="GD, best constant step")
    ax.set_xlabel("iteration k")
    ax.set_ylabel(r"$\|x_k - x^\star\|$")
    ax.set_title(f"error, n = {N}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=STATIC / "weights_vs_chebyshev.png")
    main(parser.parse_args().out)
