"""Regression tests for defects a SciPy user hit, and a fuzz of malformed input at the boundary.

Each regression test is named for what broke. The fuzz feeds the method one malformed argument at
a time and requires what ``test_faults`` requires of the hand-picked cases: an exception that
names the argument, or a result whose status and message come from the status table.
"""

import math
import re
import sys
import types
import warnings
from importlib.machinery import ModuleSpec

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import Bounds, OptimizeResult, minimize, rosen, rosen_der

from learnedmin import FixedWeights, LearnedMinimizer, learned
from learnedmin.policy import CLASSICAL_WEIGHTS
from learnedmin import _options
from learnedmin import _status as status
from learnedmin._objective import Objective
from learnedmin._arguments import make_callback as _make_callback

X0 = np.array([-1.2, 1.0])
CLASSICAL = LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))


def _recording(fun):
    """``fun`` that also keeps a copy of every point it is called at, in ``.points``."""

    def wrapped(x, *args):
        wrapped.points.append(np.array(x, copy=True))
        return fun(x, *args)

    wrapped.points = []
    return wrapped


def assert_inside(points, lb, ub):
    points = np.array(points)
    outside = np.flatnonzero(np.any((points < lb) | (points > ub), axis=1))
    assert not outside.size, f"fun evaluated outside [{lb}, {ub}] at {points[outside[:5]]}"


# --------------------------------------------------------------------------------------------
# 1. Finite differences ignored the bounds


def test_finite_differences_stay_inside_the_bounds():
    # sqrt(1 - x) is undefined past the upper bound: a forward step from x = 1 raised
    # "math domain error" from the user's function
    fun = _recording(lambda x: (x[0] - 2) ** 2 - math.sqrt(1 - x[0]))
    res = minimize(fun, np.array([0.0]), method=learned, bounds=[(0, 1)])
    ref = minimize(fun, np.array([0.0]), method="L-BFGS-B", bounds=[(0, 1)])
    assert res.success, res.message
    assert_allclose(res.x, ref.x, atol=1e-4)
    assert_inside(fun.points, 0.0, 1.0)


def test_finite_differences_stay_inside_the_bounds_with_x_scale():
    # the minimiser is on the upper bounds, and (ub / s) * s rounds past ub for these scales
    ub, s = np.array([0.7, 0.9]), np.array([0.3, 7.0])
    assert np.all((ub / s) * s > ub)
    fun = _recording(lambda x: float(np.sum((x - 2) ** 2)))
    res = minimize(fun, np.zeros(2), method=learned, bounds=list(zip([-1, -1], ub)),
                   options={"x_scale": s})
    assert res.success, res.message
    assert_array_equal(res.x, ub)
    assert_inside(fun.points, -1.0, ub)


def test_finite_difference_is_backward_at_the_upper_bound():
    lb, ub = np.array([-1.0, -1.0]), np.array([1.0, 1.0])
    fun = _recording(lambda x: float(x @ x))
    obj = Objective(fun, None, None, None, (), 2, bounds=(lb, ub))
    x = np.array([1.0, 0.5])  # on the upper bound of variable 0
    g = obj.g(x, obj.f(x))
    assert_inside(fun.points, lb, ub)
    assert fun.points[1][0] < 1.0  # variable 0 stepped inward
    assert_allclose(g, 2 * x, rtol=1e-6)


def test_finite_difference_step_is_shortened_in_a_box_narrower_than_the_step():
    lb, ub = np.array([1.0]), np.array([1.0 + 1e-12])
    fun = _recording(lambda x: float(x @ x))
    obj = Objective(fun, None, None, None, (), 1, bounds=(lb, ub))
    x = np.array([1.0])
    g = obj.g(x, obj.f(x))
    assert_inside(fun.points, lb, ub)
    assert fun.points[1][0] > 1.0  # the whole width of the box, upward
    assert abs(g[0] - 2.0) < 1e-2, g


def test_finite_difference_skips_a_variable_fixed_by_its_bounds():
    lb, ub = np.array([0.5, -1.0]), np.array([0.5, 1.0])
    fun = _recording(lambda x: float(x @ x))
    obj = Objective(fun, None, None, None, (), 2, bounds=(lb, ub))
    x = np.array([0.5, 0.25])
    g = obj.g(x, obj.f(x))
    assert_inside(fun.points, lb, ub)
    assert len(fun.points) == 2 and g[0] == 0.0  # fx and the free variable's step only
    res = minimize(fun, x, method=learned, bounds=Bounds(lb, ub))
    assert res.success and res.x[0] == 0.5 and abs(res.x[1]) < 1e-4


