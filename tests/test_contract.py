"""The SciPy custom-method contract, as `scipy.optimize.minimize(method=learned)` exercises it."""

import copy
import inspect

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import OptimizeWarning, minimize, rosen, rosen_der, rosen_hess, rosen_hess_prod

from learnedmin import FixedWeights, LearnedMinimizer, learned

X0 = np.array([-1.2, 1.0])
RESULT_FIELDS = ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "status", "success",
                 "message", "step_weights", "overridden", "trace")


def test_signature_is_scipys():
    params = list(inspect.signature(learned.__call__).parameters)
    assert params[:10] == ["fun", "x0", "args", "jac", "hess", "hessp", "bounds", "constraints",
                           "callback", "options"]


def test_result_fields_and_types():
    res = minimize(rosen, X0, jac=rosen_der, method=learned)
    for field in RESULT_FIELDS:
        assert field in res, field
    assert res.success and res.status == 0
    assert res.message == "Optimization terminated successfully."
    assert isinstance(res.fun, float) and res.x.dtype == np.float64 and res.x.shape == (2,)
    assert res.step_weights.shape == (res.nit, 3)
    assert res.overridden.shape == (res.nit,) and res.overridden.dtype == bool
    assert_allclose(res.x, [1.0, 1.0], atol=1e-4)
    assert_allclose(res.jac, rosen_der(res.x))


@pytest.mark.parametrize("mode", ["callable", "true", "none", "2-point"])
def test_jac_modes_agree_and_counts_are_real(mode, counted):
    fun = counted(rosen)
    der = counted(rosen_der)
    if mode == "callable":
        res = minimize(fun, X0, jac=der, method=learned)
        assert (res.nfev, res.njev) == (fun.calls, der.calls)
    elif mode == "true":
        both = counted(lambda x: (rosen(x), rosen_der(x)))
        res = minimize(both, X0, jac=True, method=learned)
        # SciPy memoizes fun+jac: each distinct point costs one call of the combined function
        assert both.calls <= res.nfev + res.njev and both.calls >= res.nfev
    else:
        res = minimize(fun, X0, jac=None if mode == "none" else mode, method=learned)
        # as SciPy's methods: every call of fun in nfev, each finite-difference gradient
        # (n calls at a point where fun was evaluated) once in njev
        assert res.nfev == fun.calls and der.calls == 0
        assert res.njev >= res.nit + 1 and res.nfev >= (X0.size + 1) * res.njev
    assert res.success
    assert_allclose(res.x, [1.0, 1.0], atol=1e-3)


def test_hess_and_hessp_give_newton_cg(counted):
    hp = counted(rosen_hess_prod)
    res = minimize(rosen, X0, jac=rosen_der, hessp=hp, method=learned)
    assert res.success and res.nhev == hp.calls > 0
    H = counted(rosen_hess)
    res2 = minimize(rosen, X0, jac=rosen_der, hess=H, method=learned)
    assert res2.success and res2.nhev == H.calls  # one Hessian per iteration
    assert H.calls == res2.nit
    assert_allclose(res2.x, [1, 1], atol=1e-5)


def test_hessp_preconditioner_costs_n_products_at_the_start():
    n = X0.size
    seen = []

    def hp(x, p):
        seen.append((x.tolist(), p.tolist()))
        return rosen_hess_prod(x, p)

    res = minimize(rosen, X0, jac=rosen_der, hessp=hp, method=learned)
    assert res.success and res.nhev == len(seen)
    assert seen[:n] == [(X0.tolist(), e.tolist()) for e in np.eye(n)]  # the diagonal at x0
    seen.clear()
    ref = minimize(rosen, X0, jac=rosen_der, hessp=hp, method=learned,
                   options={"precondition": False})
    assert ref.success and seen[0][1] != np.eye(n)[0].tolist()
    seen.clear()  # beyond diagonal_max the diagonal is estimated from 32 sign probes
    minimize(rosen, X0, jac=rosen_der, hessp=hp, method=learned, options={"diagonal_max": 1})
    assert all(set(np.abs(p)) == {1.0} for _, p in seen[:32])
    assert seen[32][1] != seen[0][1]


def test_with_a_hessian_the_network_steps_aside_unless_asked(tmp_path):
    torch = pytest.importorskip("torch")
    from learnedmin.network import WeightingNet
    from learnedmin.weights import export

    torch.manual_seed(0)
    net = WeightingNet(hidden=8)  # a network whose weights vary, trained without Newton-CG
    with torch.no_grad():
        net.head.weight.normal_(0.0, 0.5)
    export(net, tmp_path / "net.pt", {"description": "varying"})
    trained = LearnedMinimizer(weights=tmp_path / "net.pt")
    res = minimize(rosen, X0, jac=rosen_der, hess=rosen_hess, method=trained)
    assert_allclose(res.step_weights, np.tile([0.0, 0.0, 1.0], (res.nit, 1)))
    forced = minimize(rosen, X0, jac=rosen_der, hess=rosen_hess, method=trained,
                      options={"network_with_hessian": True})
    assert forced.success
    assert not np.allclose(forced.step_weights, np.tile([0.0, 0.0, 1.0], (forced.nit, 1)))
    fixed = LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.25)))
    res = minimize(rosen, X0, jac=rosen_der, hess=rosen_hess, method=fixed)
    assert_allclose(res.step_weights[0], [0.0, 0.0, 1.25])
    with pytest.raises(ValueError, match="network_with_hessian"):
        minimize(rosen, X0, jac=rosen_der, method=learned,
                 options={"network_with_hessian": "yes"})


