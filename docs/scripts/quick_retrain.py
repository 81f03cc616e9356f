"""Retrain the weighting network on a family of your own in about a minute, and measure it.

    python docs/scripts/quick_retrain.py [--out DIR]

Registers a user-defined family (well-conditioned random quadratics), trains with
``configs/quick.toml``, and compares the trained archive with the untrained network (the
classical rule) through ``scipy.optimize.minimize`` on held-out instances of the family: the
error ``|x - x*|^2 / |x0 - x*|^2`` after the iteration budget the network was trained for, and
the function + gradient calls spent.
"""

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # use the checkout's learnedmin

from learnedmin import LearnedMinimizer, weights  # noqa: E402
from learnedmin.training import config as training_config  # noqa: E402
from learnedmin.training.families import Family, register_family  # noqa: E402
from learnedmin.training.train import build_net, train  # noqa: E402

CONFIG = ROOT / "configs" / "quick.toml"
HELD_OUT_SEED = 20240101  # never used by training or validation
HELD_OUT = 100


class WellConditionedQuadratic(Family):
    """``1/2 (x - x*)' Q (x - x*)`` with ``Q = U diag(lambda) U'``, ``n`` in [10, 30] and the
    eigenvalues uniform in ``[1, 10]``: gradient descent with a well-chosen step does well here,
    and a few iterations are all a run gets."""

    name = "well_conditioned_quadratic"

    def value(self, data, x):
        q, x_star = data
        e = x - x_star
        return 0.5 * (e * (q @ e[..., None])[..., 0]).sum(-1)

    def gradient(self, data, x):
        q, x_star = data
        return (q @ (x - x_star)[..., None])[..., 0]

    def sample(self, generator, batch):
        n = int(torch.randint(10, 31, (), generator=generator))
        lam = 1.0 + 9.0 * torch.rand(batch, n, generator=generator, dtype=torch.float64)
        g = torch.randn(batch, n, n, generator=generator, dtype=torch.float64)
        u, r = torch.linalg.qr(g)
        u = u * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
        q = (u * lam[:, None, :]) @ u.transpose(-1, -2)
        q = 0.5 * (q + q.transpose(-1, -2))
        x_star = torch.randn(batch, n, generator=generator, dtype=torch.float64)
        x0 = x_star + torch.randn(batch, n, generator=generator, dtype=torch.float64)
        return self.problem((q, x_star), x0, x_star, torch.zeros(batch, dtype=torch.float64))


def held_out_instances(family, count, seed):
    """``count`` numpy instances ``(fun, jac, x0, x_star)`` from a seed training never used."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < count:
        p = family.sample(gen, 10)
        for i in range(p.batch):
            q, x_star = (d[i].numpy() for d in p.data)
            out.append((lambda x, q=q, s=x_star: 0.5 * (x - s) @ q @ (x - s),
                        lambda x, q=q, s=x_star: q @ (x - s), p.x0[i].numpy(), x_star))
    return out[:count]


def measure(method, instances, options):
    """Per instance: ``(|x - x*|^2 / |x0 - x*|^2, nfev + njev)``."""
    errors, calls = [], []
    for fun, jac, x0, x_star in instances:
        res = minimize(fun, x0.copy(), jac=jac, method=method, options=options)
        errors.append(float(np.sum((res.x - x_star) ** 2) / np.sum((x0 - x_star) ** 2)))
        calls.append(res.nfev + res.njev)
    return np.array(errors), np.array(calls)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="directory for the archives (default: a temporary one)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    family = register_family(WellConditionedQuadratic(), replace=True)
    config = training_config.resolve(str(CONFIG))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        out.mkdir(parents=True, exist_ok=True)
        untrained = out / "untrained.pt"
        weights.export(build_net(config), untrained,
                       {"description": "untrained network (the classical rule)"})
        result = train(config, out / "quick.run", out=out / "quick.pt", show_progress=False,
                       log=print, overwrite=True)
        print(f"trained {result.episodes} unrolls in {result.seconds:.0f} s: validation loss "
              f"{result.best_score:.3f} (untrained {result.classical_score:.3f})")

        steps = config["validation"]["steps"]
        options = {"maxiter": steps, "gtol": 0.0, **config["solver"]}
        instances = held_out_instances(family, HELD_OUT, HELD_OUT_SEED)
        rows = {}
        for name, path in (("untrained", untrained), ("trained", result.archive)):
            rows[name] = measure(LearnedMinimizer(weights=str(path)), instances, options)
    print(f"\n{HELD_OUT} held-out instances, {steps} iterations each "
          f"(minimize(method=LearnedMinimizer(weights=...)), options {options}):")
    print(f"{'network':<10} {'median error':>13} {'geo. mean error':>16} {'median calls':>13}")
    for name, (err, calls) in rows.items():
        geo = math.exp(float(np.mean(np.log(np.maximum(err, 1e-300)))))
        print(f"{name:<10} {np.median(err):>13.3e} {geo:>16.3e} {np.median(calls):>13g}")
    better = float(np.mean(rows["trained"][0] < rows["untrained"][0]))
    print(f"error = |x - x*|^2 / |x0 - x*|^2 after the run; the trained network has the smaller "
          f"error on {100 * better:.0f} % of the instances")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