# --------------------------------------------------------------------------------------------
# 2. With no jac, njev was 0


def test_finite_difference_gradients_count_in_njev():
    fun = _recording(rosen)
    obj = Objective(fun, None, None, None, (), 2)
    obj.g(X0, obj.f(X0))
    assert (obj.nfev, obj.njev) == (3, 1) == (len(fun.points), 1)

    fun.points.clear()
    res = minimize(fun, X0, method=learned)
    assert res.success
    assert res.nfev == len(fun.points)
    # a gradient at x0 and at every accepted point, each of n = 2 calls beside a call of fun
    assert res.njev >= res.nit + 1 and res.nfev >= 3 * res.njev
    bfgs = minimize(rosen, X0, method="BFGS")
    assert bfgs.njev > 0  # the convention followed


# --------------------------------------------------------------------------------------------
# 3. A keyword-only callback crashed


def test_keyword_only_intermediate_result_callback_is_called_by_keyword():
    seen = []

    def cb(*, intermediate_result):
        seen.append(intermediate_result)

    res = minimize(rosen, X0, jac=rosen_der, method=learned, callback=cb)
    assert res.success and len(seen) == res.nit
    assert isinstance(seen[-1], OptimizeResult) and seen[-1].nit == res.nit
    assert_array_equal(seen[-1].x, res.x)
    assert_array_equal(seen[-1].jac, res.jac)


def test_keyword_only_callback_raising_stop_iteration_ends_with_status_99():
    def cb(*, intermediate_result):
        if intermediate_result.nit == 3:
            raise StopIteration

    res = minimize(rosen, X0, jac=rosen_der, method=learned, callback=cb)
    assert (res.status, res.nit, res.success) == (99, 3, False)
    assert res.message == status.MESSAGES[status.CALLBACK_STOP]


def test_positional_only_intermediate_result_callback_is_called_positionally():
    seen = []

    def cb(intermediate_result, /):
        seen.append(intermediate_result.fun)

    res = minimize(rosen, X0, jac=rosen_der, method=learned, callback=cb)
    assert len(seen) == res.nit and seen[-1] == res.fun


@pytest.mark.parametrize("style", ["xk", "keyword-only"])
def test_callbacks_with_x_scale_see_the_users_variables(style):
    s = np.array([1e-3, 1e2])
    seen = []

    def cb_x(xk):
        seen.append((xk, None))

    def cb_kw(*, intermediate_result):
        seen.append((intermediate_result.x, intermediate_result.jac))

    res = minimize(lambda x: rosen(x / s), X0 * s, jac=lambda x: rosen_der(x / s) / s,
                   method=learned, options={"x_scale": s, "return_all": True},
                   callback=cb_x if style == "xk" else cb_kw)
    assert res.success and len(seen) == res.nit
    assert_array_equal(np.array([x for x, _ in seen]), np.array(res.allvecs[1:]))
    if style == "keyword-only":
        assert_array_equal(seen[-1][1], res.jac)


def test_callback_notifier_copies_and_none_stays_none():
    assert _make_callback(None) is None
    got = []
    notify = _make_callback(lambda *, intermediate_result: got.append(intermediate_result))
    x, g = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    notify(x, 5.0, g, 7)
    got[0].x[:] = got[0].jac[:] = 0.0  # the user's copies, not the loop's arrays
    assert_array_equal(x, [1.0, 2.0])
    assert_array_equal(g, [3.0, 4.0])
    assert (got[0].fun, got[0].nit) == (5.0, 7)


@pytest.mark.parametrize("bad", [1, "print", [print]])
def test_non_callable_callback_is_refused_by_name(bad):
    with pytest.raises(TypeError, match="'callback' must be callable"):
        minimize(rosen, X0, jac=rosen_der, method=learned, callback=bad)


# --------------------------------------------------------------------------------------------
# 4. options={"maxiter": 4.0} was refused

INTEGER_OPTIONS = [name for name, (_, _, check) in _options.RULES.items()
                   if isinstance(check, _options._Integer)]


def test_integral_float_maxiter_runs_that_many_iterations():
    options = {"maxiter": 4.0}
    res = minimize(rosen, X0, jac=rosen_der, method=learned, options=options)
    bfgs = minimize(rosen, X0, jac=rosen_der, method="BFGS", options=options)
    assert res.nit == bfgs.nit == 4 and res.status == status.MAXITER
    assert options == {"maxiter": 4.0} and isinstance(options["maxiter"], float)


