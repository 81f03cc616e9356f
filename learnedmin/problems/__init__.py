"""Test problems with known solutions, shared by the benchmark, the tests and the training families.

Submodules: :mod:`learnedmin.problems.classic` (smooth unconstrained test functions with
analytic gradients) and :mod:`learnedmin.problems.channel` (specular-path channel estimation).
:mod:`learnedmin.problems.channel2d` is the delay-angle variant of the channel model (a uniform
linear array of antennas beside the subcarriers), and :mod:`learnedmin.problems.concentrated` is
both channel models with the path weights eliminated by variable projection (the delays, or the
delays and angles, alone).
"""
