"""Test problems with known solutions, shared by the benchmark, the tests and the training families.

Submodules: :mod:`learnedmin.problems.classic` (smooth unconstrained test functions with
analytic gradients) and :mod:`learnedmin.problems.channel` (specular-path channel estimation).
"""