def test_every_integer_option_is_covered():
    assert {"maxiter", "memory", "dense_max", "maxls", "learned_maxls", "nonmonotone",
            "stall_window", "reset_after", "cg_maxiter", "diagonal_max", "budget",
            "global_steps"} == set(INTEGER_OPTIONS)


@pytest.mark.parametrize("name", INTEGER_OPTIONS)
@pytest.mark.parametrize("kind", [float, np.float32, np.int64, np.uint8])
def test_integral_values_of_integer_options_are_integers(name, kind):
    given_options = {name: kind(5)}
    resolved = _options.resolve_options(_options.DEFAULTS, given_options, stacklevel=2)
    assert resolved[name] == 5 and type(resolved[name]) is int
    assert type(given_options[name]) is kind  # the caller's mapping is left alone
    assert type(LearnedMinimizer(**given_options).options[name]) is int


@pytest.mark.parametrize("name", INTEGER_OPTIONS)
@pytest.mark.parametrize("bad", [4.5, True, False, np.bool_(True), float("inf"), float("nan"),
                                 "4"])
def test_non_integral_values_of_integer_options_are_refused(name, bad):
    rule = _options.RULES[name][1]
    with pytest.raises(ValueError, match=re.escape(f"'{name}' must {rule}; got {bad!r}")):
        minimize(rosen, X0, jac=rosen_der, method=learned, options={name: bad})


# --------------------------------------------------------------------------------------------
# 5. Bounds of the wrong length failed with numpy's broadcast error


@pytest.mark.parametrize("lb, ub, count", [([0.0] * 3, [1.0] * 3, 3), (0.0, [1.0] * 3, 3),
                                            ([0.0] * 3, 1.0, 3), ([[0.0, 0.0]], [[1.0, 1.0]], 2)])
def test_bounds_object_of_the_wrong_length_is_refused_by_name(lb, ub, count):
    with pytest.raises(ValueError, match=rf"'bounds' has {count} (lower|upper) bounds .* x0 has 2"):
        minimize(rosen, X0, method=learned, bounds=Bounds(lb, ub))


def test_bounds_object_of_scalars_applies_to_every_variable():
    res = minimize(rosen, X0, jac=rosen_der, method=learned, bounds=Bounds(-2.0, 0.5))
    ref = minimize(rosen, X0, jac=rosen_der, method="L-BFGS-B", bounds=Bounds(-2.0, 0.5))
    assert res.success and np.all(res.x <= 0.5)
    assert_allclose(res.x, ref.x, atol=1e-4)


@pytest.mark.parametrize("bounds", [[(np.inf, np.inf), (0, 1)], [(0, 1), (-np.inf, -np.inf)],
                                    [(np.zeros(1), np.ones(1))] * 2])
def test_bounds_that_are_not_a_box_are_refused_by_name(bounds):
    with pytest.raises(ValueError, match="'bounds'"):
        minimize(rosen, X0, method=learned, bounds=bounds)


# --------------------------------------------------------------------------------------------
# 6. Ctrl-C while torch was importing left it half-imported for the interpreter's lifetime


def _torch_entries():
    return {k: v for k, v in sys.modules.items() if k == "torch" or k.startswith("torch.")}


@pytest.fixture
def torch_not_imported():
    """``sys.modules`` as before the first ``import torch``; the real entries come back after."""
    saved = _torch_entries()
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in _torch_entries():
            del sys.modules[name]
        sys.modules.update(saved)


def _partial_module(name):
    module = types.ModuleType(name)
    module.__spec__ = ModuleSpec(name, None)
    module.__spec__._initializing = True
    return module


def _interrupted_load(*names):
    """A ``weights.load`` that is interrupted after importing the modules ``names``."""

    def load(weights, trust=False):
        for name in names:
            sys.modules[name] = _partial_module(name)
        raise KeyboardInterrupt

    return load


def test_interrupted_torch_import_is_forgotten(torch_not_imported, monkeypatch):
    from learnedmin import weights

    monkeypatch.setattr(weights, "load", _interrupted_load("torch", "torch._utils"))
    method = LearnedMinimizer()
    with pytest.raises(KeyboardInterrupt):
        minimize(rosen, X0, jac=rosen_der, method=method)
    assert _torch_entries() == {}  # the next call imports torch afresh
    assert method._policy is None


