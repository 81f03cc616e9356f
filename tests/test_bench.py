"""The benchmark instrument: counting, verdicts, profiles, methods, the command line."""

import json
import math
import sys
import textwrap
import types

import numpy as np
import pytest
from scipy.optimize import OptimizeResult, minimize

from learnedmin.bench import (
    BudgetExhausted,
    Counter,
    Settings,
    mark_solved,
    performance_profile,
    resolve_method,
    run_one,
)
from learnedmin.bench import suites
from learnedmin.bench.__main__ import build_parser, main
from learnedmin.bench.analysis import summarize
from learnedmin.bench.baselines import chebyshev_steps, heavy_ball, heavy_ball_theory
from learnedmin.bench.methods import CustomMethod
from learnedmin.problems.classic import Problem, quadratic, rosenbrock


class Tally:
    """Independent call counting, to check the counter against."""

    def __init__(self, p):
        self.p, self.f, self.g, self.points = p, 0, 0, []

    def fun(self, x):
        self.f += 1
        self.points.append(np.array(x, dtype=np.float64).tobytes())
        return self.p.fun(x)

    def jac(self, x):
        self.g += 1
        return self.p.jac(x)


# --------------------------------------------------------------------------- counting


def test_counter_counts_every_call_and_keeps_the_best_so_far_trace():
    p = rosenbrock()
    c = Counter(p, budget=5)
    x = np.array(p.x0)
    f0 = c.fun(x)
    c.jac(x)  # f is known here: nothing observed
    c.hessp(x, np.ones(2))
    c.fun(np.array([1.0, 1.0]))
    assert (c.nfev, c.njev, c.nhev, c.calls) == (2, 1, 1, 4)
    assert c.trace == [(1, f0), (4, 0.0)]
    c.fun(x)
    with pytest.raises(BudgetExhausted, match="budget of 5 calls"):
        c.jac(x)
    assert c.calls == 5


def test_counter_observes_f_at_gradient_points_without_counting():
    p = rosenbrock()
    c = Counter(p)
    c.jac(np.array([1.0, 1.0]))
    assert (c.nfev, c.njev) == (0, 1)
    assert c.trace == [(1, 0.0)]
    assert c.time_observing > 0


def test_counter_agrees_with_an_independent_tally_through_scipy():
    p = rosenbrock()
    tally = Tally(p)
    c = Counter(Problem(name="t", n=2, fun=tally.fun, jac=tally.jac, x0=p.x0), observe=False)
    res = minimize(c.fun, np.array(p.x0), jac=c.jac, method="BFGS")
    assert res.success
    assert (c.nfev, c.njev) == (tally.f, tally.g)


def test_paired_counter_counts_each_call_of_fg_as_one_evaluation():
    p = rosenbrock()
    c = Counter(p, budget=4, paired=True)
    fun, jac = c.callables()
    assert jac is True
    x = np.array(p.x0)
    f0, g0 = fun(x)
    assert f0 == p.fun(x) and np.array_equal(g0, p.jac(x))
    fun(x)  # the same point again: a second evaluation, counted
    c.hessp(x, np.ones(2))  # a Hessian-vector product is an evaluation too
    assert (c.nfgev, c.nhev, c.evaluations, c.calls) == (2, 1, 3, 1)
    assert (c.nfev, c.njev) == (0, 0)
    fun(np.array([1.0, 1.0]))
    assert c.trace == [(1, f0), (4, 0.0)]
    assert c.time_in_calls > 0 and c.time_observing == 0
    with pytest.raises(BudgetExhausted, match="budget of 4 evaluations"):
        fun(x)
    assert c.evaluations == 4


def test_unpaired_counter_hands_out_separate_callables():
    c = Counter(rosenbrock())
    assert c.callables() == (c.fun, c.jac) and c.cost == c.calls


