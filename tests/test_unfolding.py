"""Reference schedules for gradient descent on random least squares (learnedmin.bench.unfolding).

Small instances (60 x 30, T = 8) keep every test fast; values are compared through inequalities
and tolerances, never pinned.
"""

import numpy as np
import pytest

from learnedmin.bench import unfolding as u

M, N, T = 60, 30, 8


@pytest.fixture(scope="module")
def train():
    return u.sample(np.random.default_rng(1), 6, M, N)


@pytest.fixture(scope="module")
def test_set():
    return u.sample(np.random.default_rng(2), 5, M, N)


def mean_error_at_T(problem, steps):
    A, b, x_star = problem
    return float(u.gd_errors(A, b, x_star, steps)[:, -1].mean())


def test_sample_shapes_and_consistency():
    A, b, x_star = u.sample(np.random.default_rng(0), 3, M, N)
    assert A.shape == (3, M, N) and b.shape == (3, M) and x_star.shape == (3, N)
    np.testing.assert_allclose(b, np.einsum("bij,bj->bi", A, x_star))
    A2, _, _ = u.sample(0, 3, M, N)
    np.testing.assert_array_equal(A, A2)


def test_error_is_relative_to_start_at_zero():
    x_star = np.array([[3.0, 4.0], [1.0, 0.0]])
    np.testing.assert_allclose(u.error(np.zeros_like(x_star), x_star), [1.0, 1.0])
    np.testing.assert_allclose(u.error(x_star, x_star), [0.0, 0.0])
    assert u.error(np.array([3.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(16 / 25)


def test_gd_errors_matches_direct_loop(test_set):
    A, b, x_star = test_set
    steps = np.linspace(0.5, 1.5, T) / np.linalg.norm(A[0], 2) ** 2
    out = u.gd_errors(A, b, x_star, steps)
    assert out.shape == (A.shape[0], T + 1)
    np.testing.assert_allclose(out[:, 0], 1.0)
    x = np.zeros(N)
    for g in steps:
        x = x - g * A[1].T @ (A[1] @ x - b[1])
    assert out[1, -1] == pytest.approx(u.error(x, x_star[1]), rel=1e-9)
    # A per-instance schedule (B, T) with identical rows gives the same errors.
    per = u.gd_errors(A, b, x_star, np.tile(steps, (A.shape[0], 1)))
    np.testing.assert_allclose(per, out)


@pytest.mark.parametrize("T_", [1, 2, 3, 5, 6, 8, 12, 24, 32, 40, 64, 100])
def test_stable_order_is_a_permutation(T_):
    order = u.stable_order(T_)
    assert sorted(order.tolist()) == list(range(T_))


@pytest.mark.parametrize("order", ["stable", "natural"])
def test_chebyshev_steps_meet_the_chebyshev_bound(test_set, order):
    A, b, x_star = test_set
    lam_min, lam_max = u.extreme_eigenvalues(A)
    steps = u.chebyshev_steps(lam_min, lam_max, T, order=order)
    assert steps.shape == (A.shape[0], T)
    errors = u.gd_errors(A, b, x_star, steps)[:, -1]
    bound = u.chebyshev_bound(lam_min, lam_max, T)
    ratio = (lam_max + lam_min) / (lam_max - lam_min)
    # The bound written out with the Chebyshev polynomial of degree T outside [-1, 1].
    cheb = np.polynomial.chebyshev.chebval(ratio, [0] * T + [1])
    np.testing.assert_allclose(bound, 1 / cheb ** 2, rtol=1e-9)
    assert np.all(errors <= bound * (1 + 1e-6) + 1e-15)
    # The steps are the reciprocals of the Chebyshev roots mapped to [lam_min, lam_max].
    roots = np.sort(1 / steps[0])
    k = np.arange(T)
    expected = np.sort((lam_max[0] + lam_min[0]) / 2
                       + (lam_max[0] - lam_min[0]) / 2 * np.cos(np.pi * (2 * k + 1) / (2 * T)))
    np.testing.assert_allclose(roots, expected, rtol=1e-12)


def test_chebyshev_steps_on_a_known_diagonal_spectrum():
    # A = diag(sqrt(lam)) padded with zero rows: A^T A has the eigenvalues lam exactly.
    lam = np.linspace(1.0, 50.0, N)
    A = np.zeros((1, M, N))
    A[0, :N, :N] = np.diag(np.sqrt(lam))
    x_star = np.random.default_rng(3).standard_normal((1, N))
    b = np.einsum("bij,bj->bi", A, x_star)
    for T_ in (4, 8, 16):
        steps = u.chebyshev_steps(1.0, 50.0, T_)
        assert steps.shape == (T_,)
        err = u.gd_errors(A, b, x_star, steps)[0, -1]
        assert err <= u.chebyshev_bound(1.0, 50.0, T_) * (1 + 1e-6)


def test_conjugate_gradients_solves_in_n_steps():
    n = 10
    A, b, x_star = u.sample(np.random.default_rng(4), 4, 40, n)
    out = u.conjugate_gradients(A, b, x_star, n)
    assert out.shape == (4, n + 1)
    np.testing.assert_allclose(out[:, 0], 1.0)
    assert np.all(out[:, -1] < 1e-16)
    # Extra iterations after convergence stay put (no division by zero).
    more = u.conjugate_gradients(A, b, x_star, 3 * n)
    assert np.all(np.isfinite(more)) and np.all(more[:, -1] < 1e-16)


def test_conjugate_gradients_beat_chebyshev_steps(test_set):
    A, b, x_star = test_set
    lam_min, lam_max = u.extreme_eigenvalues(A)
    cheb = u.gd_errors(A, b, x_star, u.chebyshev_steps(lam_min, lam_max, T))[:, -1]
    cg = u.conjugate_gradients(A, b, x_star, T)[:, -1]
    assert cg.mean() < cheb.mean()


def test_best_constant_step_is_a_minimiser(train):
    A, b, x_star = train
    gamma = u.best_constant_step(A, b, x_star, T)
    best = mean_error_at_T(train, np.full(T, gamma))
    for factor in (0.9, 1.1, 0.99, 1.01):
        assert best <= mean_error_at_T(train, np.full(T, factor * gamma)) * (1 + 1e-9)
    lam_min, lam_max = u.extreme_eigenvalues(A)
    lo, hi = lam_min.mean(), lam_max.mean()
    for other in (1 / hi, 2 / (lo + hi), 0.5 * 2 / (lo + hi)):
        assert best <= mean_error_at_T(train, np.full(T, other)) * (1 + 1e-9)


def test_optimal_schedule_no_worse_than_best_constant(train, test_set):
    A, b, x_star = train
    gamma = u.best_constant_step(A, b, x_star, T)
    constant = mean_error_at_T(train, np.full(T, gamma))
    steps, loss = u.optimal_schedule(A, b, x_star, T, iters=60, lr=0.02, return_loss=True)
    assert steps.shape == (T,) and np.all(steps > 0)
    trained = mean_error_at_T(train, steps)
    assert trained == pytest.approx(loss, rel=1e-6)
    assert trained <= constant * (1 + 1e-9)
    # No iterations: the best constant step itself.
    steps0 = u.optimal_schedule(A, b, x_star, T, iters=0)
    np.testing.assert_allclose(steps0, gamma, rtol=1e-12)


def test_optimal_schedule_learns(test_set):
    big = u.sample(np.random.default_rng(5), 64, M, N)
    gamma = u.best_constant_step(*big, T)
    steps = u.optimal_schedule(*big, T, iters=400, lr=0.02)
    # Trained long enough, the schedule beats the constant step by far on its training set and
    # still beats it on unseen instances (whose spectra, at this small size, vary much more).
    assert mean_error_at_T(big, steps) < 0.1 * mean_error_at_T(big, np.full(T, gamma))
    assert mean_error_at_T(test_set, steps) < mean_error_at_T(test_set, np.full(T, gamma))


def test_lbfgsb_errors_and_counts(test_set):
    A, b, x_star = test_set
    errors, nfev = u.lbfgsb(A, b, x_star, T)
    assert errors.shape == (A.shape[0],) and nfev.shape == (A.shape[0],)
    assert np.all(nfev >= 1) and np.all(errors < 1)
    longer, _ = u.lbfgsb(A, b, x_star, 4 * N)
    assert np.all(longer < 1e-12)


def test_references_and_cli(capsys):
    ref = u.references(seed=0, instances=3, T=4, train_instances=4, m=20, n=10, iters=20)
    for key in ("gd_constant", "optimal_schedule", "chebyshev", "cg"):
        entry = ref["methods"][key]
        assert entry["curve"].shape == (5,)
        assert entry["error"] == entry["curve"][-1]
        assert entry["curve"][0] == pytest.approx(1.0)
    assert ref["schedules"]["optimal"].shape == (4,)
    assert ref["schedules"]["chebyshev"].shape == (3, 4)
    assert ref["methods"]["cg"]["error"] <= ref["methods"]["gd_constant"]["error"]
    table = u.format_references(ref)
    assert table.startswith("| method |") and "conjugate gradients" in table

    assert u.main(["--instances", "2", "--T", "3", "--train-instances", "3", "--m", "12",
                   "--n", "6", "--iters", "5"]) == 0
    out = capsys.readouterr().out
    assert "mean error at T = 3" in out and "wall time" in out


A0, B0, X0 = u.sample(np.random.default_rng(9), 2, 8, 4)


@pytest.mark.parametrize("call, name", [
    (lambda: u.sample(0, 0), "batch"),
    (lambda: u.sample(0, 2, m=3, n=4), "'m'"),
    (lambda: u.sample(0, 2, n=0), "'n'"),
    (lambda: u.gd_errors(A0[0], B0, X0, [0.1]), "'A'"),
    (lambda: u.gd_errors(A0, B0[:, :3], X0, [0.1]), "'b'"),
    (lambda: u.gd_errors(A0, B0, X0[:1], [0.1]), "'x_star'"),
    (lambda: u.gd_errors(A0, B0, X0, np.ones((3, 2))), "'steps'"),
    (lambda: u.gd_errors(A0, B0, X0, []), "'steps'"),
    (lambda: u.best_constant_step(A0, B0, X0, 0), "'T'"),
    (lambda: u.best_constant_step(A0, B0, X0, 2.5), "'T'"),
    (lambda: u.chebyshev_steps(1.0, 10.0, 0), "'T'"),
    (lambda: u.chebyshev_steps(0.0, 10.0, 4), "'lam_min'"),
    (lambda: u.chebyshev_steps(5.0, 1.0, 4), "'lam_min'"),
    (lambda: u.chebyshev_steps([1.0, 2.0], [3.0], 4), "'lam_min'"),
    (lambda: u.chebyshev_steps(1.0, 2.0, 4, order="random"), "'order'"),
    (lambda: u.stable_order(0), "'T'"),
    (lambda: u.optimal_schedule(A0, B0, X0, 0), "'T'"),
    (lambda: u.optimal_schedule(A0, B0, X0, 2, iters=-1), "'iters'"),
    (lambda: u.optimal_schedule(A0, B0, X0, 2, lr=0.0), "'lr'"),
    (lambda: u.optimal_schedule(A0, B0, X0, 2, jitter=-1.0), "'jitter'"),
    (lambda: u.conjugate_gradients(A0, B0, X0, 0), "'T'"),
    (lambda: u.conjugate_gradients(A0, B0, np.zeros_like(X0), 2), "'x_star'"),
    (lambda: u.lbfgsb(A0, B0, X0, 0), "'budget'"),
    (lambda: u.error(np.zeros(3), np.ones(4)), "'x'"),
    (lambda: u.references(instances=0), "'instances'"),
])
def test_bad_arguments_raise_value_error_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()
