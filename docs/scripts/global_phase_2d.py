"""Before and after: the classical rule and a trained global phase on delay x angle estimation.

The retraining guide's second family (``channel2d_concentrated_wide``: 2 or 3 paths, delays and
angles of the start off by up to 0.3 to 2 resolution cells, the path weights eliminated). Every
method runs on the same held-out instances (seeds never used in training), with the concentrated
Gauss-Newton matrix as ``hess``; success is every delay and every angle within half a resolution
cell of the truth. Prints one line per (start width, P)::

    python docs/scripts/global_phase_2d.py --weights runs/channel2d/weights.pt
"""

import argparse
import warnings

import _common  # noqa: F401  (puts the checkout first on sys.path)
import numpy as np
from scipy.optimize import least_squares, minimize

from learnedmin import FixedWeights, LearnedMinimizer
from learnedmin.problems.concentrated import ConcentratedProblem2D


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="the trained archive (.pt)")
    parser.add_argument("--instances", type=int, default=50, help="instances per setting")
    parser.add_argument("--widths", default="0.3,1.0,1.5", help="start widths in cells")
    parser.add_argument("--seed", type=int, default=70_000)
    args = parser.parse_args(argv)
    methods = {
        "LM": None,
        "classical": LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0))),
        "trained": LearnedMinimizer(weights=args.weights, trust_weights=True),
    }
    print(f"resolved (%) over {args.instances} held-out instances per row, "
          "M = 32 subcarriers, K = 8 antennas, 20 dB")
    print("| start (cells) | P | " + " | ".join(methods) + " |")
    print("|---|---|" + "---|" * len(methods))
    for width in (float(w) for w in args.widths.split(",")):
        for P in (2, 3):
            wins = {name: 0 for name in methods}
            for trial in range(args.instances):
                rng = np.random.default_rng([args.seed, P, trial])
                prob = ConcentratedProblem2D.random(rng, P, 32, 8, 20.0, units="scaled",
                                                    delay_perturbation=width,
                                                    angle_perturbation=width)
                for name, method in methods.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if method is None:
                            x = least_squares(prob.residual, prob.x0, jac=prob.jacobian,
                                              method="lm").x
                        else:
                            x = minimize(prob.fun, prob.x0, jac=prob.jac, hess=prob.hess,
                                         method=method).x
                    wins[name] += prob.resolved(x)
            cells = " | ".join(f"{100 * wins[m] / args.instances:.0f}" for m in methods)
            print(f"| ±{width:g} | {P} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