def test_x_scale_solves_in_scaled_variables_and_reports_in_the_users():
    # f(x) = rosen(x / s): with x_scale = s the iterates are those of rosen from x0 / s, scaled
    s = np.array([1e-6, 1e3])
    seen, called = [], []

    def fun(x):
        seen.append(x.copy())
        return rosen(x / s)

    def jac(x):
        return rosen_der(x / s) / s

    x0 = X0 * s
    res = minimize(fun, x0, jac=jac, method=learned,
                   options={"x_scale": s, "return_all": True, "gtol": 1e-8},
                   callback=lambda xk: called.append(xk.copy()))
    ref = minimize(rosen, X0, jac=rosen_der, method=learned,
                   options={"return_all": True, "gtol": 1e-8})
    assert res.success and res.nit == ref.nit
    assert_allclose(res.x, ref.x * s, rtol=1e-9)
    # gtol applies to the gradient in the scaled variables, x_scale * jac
    assert np.max(np.abs(res.jac * s)) <= 1e-8
    assert_allclose(res.jac * s, ref.jac, atol=1e-9)
    # the same iterates up to rounding (x / s * s is not always x), amplified along the valley
    assert_allclose(np.array(res.allvecs) / s, np.array(ref.allvecs), rtol=1e-5, atol=1e-9)
    assert_allclose(np.array(called), np.array(res.allvecs[1:]))
    assert_allclose(seen[0], x0)  # the user's function sees the user's variables
    assert_array_equal(x0, X0 * s)  # and x0 is not mutated
    # without the scale the same problem is far harder
    plain = minimize(fun, x0, jac=jac, method=learned, options={"maxiter": 200})
    assert not plain.success or plain.nit > res.nit


@pytest.mark.parametrize("kind", ["dense", "sparse", "operator", "hessp"])
def test_x_scale_with_second_order_information(kind):
    from scipy import sparse
    from scipy.sparse.linalg import aslinearoperator

    s = np.array([1e-3, 1e2])

    def hess(x):
        H = rosen_hess(x / s) / np.outer(s, s)
        return {"dense": H, "sparse": sparse.csr_matrix(H),
                "operator": aslinearoperator(H)}[kind]

    extra = ({"hessp": lambda x, p: rosen_hess_prod(x / s, p / s) / s} if kind == "hessp"
             else {"hess": hess})
    res = minimize(lambda x: rosen(x / s), X0 * s, jac=lambda x: rosen_der(x / s) / s,
                   method=learned, options={"x_scale": s, "gtol": 1e-8}, **extra)
    assert res.success
    assert_allclose(res.x / s, [1.0, 1.0], atol=1e-6)


def test_x_scale_keeps_the_messages_that_name_a_bad_callable():
    with pytest.raises(TypeError, match="`jac` must return a real array"):
        minimize(rosen, X0, jac=lambda x: "bad", method=learned, options={"x_scale": 2.0})
    with pytest.raises(ValueError, match="`hessp` must return an array of shape"):
        minimize(rosen, X0, jac=rosen_der, hessp=lambda x, p: np.zeros(3), method=learned,
                 options={"x_scale": 2.0})


@pytest.mark.parametrize("bad", [-1.0, [1.0, 0.0], [1.0, np.inf], [1.0, 2.0, 3.0], "cells",
                                 [[1.0, 2.0]]])
def test_bad_x_scale_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="x_scale"):
        minimize(rosen, X0, jac=rosen_der, method=learned, options={"x_scale": bad})


def test_tol_sets_gtol():
    loose = minimize(rosen, X0, jac=rosen_der, method=learned, tol=1e-1)
    tight = minimize(rosen, X0, jac=rosen_der, method=learned, tol=1e-8)
    assert loose.nit < tight.nit
    assert np.max(np.abs(tight.jac)) <= 1e-8


def test_args_are_passed():
    def f(x, a, b):
        return a * np.sum((x - b) ** 2)

    def g(x, a, b):
        return 2 * a * (x - b)

    res = minimize(f, np.zeros(3), args=(2.0, 3.0), jac=g, method=learned)
    assert_allclose(res.x, 3.0, atol=1e-6)


def test_callback_xk_gets_copies():
    seen = []

    def cb(xk):
        seen.append(xk.copy())
        xk[:] = 1e6  # mutating the copy must not affect the run

    res = minimize(rosen, X0, jac=rosen_der, method=learned, callback=cb)
    assert len(seen) == res.nit and res.success
    assert_allclose(seen[-1], res.x)


