"""Figure and table: what the least-squares network learned, beside Chebyshev steps.

Regenerate with::

    python docs/scripts/weights_vs_chebyshev.py

Takabe & Wadayama's setting (:mod:`learnedmin.bench.unfolding`): 1/2 |A x - b|^2 with A 600 x 300
Gaussian, x* ~ N(0, I), b = A x*, x0 = 0, error |x - x*|^2 / |x*|^2. On the same held-out
instances it runs

* ``LearnedMinimizer(weights="least_squares", budget=T)`` with ``jac=True`` (the bundled network,
  trained for T = 32), and the classical rule ``FixedWeights((0, 0, 1))`` with the same budget;
* L-BFGS-B with ``maxfun = T``;
* gradient descent with the best constant step, the optimal fixed schedule of T steps for the
  ensemble (deep unfolding trained to convergence), the Chebyshev steps of each instance's exact
  extreme eigenvalues, and conjugate gradients (one evaluation per step each).

It writes ``docs/_static/weights_vs_chebyshev.png`` (left: the *effective gradient step*
``gamma_k = -s_k' g_k / |g_k|^2`` of each step the network took, in units of ``1 / lambda_max``,
beside the Chebyshev steps and the optimal schedule; right: the mean error against the
evaluations spent) and prints the Markdown table of the mean errors at budgets 16, 32 and 64
that ``docs/learned-steps.md`` quotes.
"""

import argparse
import time
import warnings

import numpy as np
from _common import STATIC, save

from learnedmin import FixedWeights, LearnedMinimizer
from learnedmin.bench import unfolding as uf

BUDGETS = (16, 32, 64)
TRAINED_FOR = 32


def _run(method, A, b, x_star, budget):
    """``(error at the end, error after each evaluation (budget,), effective steps)``."""
    from scipy.optimize import minimize

    n = A.shape[1]
    evaluations = []  # error at each evaluated point, in order

    def fg(x):
        r = A @ x - b
        evaluations.append(x.copy())
        return 0.5 * float(r @ r), A.T @ r

    path, steps = [np.zeros(n)], []

    def record(x):
        g = A.T @ (A @ path[-1] - b)
        steps.append(-float((x - path[-1]) @ g) / float(g @ g))
        path.append(x.copy())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(fg, np.zeros(n), jac=True, method=method, callback=record,
                       options={"budget": budget, "gtol": 0.0})
    # the error of the point the run held after each evaluation (an accepted trial is held
    # from its own evaluation on)
    accepted = {p.tobytes() for p in path}
    current, curve = uf.error(np.zeros(n)[None], x_star[None])[0], []
    for x in evaluations:
        if x.tobytes() in accepted:
            current = uf.error(x[None], x_star[None])[0]
        curve.append(current)
    curve = (curve + [curve[-1]] * budget)[:budget]  # after evaluations 1 .. budget
    _last.append(res.x)
    return uf.error(res.x[None], x_star[None])[0], np.array(curve), np.array(steps)


_last = []  # the points the last calls of _run returned, in order


def _value(A, b, x):
    r = A @ x - b
    return 0.5 * float(r @ r)


