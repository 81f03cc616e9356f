"""Training of the weighting network (needs the ``train`` extra; imports torch).

Never imported by ``import learnedmin``. One module per concept:

* :mod:`~learnedmin.training.families` -- batched problem families with ground truth, registry;
* :mod:`~learnedmin.training.unroll` -- :mod:`learnedmin.step` driven on torch batches;
* :mod:`~learnedmin.training.seeds` -- the seed of every random draw, mixed from the config's;
* :mod:`~learnedmin.training.losses` -- unsupervised and supervised unroll losses;
* :mod:`~learnedmin.training.config` -- TOML configs, command-line overrides, canonical hash;
* :mod:`~learnedmin.training.checkpoint` -- atomic checkpoints and resume;
* :mod:`~learnedmin.training.train` -- the training loop (truncated BPTT, Adam, validation, DDP);
* :mod:`~learnedmin.training.evaluate` -- measurements through ``scipy.optimize.minimize``;
* :mod:`~learnedmin.training.__main__` -- the ``learnedmin-train`` command line.
"""