def test_learned_with_jac_true_calls_fg_once_per_evaluation_and_never_twice_at_a_point():
    from learnedmin import learned

    p = rosenbrock()
    tally = Tally(p)
    c = Counter(Problem(name="t", n=2, fun=tally.fun, jac=tally.jac, x0=p.x0), paired=True)
    fun, jac = c.callables()
    res = minimize(fun, np.array(p.x0), jac=jac, method=learned)
    assert res.success
    assert c.evaluations == c.nfgev == tally.f == tally.g == res.nfev, \
        (c.evaluations, tally.f, tally.g, res.nfev)
    assert len(set(tally.points)) == len(tally.points), "a point was evaluated twice"


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "learned", "heavy-ball"])
def test_both_cost_models_run_and_evaluations_match_the_calls_of_fg(method):
    p = quadratic([1.0, 10.0, 100.0], seed=0)
    rec = run_one(p, resolve_method(method), Settings(budget=2000))
    run = rec["paired"]
    assert rec["status"] == run["status"] == "converged", (rec["message"], run["message"])
    assert rec["calls"] == rec["nfev"] + rec["njev"] + rec["nhev"] > 0
    assert run["evaluations"] > 0 and run["trace"][-1][0] <= run["evaluations"]
    assert run["f_final"] < 1e-10
    if method == "heavy-ball":  # gradient only: one evaluation per gradient
        assert run["evaluations"] == rec["njev"]
    if method == "L-BFGS-B":  # f and g at every point, separately or together
        assert rec["nfev"] == rec["njev"] == run["evaluations"]


def test_methods_without_a_gradient_are_not_run_with_jac_true():
    rec = run_one(rosenbrock(), resolve_method("Nelder-Mead"), Settings(budget=50))
    assert rec["status"] in ("stopped", "budget") and rec["calls"] > 0
    assert rec["paired"]["status"] == "n/a"
    assert rec["paired"]["message"] == "takes no gradient"
    assert run_one(rosenbrock(), resolve_method("CG"), Settings(), paired=False).get("paired") \
        is None


# --------------------------------------------------------------------------- profiles


def test_performance_profile_on_a_hand_made_example():
    inf = math.inf
    costs = [[10, 20, inf],   # best 10: ratios 1, 2, inf
             [30, 15, 15],    # best 15 (a tie): ratios 2, 1, 1
             [inf, 5, 40],    # best 5: ratios inf, 1, 8
             [inf, inf, inf]]  # nobody: counts in the denominator only
    rho = performance_profile(costs, taus=[1, 2, 4, 10])
    np.testing.assert_allclose(rho, [[1 / 4, 2 / 4, 2 / 4, 2 / 4],
                                     [2 / 4, 3 / 4, 3 / 4, 3 / 4],
                                     [1 / 4, 1 / 4, 1 / 4, 2 / 4]])


def test_performance_profile_rejects_bad_input():
    with pytest.raises(ValueError, match="2-d"):
        performance_profile([1, 2])
    with pytest.raises(ValueError, match="positive"):
        performance_profile([[0, 1]])


def _record(method, problem, f_final, trace, f_star=None, calls=100, status="converged"):
    return {"suite": "s", "problem": problem, "method": method, "f_star": f_star,
            "status": status, "f_final": f_final, "f_best": min([f for _, f in trace] + [f_final]),
            "trace": trace, "calls": calls, "overhead": None, "nit": None, "flags": []}


def test_mark_solved_uses_the_best_value_found_and_the_first_crossing():
    recs = [_record("a", "p", 1.0 + 1e-9, [(1, 5.0), (7, 1.0 + 5e-7), (9, 1.0 + 1e-9)]),
            _record("b", "p", 1.2, [(1, 5.0), (3, 1.2)]),
            _record("a", "q", 1e-3, [(1, 1.0), (4, 1e-3)], f_star=0.0)]
    mark_solved(recs, tol=1e-6)
    assert recs[0]["f_ref"] == 1.0 + 1e-9 and recs[0]["ref_source"] == "best found"
    assert recs[0]["solved"] and recs[0]["calls_to_solve"] == 7
    assert not recs[1]["solved"] and recs[1]["calls_to_solve"] is None
    assert recs[2]["ref_source"] == "known" and not recs[2]["solved"]


def test_mark_solved_counts_evaluations_in_the_paired_run_against_one_reference():
    paired = {"status": "converged", "f_final": 1.0, "f_best": 1.0, "evaluations": 6,
              "trace": [(1, 5.0), (5, 1.0)], "overhead": None, "nit": None, "flags": []}
    recs = [dict(_record("a", "p", 1.5, [(1, 5.0), (3, 1.5)]), paired=paired),
            _record("b", "p", 1.0 + 1e-7, [(1, 5.0), (8, 1.0 + 1e-7)])]
    mark_solved(recs, tol=1e-6)
    assert recs[0]["f_ref"] == recs[1]["f_ref"] == 1.0  # the lowest value of either run
    assert not recs[0]["solved"] and recs[1]["solved"] and recs[1]["calls_to_solve"] == 8
    assert paired["solved"] and paired["evaluations_to_solve"] == 5
    summary = {row["method"]: row for row in summarize(recs, ["a", "b"], reference="a")}
    assert summary["a"]["evaluations"]["solved"] == 1
    assert summary["a"]["evaluations"]["median_evaluations"] == 5
    assert summary["b"]["evaluations"]["applicable"] == 0  # no paired run
    assert summary["b"]["median_calls"] == 8