def _conditioned(rng, batch, kappa, m=600, n=300):
    """``(A, b, x*)`` with the singular values of a Gaussian ``A`` replaced by values spread
    geometrically over ``[1, sqrt(kappa)]`` (so ``A'A`` has condition number ``kappa``)."""
    A, b, x_star = [], [], []
    for _ in range(batch):
        U, _, Vt = np.linalg.svd(rng.standard_normal((m, n)), full_matrices=False)
        a = (U * np.geomspace(1.0, np.sqrt(kappa), n)) @ Vt
        x = rng.standard_normal(n)
        A.append(a), b.append(a @ x), x_star.append(x)
    return np.array(A), np.array(b), np.array(x_star)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    ref = uf.references(seed=args.seed, instances=args.instances, T=max(BUDGETS))
    A, b, x_star = uf.sample(np.random.default_rng([args.seed, 1]), args.instances)
    lam_min, lam_max = uf.extreme_eigenvalues(A)
    methods = {"learned (least_squares)": LearnedMinimizer(weights="least_squares"),
               "classical rule": LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0)))}
    table, curves, effective = {}, {}, []
    for name, method in methods.items():
        for budget in BUDGETS:
            out = [_run(method, A[i], b[i], x_star[i], budget) for i in range(args.instances)]
            table[(name, budget)] = float(np.mean([o[0] for o in out]))
            if budget == TRAINED_FOR:
                curves[name] = np.mean([o[1] for o in out], axis=0)
                if name.startswith("learned"):
                    effective = [o[2] * lam for o, lam in zip(out, lam_max)]
    for budget in BUDGETS:
        errors, _ = uf.lbfgsb(A, b, x_star, budget)
        table[("L-BFGS-B", budget)] = float(np.mean(errors))
    gd = {"GD, best constant step": ref["methods"]["gd_constant"]["curve"],
          "GD, optimal fixed schedule": None,
          "GD, Chebyshev steps (exact spectrum)": None,
          "conjugate gradients": ref["methods"]["cg"]["curve"]}
    for budget in BUDGETS:
        cheb = uf.chebyshev_steps(lam_min, lam_max, budget)
        table[("GD, Chebyshev steps (exact spectrum)", budget)] = float(np.mean(
            uf.gd_errors(A, b, x_star, cheb)[:, -1]))
        table[("conjugate gradients", budget)] = float(ref["methods"]["cg"]["curve"][budget])
        table[("GD, best constant step", budget)] = float(
            ref["methods"]["gd_constant"]["curve"][budget])
    train = uf.sample(np.random.default_rng([args.seed, 0]), 32)
    optimal = uf.optimal_schedule(*train, TRAINED_FOR)
    table[("GD, optimal fixed schedule", TRAINED_FOR)] = float(np.mean(
        uf.gd_errors(A, b, x_star, optimal)[:, -1]))
    gd["GD, optimal fixed schedule"] = np.mean(uf.gd_errors(A, b, x_star, optimal), axis=0)
    cheb32 = uf.chebyshev_steps(lam_min, lam_max, TRAINED_FOR)
    gd["GD, Chebyshev steps (exact spectrum)"] = np.mean(uf.gd_errors(A, b, x_star, cheb32),
                                                          axis=0)
    names = list(methods) + ["L-BFGS-B"] + list(gd)
    lines = ["Generated by `python docs/scripts/weights_vs_chebyshev.py` (do not edit by hand): "
             f"mean error $\\lVert x - x^*\\rVert^2 / \\lVert x^*\\rVert^2$ over "
             f"{args.instances} held-out instances (seed {args.seed}), `jac=True`, "
             f"{time.perf_counter() - t0:.0f} s.", "",
             "| method | " + " | ".join(f"{T} evaluations" for T in BUDGETS) + " |",
             "|---|" + "--:|" * len(BUDGETS)]
    for name in names:
        cells = [f"{table[(name, T)]:.2g}" if (name, T) in table else "–" for T in BUDGETS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "The same network (trained for condition number about 32) on spectra it never saw: "
              "A with singular values spread geometrically so that A'A has condition number "
              f"kappa, {args.instances // 2} instances each, 32 evaluations:", "",
              "| kappa | method | mean error | largest f(x) / f(x0) at the end |", "|---|---|--:|--:|"]
    for kappa in (100, 1000):
        A_k, b_k, x_k = _conditioned(np.random.default_rng([args.seed, 2, kappa]),
                                     args.instances // 2, kappa)
        for name, method in methods.items():
            ends = [_run(method, A_k[i], b_k[i], x_k[i], TRAINED_FOR)[0]
                    for i in range(len(A_k))]
            points = _last[-len(A_k):]
            ratio = max(_value(A_k[i], b_k[i], points[i]) / _value(A_k[i], b_k[i], 0.0 * x_k[i])
                        for i in range(len(A_k)))
            lines.append(f"| {kappa} | {name} | {np.mean(ends):.2g} | {ratio:.2g} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = STATIC.parent / "benchmarks" / "learned_steps.md"
    out.write_text(text)
    print(f"wrote {out}")
    _figure(effective, optimal * lam_max.mean(), cheb32 * lam_max[:, None], curves, gd)


def _figure(effective, optimal, chebyshev, curves, gd):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for steps in effective:
        left.plot(np.arange(1, steps.size + 1), steps, color="C0", alpha=0.3, lw=1)
    left.plot([], [], color="C0", label="network: effective gradient step, each instance")
    k = np.arange(1, optimal.size + 1)
    left.plot(k, np.sort(optimal), "s", color="C2", ms=4,
              label="optimal fixed schedule (sorted)")
    left.plot(k, np.sort(chebyshev.mean(axis=0)), "o", color="C3", ms=4, mfc="none",
              label="Chebyshev steps (sorted)")
    left.axhline(1.0, color="k", lw=0.6, ls=":")
    left.set_yscale("log")
    left.set_xlabel("iteration k")
    left.set_ylabel(r"step $\times\ \lambda_{\max}$")
    left.set_title("Step along the gradient, in units of $1/\\lambda_{\\max}$")
    left.legend(fontsize=8)
    for name, curve in curves.items():
        right.semilogy(np.arange(1, curve.size + 1), curve, lw=2, label=name)
    for name, curve in gd.items():
        right.semilogy(np.arange(min(curve.size, TRAINED_FOR + 1)),
                       curve[:TRAINED_FOR + 1], lw=1, ls="--", label=name)
    right.set_xlabel("evaluations of f and g")
    right.set_ylabel(r"mean $|x - x^*|^2 / |x^*|^2$")
    right.set_title(f"Error against evaluations (budget {TRAINED_FOR})")
    right.legend(fontsize=8)
    fig.tight_layout()
    save(fig, STATIC / "weights_vs_chebyshev.png")


if __name__ == "__main__":
    main()
