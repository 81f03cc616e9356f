"""The global phase: the network's first steps taken as they are, then the classical rule.

What users are promised: the global phase is bounded (``global_steps`` iterations), the local
phase is the classical rule behind the safeguard, the returned point is never worse than the
best point the run accepted (so never above ``f(x0)``) and never non-finite.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.optimize import minimize, rosen, rosen_der

from learnedmin import FixedWeights, LearnedMinimizer, WeightsError, minimize_batch
from learnedmin import weights as W
from learnedmin.step import CLASSICAL, LEARNED, LEARNED_BACKTRACKED

X0 = np.array([-1.2, 1.0, 0.5])


def _run(weights, global_steps, fun=rosen, jac=rosen_der, x0=X0, **options):
    method = LearnedMinimizer(weights=weights, global_steps=global_steps, **options)
    return minimize(fun, x0, jac=jac, method=method)


def test_global_phase_then_classical_rule():
    res = _run(FixedWeights((0.5, 0.0, 1.5)), 3)
    assert res.success
    source = res.trace["source"]
    assert set(source[:3]) <= {LEARNED, LEARNED_BACKTRACKED}
    assert np.all(source[3:] == CLASSICAL)
    # every global step is taken as the schedule says: unit length where f is finite
    assert np.all(res.trace["alpha"][:3] == 1.0)
    np.testing.assert_array_equal(res.step_weights[:3], [[0.5, 0.0, 1.5]] * 3)


def test_no_global_phase_by_default_with_fixed_weights():
    plain = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(
        weights=FixedWeights((0.5, 0.0, 1.5))))
    zero = _run(FixedWeights((0.5, 0.0, 1.5)), 0)
    np.testing.assert_array_equal(plain.x, zero.x)
    assert plain.nfev == zero.nfev


def test_schedule_rows_in_order_then_last_row():
    table = [[1.0, 0.0, 0.0], [0.0, 0.0, 0.5], [0.0, 0.0, 1.0]]
    res = _run(FixedWeights(table), 4)
    np.testing.assert_array_equal(res.step_weights[:4], table + [table[-1]])


@pytest.mark.parametrize("bad", [[1.0, 2.0], [[1.0, 0.0]], [[np.nan, 0.0, 1.0]], []])
def test_schedule_validation(bad):
    with pytest.raises(ValueError, match="fixed weights need 3 finite numbers"):
        FixedWeights(bad)


@pytest.mark.parametrize("bad", [-1, 1.5, "4", True])
def test_global_steps_option_validation(bad):
    with pytest.raises(ValueError, match="'global_steps' must be None or an integer >= 0"):
        LearnedMinimizer(global_steps=bad)


def _double_well(x):
    return float(np.sum((x ** 2 - 1.0) ** 2 + 0.3 * x))


def _double_well_grad(x):
    return 4.0 * x * (x ** 2 - 1.0) + 0.3


def test_run_that_climbs_returns_the_best_point_it_accepted():
    # from the lower well (x ~ -1), long gradient steps throw the iterate over the barrier;
    # the local phase then converges in the higher well, above the start
    x0 = np.array([-0.8])
    res = _run(FixedWeights((2.0, 1.0, 0.0)), 3, _double_well, _double_well_grad, x0,
               initial_step=3.0)
    assert res.fun <= _double_well(x0)
    assert res.fun == min(res.trace["fun"])
    assert math.isfinite(res.fun) and np.all(np.isfinite(res.x))
    np.testing.assert_allclose(_double_well(res.x), res.fun)


def test_local_phase_starts_from_the_best_point_of_the_global_phase():
    x0 = np.array([-0.8])
    steps = 3
    res = _run(FixedWeights((2.0, 1.0, 0.0)), steps, _double_well, _double_well_grad, x0,
               initial_step=3.0)
    values = res.trace["fun"]
    assert values[steps] > min(values[:steps + 1])  # the global phase ended above its best
    # the first classical step descends from the best point, not from the last one
    assert values[steps + 1] <= min(values[:steps + 1])


def _nan_outside(x):
    return float(np.sum(x ** 2)) if np.max(np.abs(x)) < 2.0 else math.nan


def test_nonfinite_global_steps_are_shortened_not_taken():
    res = _run(FixedWeights((2.0, 1.0, 0.0)), 5, _nan_outside, lambda x: 2.0 * x,
               np.array([1.5, -1.0]), initial_step=10.0)
    assert res.success and np.all(np.isfinite(res.x))
    assert res.fun <= _nan_outside(np.array([1.5, -1.0]))
    assert np.all(res.trace["alpha"][:1] < 1.0)


@settings(max_examples=25, deadline=None)
@given(w=hs.lists(hs.floats(-2.0, 2.0), min_size=3, max_size=3),
       steps=hs.integers(1, 8), seed=hs.integers(0, 2**16))
def test_any_schedule_never_ends_above_the_start(w, steps, seed):
    x0 = np.random.default_rng(seed).uniform(-2.0, 2.0, 4)
    res = _run(FixedWeights(w), steps, x0=x0, maxiter=200)
    assert math.isfinite(res.fun) and np.all(np.isfinite(res.x))
    assert res.fun <= rosen(x0)
    assert res.fun == min(res.trace["fun"])
    np.testing.assert_allclose(rosen(res.x), res.fun)


def test_batch_runs_the_same_global_phase():
    x0 = np.random.default_rng(3).uniform(-1.5, 1.5, (4, 3))
    method = dict(weights=FixedWeights((1.0, 0.5, 1.0)), global_steps=3)

    def fg(x):
        return np.array([rosen(r) for r in x]), np.array([rosen_der(r) for r in x])

    batch = minimize_batch(fg, x0, jac=True, **method)
    for i in range(4):
        one = minimize(lambda x: (rosen(x), rosen_der(x)), x0[i], jac=True,
                       method=LearnedMinimizer(weights=method["weights"], global_steps=3))
        np.testing.assert_allclose(batch.x[i], one.x, rtol=1e-10, atol=1e-12)
        assert int(batch.nit[i]) == one.nit


def _archive(tmp_path, global_steps, second_order=("quasi_newton",)):
    from learnedmin.network import WeightingNet

    path = tmp_path / "net.pt"
    W.export(WeightingNet(hidden=4), path, {"global_steps": global_steps,
                                            "second_order": list(second_order)})
    return path


def test_archive_sets_the_global_phase(tmp_path):
    path = _archive(tmp_path, 2)
    res = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(weights=path))
    assert res.success
    assert np.all(res.trace["source"][2:] == CLASSICAL)
    assert not np.any(res.trace["source"][:2] == CLASSICAL)
    # the option overrides the archive
    res = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(weights=path,
                                                                       global_steps=0))
    assert res.trace["source"][0] != CLASSICAL


def test_network_trained_with_newton_cg_only_is_not_used_with_quasi_newton(tmp_path):
    path = _archive(tmp_path, 2, ("newton_cg",))
    res = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(weights=path))
    # the classical rule alone: no global phase, the classical weights throughout
    assert res.success and np.all(res.step_weights == [0.0, 0.0, 1.0])
    assert res.trace["source"][0] != CLASSICAL


@pytest.mark.parametrize("bad", [-1, "2", 1.5, True])
def test_archive_global_steps_field_is_checked(tmp_path, bad):
    path = _archive(tmp_path, 0)
    import json

    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["global_steps"] = bad
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="global_steps"):
        W.read_metadata(path)


def test_a_run_that_converges_above_a_point_it_accepted_goes_on_from_that_point():
    # natural units, one path, a start 0.75 cell off: the nonmonotone search climbs out of the
    # estimate's basin and meets the gradient test at a point above one it had accepted; the
    # run must go on from that point, not stop (nor report success at a point it did not test)
    from learnedmin.bench import channel_study as cs

    prob = cs.instance(cs.StudyConfig(), "natural", 0.75, 1, 30.0, 3)
    gtol = 1e-8 * float(np.max(np.abs(prob.jac(prob.x0))))
    res = minimize(prob.fun, prob.x0, jac=prob.jac, method=LearnedMinimizer(),
                   options={"gtol": gtol, "maxiter": 5000})
    assert res.success and np.max(np.abs(res.jac)) <= gtol
    assert res.fun == min(res.trace["fun"])
    assert prob.delays_resolved(res.x, tol=0.01)