def test_interrupted_torch_import_after_its_extension_fails_clearly(torch_not_imported,
                                                                    monkeypatch):
    # once torch._C has loaded, torch cannot be imported a second time in the process
    from learnedmin import weights

    monkeypatch.setattr(weights, "load", _interrupted_load("torch._utils", "torch._C"))
    with pytest.raises(KeyboardInterrupt):
        minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer())
    with pytest.raises(RuntimeError, match="interrupted.*restart the interpreter"):
        minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer())
    res = minimize(rosen, X0, jac=rosen_der, method=CLASSICAL)  # fixed weights need no torch
    assert res.success


def test_interruption_after_torch_imported_leaves_it(monkeypatch):
    import torch  # noqa: F401 - imported before the call

    from learnedmin import weights

    before = _torch_entries()

    def load(weights, trust=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(weights, "load", load)
    with pytest.raises(KeyboardInterrupt):
        minimize(rosen, X0, jac=rosen_der, method=LearnedMinimizer())
    assert _torch_entries() == before


# --------------------------------------------------------------------------------------------
# Boundary fixes the fuzz below found


def test_ragged_jac_is_refused_naming_jac():
    with pytest.raises(TypeError, match="`jac` must return a real array"):
        minimize(rosen, X0, jac=lambda x: [1.0, [2.0, 3.0]], method=learned)


@pytest.mark.parametrize("scaled", [False, True])
def test_hess_of_the_wrong_shape_is_refused_naming_hess(scaled):
    options = {"x_scale": 2.0} if scaled else {}
    with pytest.raises(ValueError, match=r"`hess` must return a \(2, 2\) matrix"):
        minimize(rosen, X0, jac=rosen_der, hess=lambda x: np.eye(3), method=learned,
                 options=options)


@pytest.mark.parametrize("scaled", [False, True])
def test_hess_as_np_matrix_is_a_matrix(scaled):
    from scipy.optimize import rosen_hess

    options = {"x_scale": 2.0} if scaled else {}
    with warnings.catch_warnings():  # numpy discourages np.matrix; users still return one
        warnings.filterwarnings("ignore", "the matrix subclass", PendingDeprecationWarning)
        res = minimize(rosen, X0, jac=rosen_der, hess=lambda x: np.asmatrix(rosen_hess(x)),
                       method=learned, options=options)
    assert res.success
    assert_allclose(res.x, [1.0, 1.0], atol=1e-5)


def test_hess_that_cannot_multiply_is_refused_naming_hess():
    class Shaped:
        shape = (2, 2)

    with pytest.raises((TypeError, ValueError), match="`hess` returned .*cannot multiply"):
        minimize(rosen, X0, jac=rosen_der, hess=lambda x: Shaped(), method=learned)


# --------------------------------------------------------------------------------------------
# Fuzz: one malformed argument at a time

N = 2
GOOD_X0 = np.array([0.5, -1.5])


def _sphere(x, *args):
    with np.errstate(all="ignore"):  # x0 = 1e308 overflows in the user's arithmetic
        return float(np.sum((x - 1.0) ** 2))


def _sphere_grad(x, *args):
    with np.errstate(all="ignore"):
        return 2.0 * (x - 1.0)


def _after(calls, value, good):
    """A callable that returns ``good(x)`` ``calls`` times, then ``value``."""
    count = {"n": 0}

    def fn(x, *rest):
        count["n"] += 1
        return good(x, *rest) if count["n"] <= calls else value

    return fn


_VALUES = st.sampled_from([None, "1.0", 1 + 2j, np.nan, np.inf, -np.inf, [1.0, [2.0]],
                           np.ones(N + 1), np.ones((N, N)), np.array(["a", "b"]), object(),
                           np.ones(N, dtype=complex), np.full(N, np.nan), [1.0] * N, 3.0])
_LATER = st.integers(0, 6)


@st.composite
def _x0(draw):
    return draw(st.sampled_from([
        np.array([1.0, np.nan]), np.array([np.inf, 0.0]), np.array([1 + 1j, 2.0]),
        np.ones((N, N)), np.array([]), np.array(["a", "b"]), None, "x0", [1.0, [2.0]],
        np.array([1.0, 2.0], dtype=object), {"a": 1.0}, np.zeros((1, 1, 2)),
        np.array([True, False]), np.array([1e308, -1e308]), np.array([3, 4], dtype=np.int8),
        np.array([1.0, 2.0], dtype=np.float32), [0.5, -1.5], 2.0,
    ]))


@st.composite
def _case(draw):
    """``(kwargs, name)``: arguments with one malformed entry, and the name a refusal states."""
    kwargs = {"fun": _sphere, "x0": GOOD_X0.copy(), "jac": draw(st.sampled_from([None,
                                                                                _sphere_grad]))}
    target = draw(st.sampled_from(["x0", "fun", "jac", "hess", "hessp", "callback", "bounds",
                                   "options"]))
    name = target
    if target == "x0":
        kwargs["x0"] = draw(_x0())
    elif target == "fun":
        kwargs["fun"] = _after(draw(_LATER), draw(_VALUES), _sphere)
    elif target == "jac":
        kwargs["jac"] = _after(draw(_LATER), draw(_VALUES), _sphere_grad)
    elif target == "hess":
        value = draw(st.one_of(_VALUES, st.sampled_from(
            [np.eye(N + 1), np.full((N, N), np.nan),
             np.eye(N, dtype=complex), np.array([["a", "b"], ["c", "d"]]), -np.eye(N)])))
        kwargs["hess"] = _after(draw(_LATER), value, lambda x, *a: 2.0 * np.eye(N))
    elif target == "hessp":
        kwargs["hessp"] = _after(draw(_LATER), draw(_VALUES), lambda x, p, *a: 2.0 * p)
    elif target == "callback":
        stop_at = draw(st.integers(1, 4))
        style = draw(st.sampled_from(["xk", "positional", "keyword-only", "not callable"]))
        calls = []

        def stop(k):
            if k >= stop_at:
                raise StopIteration

        kwargs["callback"] = {
            "xk": lambda xk: stop(len(calls.append(xk) or calls)),
            "positional": lambda intermediate_result: stop(intermediate_result.nit),
            "keyword-only": lambda *, intermediate_result: stop(intermediate_result.nit),
            "not callable": "callback",
        }[style]
    elif target == "bounds":
        kwargs["bounds"] = draw(st.sampled_from([
            [(0, 1)] * (N + 1), [(1, 0)] * N, [(np.nan, 1)] * N, Bounds([0] * (N + 1), 1),
            Bounds(np.zeros((1, N)), 1), 5, "ab", [(0,)] * N, [("a", "b")] * N,
            [(np.inf, None)] * N, [(None, -np.inf)] * N, [(0, 0)] * N, [(2, 3)] * N,
            [(None, None)] * N, Bounds(["a"] * N, 1), [(np.zeros(2), np.ones(2))] * N,
        ]))
    else:
        name = draw(st.sampled_from(sorted(_options.RULES)))
        value = draw(st.sampled_from([-1, 0, 0.5, 1.5, 2.0, 1e30, -np.inf, np.nan, True, "3",
                                      None, [1.0, 2.0], [0.0, 1.0], np.float32(3), 1 + 1j]))
        kwargs["options"] = {name: value}
    if target != "options" and draw(st.booleans()):  # one scale per variable needs n = N
        scales = [2.0] if target == "x0" else [2.0, [0.5, 4.0]]
        kwargs["options"] = {"x_scale": draw(st.sampled_from(scales))}
    return kwargs, name


def test_huge_finite_gradient_at_x0_does_not_warn():
    res = CLASSICAL(_sphere, GOOD_X0, jac=lambda x: np.full(N, 1e300))
    assert res.status in status.MESSAGES


@settings(max_examples=50)
@given(case=_case())
def test_malformed_input_is_refused_by_name_or_ends_with_a_status(case):
    kwargs, name = case
    x0 = kwargs.pop("x0")
    x0_before = x0.copy() if isinstance(x0, np.ndarray) else None
    fun = kwargs.pop("fun")
    options = kwargs.pop("options", {})
    options = {"maxiter": 30, **options}
    try:
        res = CLASSICAL(fun, x0, **kwargs, **options)
    except (TypeError, ValueError) as exc:
        assert name in str(exc), f"{type(exc).__name__} does not name {name!r}: {exc}"
    else:
        assert res.status in status.MESSAGES, res.status
        assert res.message.startswith(status.MESSAGES[res.status])  # the table's, perhaps explained
        assert res.success == (res.status == status.SUCCESS)
        assert res.x.shape == (np.asarray(res.x).size,) and res.x.dtype == np.float64
    if x0_before is not None:
        assert x0.dtype == x0_before.dtype
        assert_array_equal(x0, x0_before)