def test_callback_intermediate_result():
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result)

    res = minimize(rosen, X0, jac=rosen_der, method=learned, callback=cb)
    assert len(seen) == res.nit
    assert seen[-1].fun == res.fun and np.array_equal(seen[-1].x, res.x)


@pytest.mark.parametrize("style", ["xk", "intermediate_result"])
def test_callback_stop_iteration(style):
    calls = []

    def stop(xk):
        calls.append(1)
        if len(calls) == 3:
            raise StopIteration

    def stop_ir(intermediate_result):
        return stop(intermediate_result.x)

    res = minimize(rosen, X0, jac=rosen_der, method=learned,
                   callback=stop if style == "xk" else stop_ir)
    assert res.status == 99 and not res.success and res.nit == 3
    assert res.message == "`callback` raised `StopIteration`."


def test_return_all_and_disp(capsys):
    res = minimize(rosen, X0, jac=rosen_der, method=learned,
                   options={"return_all": True, "disp": True})
    assert len(res.allvecs) == res.nit + 1
    assert_array_equal(res.allvecs[0], X0)
    assert_array_equal(res.allvecs[-1], res.x)
    out = capsys.readouterr().out
    assert "Optimization terminated successfully." in out and f"Iterations: {res.nit}" in out


def test_unknown_option_warns_naming_it():
    with pytest.warns(OptimizeWarning, match="Unknown solver options: bogus"):
        minimize(rosen, X0, jac=rosen_der, method=learned, options={"bogus": 1})


def test_maxiter_zero():
    res = minimize(rosen, X0, jac=rosen_der, method=learned, options={"maxiter": 0})
    assert res.nit == 0 and res.status == 1 and not res.success
    assert_array_equal(res.x, X0)
    assert res.nfev == 1 and res.njev == 1


def test_maxiter_reached():
    res = minimize(rosen, X0, jac=rosen_der, method=learned, options={"maxiter": 5})
    assert res.nit == 5 and res.status == 1
    assert res.message == "Maximum number of iterations has been exceeded."


@pytest.mark.parametrize("x0", [np.float64(3.0), np.array([3.0]), 3, [3], np.array(3, dtype=int)])
def test_scalar_and_int_x0(x0):
    res = minimize(lambda x: np.sum((x - 0.5) ** 2), x0, method=learned)
    assert res.success and res.x.shape == (1,)
    # |f'(x)| = 2 |x - 0.5| <= gtol = 1e-5 at success
    assert_allclose(res.x, [0.5], atol=5e-6)


def test_direct_call_with_0d_x0():
    res = learned(lambda x: np.sum((x - 0.5) ** 2), np.float64(2.0))
    assert res.x.shape == (1,) and res.success


def test_float32_x0_does_not_stop_at_x0():
    x0 = np.array([-1.2, 1.0], dtype=np.float32)
    res = minimize(rosen, x0, method=learned)
    assert res.nit > 10 and res.fun < 1e-6
    assert_array_equal(x0, np.array([-1.2, 1.0], dtype=np.float32))


def test_float32_fun_values_do_not_stop_at_x0():
    def f32(x):
        return np.float32(rosen(np.asarray(x, dtype=np.float32)))

    res = minimize(f32, X0, method=learned)
    bfgs = minimize(f32, X0, method="BFGS")  # the failure this guards against
    assert bfgs.nit <= 1
    assert res.nit > 10 and res.fun < 0.05 * rosen(X0) * 1e-2


def test_x0_and_options_untouched():
    x0 = X0.copy()
    options = {"maxiter": 50, "gtol": 1e-6}
    before = copy.deepcopy(options)
    minimize(rosen, x0, jac=rosen_der, method=learned, options=options)
    assert_array_equal(x0, X0)
    assert options == before


def test_fun_mutating_its_argument_does_not_corrupt_the_run():
    def f(x):
        v = rosen(x)
        x[:] = np.nan
        return v

    def g(x):
        v = rosen_der(x)
        x[:] = 1e9
        return v

    res = minimize(f, X0, jac=g, method=learned)
    assert res.success
    assert_allclose(res.x, [1, 1], atol=1e-4)


def test_constraints_rejected_naming_alternatives():
    with pytest.raises(ValueError, match="does not support constraints.*SLSQP"):
        minimize(rosen, X0, method=learned, constraints=[{"type": "eq", "fun": lambda x: x[0]}])


def test_minimizer_defaults_and_repr():
    m = LearnedMinimizer(maxiter=3)
    res = minimize(rosen, X0, jac=rosen_der, method=m)
    assert res.nit == 3
    assert "maxiter=3" in repr(m)
    res = minimize(rosen, X0, jac=rosen_der, method=m, options={"maxiter": 5})
    assert res.nit == 5


def test_minimizer_rejects_unknown_default_option():
    with pytest.raises(TypeError, match="unknown option.*bogus"):
        LearnedMinimizer(bogus=1)


def test_metadata_of_bundled_weights():
    meta = learned.metadata
    assert meta["slots"] == ["gradient", "momentum", "second_order"]
    assert len(meta["sha256"]) == 64
