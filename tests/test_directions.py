"""Candidate directions against dense oracles."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from learnedmin.directions import (
    SLOTS,
    candidates,
    gradient_scale,
    jacobi_diagonal,
    lbfgs_direction,
    memory_init,
    memory_push,
    newton_cg_direction,
)

from _helpers import random_spd


def dense_bfgs_inverse(pairs, gamma, n):
    """H_k from the BFGS inverse update applied to H_0 = gamma I (Nocedal & Wright eq. 6.17)."""
    H = gamma * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / (s @ y)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


@pytest.mark.parametrize("m", [1, 3, 10])
def test_two_loop_equals_dense_bfgs_inverse(m):
    rng = np.random.default_rng(m)
    n = 8
    A = random_spd(rng, n, 50.0)
    mem = memory_init(np.float64(1.0))
    pairs = []
    for _ in range(12):
        s = rng.standard_normal(n)
        y = A @ s
        mem = memory_push(mem, s, y, m)
        pairs.append((s, y))
    kept = pairs[-m:]
    s_last, y_last = kept[-1]
    gamma = (s_last @ y_last) / (y_last @ y_last)
    assert_allclose(mem.gamma, gamma)
    g = rng.standard_normal(n)
    assert_allclose(lbfgs_direction(g, mem), -dense_bfgs_inverse(kept, gamma, n) @ g,
                    rtol=1e-10, atol=1e-12)



def _started_dense(H):
    return memory_init(np.float64(1.0), np.zeros(H.shape[0]))._replace(H=H, started=np.True_)


def test_dense_bfgs_grows_an_inverse_hessian_that_is_too_small():
    # H underestimates the inverse curvature along y (y'Hy < s'y): H is scaled by
    # tau = s'y / y'Hy before the BFGS update (Oren-Luenberger, growing only)
    rng = np.random.default_rng(3)
    n = 6
    A = random_spd(rng, n, 100.0)
    H = 1e-3 * np.eye(n)
    s = rng.standard_normal(n)
    y = A @ s
    tau = (s @ y) / (y @ H @ y)
    assert tau > 1
    new = memory_push(_started_dense(H), s, y, 10)
    assert_allclose(new.H, dense_bfgs_inverse([(s, y)], 1e-3 * tau, n), rtol=1e-12)
    assert_allclose(new.H @ y, s, rtol=1e-10)  # the secant equation still holds


def test_dense_bfgs_never_shrinks_an_inverse_hessian_that_is_too_large():
    rng = np.random.default_rng(4)
    n = 6
    A = random_spd(rng, n, 100.0)
    s = rng.standard_normal(n)
    y = A @ s
    H = 1e3 * np.eye(n)
    assert (s @ y) < y @ H @ y
    new = memory_push(_started_dense(H), s, y, 10)
    assert_allclose(new.H, dense_bfgs_inverse([(s, y)], 1e3, n), rtol=1e-12)


def test_pair_with_negative_curvature_is_a_no_op():
    rng = np.random.default_rng(0)
    n = 5
    mem = memory_push(memory_init(np.float64(0.5)), np.ones(n), np.ones(n), 4)
    before = lbfgs_direction(rng.standard_normal(n), mem)
    bad = memory_push(mem, np.ones(n), -np.ones(n), 4)
    assert bad.rho[-1] == 0 and bad.gamma == mem.gamma
    g = rng.standard_normal(n)
    assert_allclose(lbfgs_direction(g, bad), lbfgs_direction(g, mem))
    assert before.shape == (n,)


def test_memory_keeps_newest_m_pairs():
    mem = memory_init(np.float64(1.0))
    for i in range(7):
        mem = memory_push(mem, np.full(2, i + 1.0), np.full(2, i + 1.0), 3)
    assert len(mem.s) == 3 and mem.s[0][0] == 5.0 and mem.s[-1][0] == 7.0


def test_newton_cg_solves_spd_system():
    rng = np.random.default_rng(1)
    n = 20
    A = random_spd(rng, n, 1e3)
    g = rng.standard_normal(n)
    d, calls = newton_cg_direction(g, lambda p: A @ p, np.linalg.norm(g) * 1e8, 200)
    # forcing term min(0.5, sqrt(|g|/|g0|)) = 1e-4: the quadratic model is nearly minimal
    def q(v):
        return g @ v + 0.5 * v @ A @ v

    q_star = q(-np.linalg.solve(A, g))
    assert (q(d) - q_star) <= 1e-3 * abs(q_star), (q(d), q_star)
    assert calls <= 200
    assert g @ d < 0


def test_newton_cg_solves_badly_scaled_variables_too():
    # Two groups of variables whose curvatures differ by 1e8 contribute equally to the model
    # decrease. A residual-norm test stops once the stiff group is solved (its residual dwarfs
    # the other); the model-decrease test goes on until both are solved.
    A = np.diag([1e8, 1e8, 1.0, 1.0])
    g = np.array([1e4, 1e4, 1.0, 1.0])
    d, calls = newton_cg_direction(g, lambda p: A @ p, np.linalg.norm(g), 20)
    assert_allclose(d, -g / np.diag(A), rtol=1e-8)
    assert calls <= 3


def test_newton_cg_negative_curvature_at_first_step_gives_scaled_gradient():
    g = np.array([1.0, 0.0])
    H = np.diag([-2.0, 1.0])
    d, calls = newton_cg_direction(g, lambda p: H @ p, np.float64(1.0), 10)
    assert calls == 1
    assert_allclose(d, -g / 2.0)


def test_newton_cg_gauss_newton_direction():
    # with a Gauss-Newton product J'J p the direction is the Gauss-Newton step -(J'J)^-1 J'r
    rng = np.random.default_rng(2)
    J = rng.standard_normal((30, 6))
    r = rng.standard_normal(30)
    g = J.T @ r
    d, _ = newton_cg_direction(g, lambda p: J.T @ (J @ p), np.linalg.norm(g) * 1e12, 100)
    assert_allclose(d, -np.linalg.lstsq(J, r, rcond=None)[0], rtol=1e-5)


def test_jacobi_preconditioned_newton_cg_is_invariant_to_diagonal_scaling():
    # x = D z: the truncated direction in z is D^-1 times the one in x, even when the solve
    # stops early (a loose forcing term) on a badly scaled, coupled system
    rng = np.random.default_rng(5)
    n = 12
    A = random_spd(rng, n, 1e2)
    g = rng.standard_normal(n)
    D = np.diag(10.0 ** rng.uniform(-3, 3, n))
    As, gs = D @ A @ D, D @ g
    d, _ = newton_cg_direction(g, lambda p: A @ p, np.linalg.norm(g) * 4, 50,
                               diagonal=jacobi_diagonal(np.diag(A)))
    ds, _ = newton_cg_direction(gs, lambda p: As @ p, np.linalg.norm(gs) * 4, 50,
                                diagonal=jacobi_diagonal(np.diag(As)))
    assert_allclose(D @ ds, d, rtol=1e-8, atol=1e-12 * np.abs(d).max())
    # without the preconditioner the early-stopped directions differ
    d_plain, _ = newton_cg_direction(g, lambda p: A @ p, np.linalg.norm(g) * 4, 2)
    ds_plain, _ = newton_cg_direction(gs, lambda p: As @ p, np.linalg.norm(gs) * 4, 2)
    assert not np.allclose(D @ ds_plain, d_plain, rtol=1e-3)


def test_jacobi_diagonal_is_positive_or_none():
    assert_allclose(jacobi_diagonal(np.array([-4.0, 0.0, 2.0])), [4.0, 4e-12, 2.0])
    assert jacobi_diagonal(np.zeros(3)) is None
    assert jacobi_diagonal(np.array([1.0, np.nan])) is None
    assert jacobi_diagonal(None) is None



def test_barzilai_borwein_scale():
    s = np.array([1.0, 2.0])
    y = np.array([2.0, 4.0])
    assert_allclose(gradient_scale(s, y, np.float64(9.0)), 0.5)
    assert gradient_scale(s, -y, np.float64(9.0)) == 9.0


def test_candidates_slot_order_and_masks():
    g = np.array([1.0, -2.0])
    s = np.array([0.1, 0.3])
    y = np.array([0.2, 0.5])
    second = np.array([-3.0, 1.0])
    dirs, valid = candidates(g, np.zeros(2), np.zeros(2), np.bool_(False), second, np.float64(0.1))
    assert SLOTS == ("gradient", "momentum", "second_order")
    assert_allclose(dirs[0], -0.1 * g)
    assert_allclose(dirs[1], 0.0)
    assert_allclose(dirs[2], second)
    assert [bool(v) for v in valid] == [True, False, True]
    dirs, valid = candidates(g, s, y, np.bool_(True), second, np.float64(0.1))
    assert_allclose(dirs[0], -(s @ s) / (s @ y) * g)
    assert_allclose(dirs[1], s)
    assert all(bool(v) for v in valid)
