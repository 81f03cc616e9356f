"""The state of a run: its fixed setup, the immutable batched state record, and ``init``.

:mod:`learnedmin.step` advances a :class:`State` by one iteration; this module holds the records
it works on and the state before the first iteration.
"""

from typing import NamedTuple

from . import _status as st
from ._xp import array_namespace, norm, safe_div, select, stop_gradient
from .directions import N_SLOTS, memory_init
from .requests import Request
from .safeguard import APPROX_EPS
from .search import SearchRules
from .statistics import History

__all__ = ["Setup", "State", "StepInfo", "init", "best_point"]


class Setup(NamedTuple):
    """What stays fixed during a run: the policy, the solver options and the problem's form.

    ``lb``, ``ub``: bounds broadcastable to (B, n), or ``None`` without bounds. ``has_hessian``:
    the second-order slot is Newton-CG on ``"hessp"`` requests (else quasi-Newton).
    ``step_gradient``: differentiate through accepted step lengths (torch only). ``paired``:
    f and g come together (``jac=True``): every trial asks for both, and with the option
    ``refine=None`` the refinement's extra trial, which would cost a full evaluation, is off.
    """

    policy: object
    opts: dict
    lb: object = None
    ub: object = None
    has_hessian: bool = False
    step_gradient: bool = True
    paired: bool = False

    def project(self, z):
        """``z`` projected onto the bounds."""
        if self.lb is None:
            return z
        xp = array_namespace(z)
        return xp.minimum(xp.maximum(z, self.lb), self.ub)

    def projected_gradient(self, x, g):
        """``g`` without its components that push ``x`` out of the bounds: ``x - P(x - g)``
        (``g`` itself without bounds); the gradient test applies to it."""
        return g if self.lb is None else x - self.project(x - g)

    def rules(self):
        refine = self.opts["refine"]
        if refine is None:
            refine = not self.paired
        return SearchRules(self.opts["c1"], refine, self.opts["refine_band"],
                           self.step_gradient, self.paired)


class State(NamedTuple):
    """Everything one iteration hands the next, batched (leading dimension B).

    ``status`` is ``learnedmin._status.RUNNING`` on rows still iterating; ``nit`` counts each
    row's accepted steps; ``k`` is the iteration index shared by all running rows.
    """

    x: object
    f: object
    g: object
    memory: object            # Memory (L-BFGS) or DenseMemory (BFGS)
    s_prev: object
    y_prev: object
    has_prev: object
    a_prev: object            # effective weights of the last step, fed back to the network
    h: object                 # the network's hidden state
    history: History
    window: tuple             # accepted values, for the nonmonotone reference
    overrides: object         # consecutive overridden proposals
    progress_ref: object      # stall watch: gradient norm to halve,
    progress_k: object        # the iteration it was set at,
    classical_until: object   # and the end of a classical stretch (as floats)
    initial_scale: object
    f_start: object
    g0_norm: object
    gtol: object
    diagonal: object          # Hessian diagonal from products at x0 (hessp only), or None
    x_best: object            # the accepted point with the lowest value so far (the global
    f_best: object            # phase may accept points above the current one),
    g_best: object            # with its value and gradient
    spent: object             # evaluations (points where f was computed) so far, as floats
    status: object
    nit: object
    k: int


class StepInfo(NamedTuple):
    """Diagnostics of one iteration (per row; meaningful where ``taken``)."""

    taken: object
    stats: object
    weights: object
    directions: tuple
    proposal: object
    source: object
    alpha: object
    f_ref: object
    slope: object
    a_eff: object
    approximate: object


def _full(xp, like, value, dtype=None):
    return xp.full(like.shape, value, dtype=dtype or like.dtype, device=like.device)


def init(x0, setup, gtol=None):
    """The state before the first iteration (a generator: one ``"fg"`` request at ``x0``).

    ``gtol`` (B,) overrides ``opts["gtol"]`` per row.
    """
    xp = array_namespace(x0)
    opts = setup.opts
    n = x0.shape[-1]
    everyone = xp.ones(x0.shape[:-1], dtype=xp.bool, device=x0.device)
    f, g = yield Request("fg", x0, everyone)
    g0_norm = norm(g, xp)
    if opts["initial_step"] is not None:
        step0 = _full(xp, f, float(opts["initial_step"]))
    else:
        # 1% of the start's 2-norm (rotation invariant), or 0.01 from the origin; the
        # Barzilai-Borwein scale takes over from the second iteration on
        x_scale = norm(x0, xp)
        step0 = xp.where(x_scale > 0, 1e-2 * x_scale, _full(xp, f, 1e-2))
    initial_scale = xp.where(g0_norm > 0, safe_div(step0, g0_norm, step0, xp), xp.ones_like(f))
    finite = xp.isfinite(f) & xp.all(xp.isfinite(g), axis=-1)
    no = xp.zeros_like(everyone)
    zeros = xp.zeros_like(f)
    # dense BFGS for small problems, L-BFGS otherwise (DESIGN section 2, second-order slot)
    memory = memory_init(initial_scale, g if n <= opts["dense_max"] else None)
    return State(
        x=x0, f=f, g=g, memory=memory,
        s_prev=xp.zeros_like(x0), y_prev=xp.zeros_like(x0), has_prev=no,
        a_prev=xp.zeros(x0.shape[:-1] + (N_SLOTS,), dtype=x0.dtype, device=x0.device),
        h=setup.policy.initial_state(x0.shape[0], x0),
        history=History(g0_norm, zeros, _full(xp, f, -1.0), zeros, xp.ones_like(f), no, zeros),
        window=(f,), overrides=xp.zeros(f.shape, dtype=xp.int64, device=x0.device),
        progress_ref=stop_gradient(g0_norm), progress_k=zeros, classical_until=zeros,
        initial_scale=initial_scale, f_start=f, g0_norm=g0_norm,
        gtol=_full(xp, f, float(opts["gtol"])) if gtol is None else gtol,
        diagonal=None, x_best=x0, f_best=f, g_best=g, spent=xp.ones_like(f),
        status=xp.where(finite, _full(xp, f, st.RUNNING, xp.int64),
                        _full(xp, f, st.NONFINITE, xp.int64)),
        nit=xp.zeros(f.shape, dtype=xp.int64, device=x0.device), k=0,
    )


# A run "ended above" a point it accepted only where its value is higher by more than the
# rounding of the approximate acceptance rule (safeguard.APPROX_EPS, relative): a difference at
# that level is no other basin, and chasing it would restart a converged run again and again.
CLIMB_RTOL = APPROX_EPS


def climbed(f, f_best, xp):
    """Rows whose value ``f`` lies clearly above the best accepted value ``f_best``."""
    return f - f_best > CLIMB_RTOL * xp.abs(f_best)


def best_point(state):
    """``(x, f, g, replaced)`` of each row's result: the last point, or the accepted point with
    the lowest value where that is lower (a run with a global phase may end in a basin higher
    than one it passed through). ``replaced`` marks the rows where the best point is returned."""
    xp = array_namespace(state.x)
    lower = climbed(state.f, state.f_best, xp)
    return (select(lower, state.x_best, state.x, xp), xp.where(lower, state.f_best, state.f),
            select(lower, state.g_best, state.g, xp), lower)