# --------------------------------------------------------------------------- methods


def test_unknown_method_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; valid: learned, learned-newton"):
        resolve_method("nope")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'"):
        resolve_method("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="needs a dense Hessian"):
        resolve_method("trust-exact")


def test_module_callable_method_loads_and_runs(tmp_path, monkeypatch):
    (tmp_path / "my_gd.py").write_text(textwrap.dedent("""
        import numpy as np
        from scipy.optimize import OptimizeResult

        def descent(fun, x0, args=(), jac=None, maxiter=100, **_):
            x = np.array(x0, dtype=float)
            for k in range(maxiter):
                g = jac(x)
                if np.max(np.abs(g)) < 1e-8:
                    break
                x = x - 0.5 * g
            return OptimizeResult(x=x, nit=k, success=True, message="done")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    method = resolve_method("my_gd:descent")
    assert isinstance(method, CustomMethod)
    p = quadratic([1.0, 2.0, 3.0], seed=0)
    rec = run_one(p, method, Settings(budget=500))
    assert rec["status"] == "converged" and rec["njev"] == rec["calls"] > 1
    assert rec["f_final"] < 1e-12
    learned = resolve_method("learnedmin:learned")
    assert run_one(p, learned, Settings())["status"] == "converged"


def test_learned_with_options_runs_those_options_and_names_bad_ones():
    method = resolve_method("learned[refine=false; nonmonotone=1]")
    assert method.callable.options["refine"] is False and method.callable.options["nonmonotone"] == 1
    assert run_one(rosenbrock(), method, Settings(budget=2000))["status"] == "converged"
    with pytest.raises(ValueError, match=r"unknown option\(s\) refin"):
        resolve_method("learned[refin=false]")
    with pytest.raises(ValueError, match="'c1' must satisfy 0 < c1 < 1"):
        resolve_method("learned[c1=2]")
    with pytest.raises(ValueError, match=r"expected learned\[name=value;...\]"):
        resolve_method("learned[refine]")


def test_methods_that_do_not_apply_are_reported_not_run():
    p = Problem(name="no-hessp", n=2, fun=rosenbrock().fun, jac=rosenbrock().jac, x0=[-1.2, 1.0])
    rec = run_one(p, resolve_method("Newton-CG"), Settings())
    assert rec["status"] == "n/a" and rec["message"] == "needs hessp" and rec["calls"] == 0
    assert run_one(p, resolve_method("chebyshev"), Settings())["status"] == "n/a"


def test_runs_ending_above_the_start_or_non_finite_are_flagged():
    p = rosenbrock()

    def uphill(fun, x0, **_):
        return OptimizeResult(x=np.array(x0) + 10.0, nit=1, success=True, message="")

    def nan(fun, x0, **_):
        return OptimizeResult(x=np.full(2, np.nan), nit=1, success=False, message="")

    assert run_one(p, CustomMethod("u", lambda: uphill, ""), Settings())["flags"] == ["above_f0"]
    assert run_one(p, CustomMethod("n", lambda: nan, ""), Settings())["flags"] == ["nonfinite"]


def test_budget_exhaustion_is_a_status():
    rec = run_one(rosenbrock(), resolve_method("CG"), Settings(budget=10))
    assert rec["status"] == "budget" and rec["calls"] == 10 and np.isfinite(rec["f_final"])


def test_chebyshev_steps_reach_the_chebyshev_bound():
    # After one period the error polynomial prod (1 - lam * gamma_k) is the scaled Chebyshev
    # polynomial: its maximum on [mu, L] is 1 / T_T((L + mu) / (L - mu)).
    mu, L, T = 0.01, 1.0, 16
    steps = chebyshev_steps(mu, L, T)
    lam = np.linspace(mu, L, 2001)
    poly = np.prod(1.0 - lam[:, None] * steps[None, :], axis=1)
    bound = 1.0 / np.cosh(T * np.arccosh((L + mu) / (L - mu)))
    assert np.max(np.abs(poly)) <= bound * (1 + 1e-9)
    with pytest.raises(ValueError, match="0 < mu <= L"):
        chebyshev_steps(0.0, 1.0)


def test_heavy_ball_with_polyak_parameters_converges_on_a_quadratic():
    p = quadratic(np.logspace(-2, 0, 20), seed=1)
    res = heavy_ball(None, np.array(p.x0), jac=p.jac, gtol=1e-10, maxiter=2000,
                     **heavy_ball_theory(*p.spectrum))
    assert res.success and p.fun(res.x) < 1e-18


def test_settings_validate():
    with pytest.raises(ValueError, match="'budget' must be an integer >= 1"):
        Settings(budget=0)


# --------------------------------------------------------------------------- suites


def test_channel_suite_hook(monkeypatch):
    suites._built.cache_clear()
    fake = types.ModuleType("learnedmin.problems.channel")
    monkeypatch.setitem(sys.modules, "learnedmin.problems.channel", fake)
    with pytest.raises(suites.SuiteUnavailable, match="no bench_problems"):
        suites.suite_problems("channel")

    p = rosenbrock()
    fake.bench_problems = lambda seed=0: [types.SimpleNamespace(
        name="chan", fun=p.fun, jac=p.jac, x0=[0.5, 0.5], f_star=None)]
    suites._built.cache_clear()
    (problem,) = suites.suite_problems("channel")
    assert problem.name == "chan" and problem.n == 2 and problem.hessp is None
    suites._built.cache_clear()


def test_unknown_suite_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown suite 'nope'; valid: quick, classic"):
        suites.suite_problems("nope")


# --------------------------------------------------------------------------- command line


def test_help_explains_every_option():
    text = build_parser().format_help()
    for option in ("--suite", "--methods", "--large", "--jobs", "--out", "--budget", "--tol",
                   "--gtol", "--reference", "--no-plots", "--repeats", "--large-n", "--quiet",
                   "overhead", "module:callable"):
        assert option in text


@pytest.mark.parametrize("argv, message", [
    (["--suite", "nope"], "unknown suite(s) nope; valid: quick, classic"),
    (["--methods", "nope"], "unknown method 'nope'; valid: learned"),
    (["--jobs", "0"], "--jobs must be >= 1"),
])
def test_bad_command_lines_exit_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_quick_suite_writes_tables_json_and_plots(tmp_path, capsys):
    assert main(["--suite", "quick", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("learned ") for line in out.splitlines()) and "ρ(1)" in out
    page = (tmp_path / "index.md").read_text()
    assert "python -m learnedmin.bench" in page and "### Calls to solve" in page
    assert "### Evaluations to solve" in page and "median evaluations / L-BFGS-B (n)" in page
    header = next(line for line in out.splitlines() if line.startswith("method "))
    assert "median calls" in header and "median evals" in header
    assert header.count("vs L-BFGS-B") == 2
    data = json.loads((tmp_path / "results.json").read_text())
    n_problems = len(suites.suite_problems("quick"))
    methods = data["methods"]
    assert len(data["runs"]) == n_problems * len(methods)
    summary = {row["method"]: row for row in data["suites"]["quick"]["summary"]}
    assert summary["learned"]["solved"] >= n_problems // 2
    assert summary["L-BFGS-B"]["applicable"] == n_problems
    assert summary["learned"]["evaluations"]["solved"] >= n_problems // 2
    assert summary["L-BFGS-B"]["evaluations"]["applicable"] == n_problems
    for run in data["runs"]:
        assert run["status"] in ("converged", "stopped", "budget", "n/a")
        assert run["paired"]["status"] in ("converged", "stopped", "budget", "n/a")
        if run["status"] != "n/a":
            assert run["calls"] == run["nfev"] + run["njev"] + run["nhev"] > 0
            assert run["paired"]["evaluations"] > 0
    pytest.importorskip("matplotlib")
    assert (tmp_path / "profile_quick.png").stat().st_size > 1000
    assert (tmp_path / "convergence_quick.png").stat().st_size > 1000


def test_two_jobs_run_learned_in_worker_processes(tmp_path, capsys):
    argv = ["--suite", "quick", "--methods", "learned,fixed-weights,L-BFGS-B", "--jobs", "2",
            "--quiet", "--no-plots", "--out", str(tmp_path)]
    assert main(argv) == 0
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    learned = [r for r in runs if r["method"] == "learned"]
    assert len(learned) == len(suites.suite_problems("quick"))
    assert all(r["status"] == "converged" for r in learned)


def test_overhead_command_at_a_small_size(tmp_path, capsys):
    assert main(["overhead", "--repeats", "1", "--large-n", "2000", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "per-iteration overhead, n = 10 " in out and "peak traced memory" in out
    data = json.loads((tmp_path / "overhead.json").read_text())
    assert data["ratios"]["overhead_small_vs_bfgs"] > 0
