"""Test problems with known solutions, shared by the benchmark, the tests and the training families.

Submodules: :mod:`learnedmin.problems.classic` (smooth unconstrained test functions with
analytic gradients) and :mod:`learnedmin.problems.channel` (specular-path channel estimation).
:mod:`learnedmin.problems.channel2d` is the delay-angle variant of the channel model (a uniform
linear array of antennas beside the subcarriers), and :mod:`learnedmin.problems.concentrated` is
both channel models with the path weights eliminated by variable projection (the delays, or the
delays and angles, alone).

The channel models are one model with a dimension axis, written once in two private modules
that the public ones wrap: ``_specular`` (the model, its derivatives and Fisher information on
any number of grid axes, the grid axes themselves and the skeleton of the problem classes) and
``_paths`` (the one sampler of random paths, observations and perturbed starts).
"""
