"""The evaluation budget (option ``budget``), and networks that read only the first features."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize, rosen, rosen_der

from learnedmin import FixedWeights, LearnedMinimizer, WeightsError, minimize_batch
from learnedmin import weights as W
from learnedmin._status import BUDGET
from learnedmin.network import WeightingNet
from learnedmin.statistics import BASE_FEATURES, FEATURE_NAMES, N_FEATURES

X0 = np.array([-1.2, 1.0, 0.5])


def _counted():
    calls = []

    def fg(x):
        calls.append(x.copy())
        return rosen(x), rosen_der(x)

    return fg, calls


@pytest.mark.parametrize("budget", [1, 2, 7, 16])
def test_budget_is_a_hard_cap_on_evaluations(budget):
    fg, calls = _counted()
    res = minimize(fg, X0, jac=True, method=LearnedMinimizer(budget=budget))
    assert len(calls) == res.nfev == budget
    assert res.status == BUDGET and not res.success
    assert "budget" in res.message
    assert res.fun == min(res.trace["fun"]) <= rosen(X0)
    np.testing.assert_allclose(rosen(res.x), res.fun)


def test_separate_gradient_counts_points_not_calls():
    calls = {"f": 0, "g": 0}

    def f(x):
        calls["f"] += 1
        return rosen(x)

    def g(x):
        calls["g"] += 1
        return rosen_der(x)

    res = minimize(f, X0, jac=g, method=LearnedMinimizer(budget=10))
    assert calls["f"] == res.nfev == 10 and calls["g"] == res.njev <= 10


def test_a_budget_that_is_not_reached_changes_nothing():
    plain = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer())
    wide = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(budget=10_000))
    np.testing.assert_array_equal(plain.x, wide.x)
    assert plain.nfev == wide.nfev and wide.success


@pytest.mark.parametrize("bad", [0, -3, 2.5, "10", True])
def test_budget_option_validation(bad):
    with pytest.raises(ValueError, match="'budget' must be None or an integer >= 1"):
        LearnedMinimizer(budget=bad)


def test_batch_rows_keep_their_own_budget():
    x0 = np.random.default_rng(0).uniform(-1.5, 1.5, (5, 3))

    def fg(x):
        return np.array([rosen(r) for r in x]), np.array([rosen_der(r) for r in x])

    res = minimize_batch(fg, x0, jac=True, budget=12)
    assert np.all(res.nfev == 12) and np.all(res.status == BUDGET)
    for i in range(5):
        one = minimize(lambda x: (rosen(x), rosen_der(x)), x0[i], jac=True,
                       method=LearnedMinimizer(budget=12))
        np.testing.assert_allclose(res.x[i], one.x, rtol=1e-10, atol=1e-12)


def test_budget_spent_is_the_last_feature():
    assert FEATURE_NAMES[-1] == "budget_spent" and N_FEATURES == BASE_FEATURES + 1
    seen = []

    class Recording(FixedWeights):
        def __call__(self, stats, prev, valid, h):
            seen.append(float(stats[0, -1]))
            return super().__call__(stats, prev, valid, h)

    minimize(lambda x: (rosen(x), rosen_der(x)), X0, jac=True,
             method=LearnedMinimizer(weights=Recording((0.0, 0.0, 1.0)), budget=20))
    assert seen[0] == pytest.approx(1 / 20) and all(0 < s <= 1 for s in seen)
    assert seen == sorted(seen)
    seen.clear()
    minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(
        weights=Recording((0.0, 0.0, 1.0))))
    assert set(seen) == {0.0}


def test_archive_of_the_first_features_loads_and_runs(tmp_path):
    net = WeightingNet(hidden=4, n_features=BASE_FEATURES)
    path = tmp_path / "old.pt"
    meta = W.export(net, path)
    assert meta["feature_names"] == list(FEATURE_NAMES[:BASE_FEATURES])
    module, _ = W.load(path)
    res = minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer(weights=path))
    assert res.success
    with torch.no_grad():
        a, _ = module(torch.zeros(BASE_FEATURES, dtype=torch.float64),
                      torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
                      torch.zeros(4, dtype=torch.float64))
    np.testing.assert_array_equal(a.numpy(), [0.0, 0.0, 1.0])


def test_archive_whose_features_are_not_a_prefix_is_refused(tmp_path):
    import json

    path = tmp_path / "net.pt"
    W.export(WeightingNet(hidden=4), path)
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["feature_names"] = list(reversed(meta["feature_names"]))
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="feature_names"):
        W.read_metadata(path)


def test_network_feature_count_is_checked():
    with pytest.raises(ValueError, match="n_features"):
        WeightingNet(hidden=4, n_features=BASE_FEATURES - 1)
