"""CPU time of one call of the bundled network: the numpy mirror against the TorchScript archive.

Run: ``python docs/scripts/policy_speed.py`` (one BLAS thread: ``OPENBLAS_NUM_THREADS=1``).
"""

import time

import numpy as np

from learnedmin import learned
from learnedmin.policy import MirroredPolicy, TorchScriptPolicy


def per_call(policy, args, repeats):
    policy(*args)
    start = time.process_time()
    for _ in range(repeats):
        policy(*args)
    return (time.process_time() - start) / repeats


def main():
    mirror = learned.policy
    if not isinstance(mirror, MirroredPolicy):
        raise SystemExit("the bundled network runs without its numpy mirror here")
    scripted = TorchScriptPolicy(mirror.module, mirror.hidden_size)
    rng = np.random.default_rng(0)
    n_features, n_slots = mirror.w_ih.shape[1] - 3, 3
    for batch, repeats in ((1, 200), (100, 100), (10_000, 5)):
        args = (rng.standard_normal((batch, n_features)), rng.standard_normal((batch, n_slots)),
                np.ones((batch, n_slots)), np.zeros((batch, mirror.hidden_size)))
        a, b = per_call(mirror, args, repeats), per_call(scripted, args, repeats)
        print(f"B = {batch:6d}: mirror {a * 1e6:9.0f} us, TorchScript {b * 1e6:9.0f} us per call")


if __name__ == "__main__":
    main()
