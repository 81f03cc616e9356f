"""Best relative error within a budget of evaluations (f and g together, ``jac=True``) on the
least-squares setting of Takabe & Wadayama: ``f(x) = |Ax - b|^2 / 2``, ``A`` 600 x 300 Gaussian,
``x* ~ N(0, I)``, ``b = A x*``, ``x0 = 0``; mean over instances.

Run: ``python docs/scripts/evaluations.py [--instances 5] [--budget 32]``.
"""

import argparse

import numpy as np
from scipy.optimize import minimize

from learnedmin import LearnedMinimizer


def best_errors(method, A, b, x_star, budget, options):
    """``min |x - x*|^2 / |x*|^2`` over the first ``budget`` points ``fun`` was called at."""
    errors = []

    def fg(x):
        errors.append(float(np.sum((x - x_star) ** 2) / np.sum(x_star ** 2)))
        r = A @ x - b
        return 0.5 * float(r @ r), A.T @ r

    minimize(fg, np.zeros(A.shape[1]), jac=True, method=method, options=options)
    return min(errors[:budget])


def conjugate_gradients(A, b, x_star, steps):
    """Relative error of CG on the normal equations after ``steps`` iterations."""
    H, rhs = A.T @ A, A.T @ b
    x = np.zeros(A.shape[1])
    r = rhs - H @ x
    p = r.copy()
    for _ in range(steps):
        Hp = H @ p
        alpha = (r @ r) / (p @ Hp)
        x = x + alpha * p
        r_new = r - alpha * Hp
        p = r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
    return float(np.sum((x - x_star) ** 2) / np.sum(x_star ** 2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5)
    parser.add_argument("--budget", type=int, default=32)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    methods = {
        "learned (jac=True, default: no refinement)": (LearnedMinimizer(), {}),
        "learned (jac=True, refine=True)": (LearnedMinimizer(refine=True), {}),
        "L-BFGS-B": ("L-BFGS-B", {"maxfun": args.budget}),
    }
    results = {name: [] for name in methods}
    cg = []
    for _ in range(args.instances):
        A = rng.standard_normal((600, 300)) / np.sqrt(300)
        x_star = rng.standard_normal(300)
        b = A @ x_star
        for name, (method, extra) in methods.items():
            options = {"maxiter": 4 * args.budget, "gtol": 1e-14, **extra}
            results[name].append(best_errors(method, A, b, x_star, args.budget, options))
        cg.append(conjugate_gradients(A, b, x_star, args.budget))
    print(f"best relative error within {args.budget} evaluations, mean of {args.instances} "
          "instances")
    for name, values in results.items():
        print(f"  {name:45s} {np.mean(values):.2e}")
    print(f"  {'conjugate gradients, ' + str(args.budget) + ' iterations':45s} {np.mean(cg):.2e}")


if __name__ == "__main__":
    main()
