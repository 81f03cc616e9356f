"""The training unroll: :mod:`learnedmin.step` driven on a batch of torch problems.

There is no copy of the iteration here. :func:`step` runs :func:`learnedmin.step.step` -- the
code :func:`scipy.optimize.minimize` runs with ``method=learned`` -- on ``(B, n)`` tensors, with
the eager network as the policy, and answers its requests from the batched
:class:`~learnedmin.training.families.Problem`. Only the rows a request names are evaluated
(:meth:`Problem.select`), so a row that has stopped is never evaluated again, exactly as the
SciPy method stops calling ``fun``.

Differentiation. Every accept/reject decision is a mask and carries no gradient; between
decisions the iteration is a smooth function of the network's outputs: the accepted point is
``x + alpha * d`` with ``d = sum_i a_i d_i`` (or the fallback direction), and ``f``, ``g`` come
from the evaluation at that point with the graph kept. ``tests/test_training.py`` checks the
meta-gradient against central differences while no decision changes. With
``through_directions=False`` the gradient, the quasi-Newton memory and the statistics' history
are treated as data and the accepted step lengths are not differentiated (a first-order
meta-gradient, as Andrychowicz et al. 2016 drop second derivatives): cheaper and less chaotic
over long unrolls; the forward computation is the same either way.
"""

import torch

from .. import _options
from .._status import NONFINITE, PRECISION_LOSS, RUNNING, SUCCESS  # noqa: F401 (re-exported)
from ..policy import ModulePolicy
from ..requests import drive
from ..step import Setup, State, StepInfo, init, step as shared_step

__all__ = ["UnrollState", "StepInfo", "solver_options", "init_state", "step", "detach_state",
           "unroll"]

UnrollState = State


def solver_options(**overrides):
    """The solver options of :mod:`learnedmin` with ``overrides``, validated (same table)."""
    opts = {**_options.DEFAULTS, **overrides}
    _options.validate(opts)
    return opts


class _Answers:
    """Answers the iteration's requests on the named rows of a batched ``Problem``."""

    def __init__(self, problem, through_directions=True):
        self.problem = problem
        self.through = through_directions

    def _rows(self, request):
        rows = request.rows
        if bool(rows.all()):
            return None, self.problem, request.x
        index = torch.nonzero(rows, as_tuple=True)[0]
        return index, self.problem.select(index), request.x[index]

    @staticmethod
    def _scatter(index, values, like):
        if index is None:
            return values
        full = torch.full(like.shape, float("nan"), dtype=values.dtype, device=values.device)
        return full.index_put((index,), values)

    def _gradient(self, problem, x):
        if self.through:
            return problem.gradient(x)
        with torch.no_grad():
            return problem.gradient(x)

    def _product(self, problem, x, v):
        if self.through:
            return problem.hessian_product(x, v)
        with torch.no_grad():
            return problem.hessian_product(x, v)

    def __call__(self, request):
        kind = request.kind
        index, problem, x = self._rows(request)
        f_like = request.x[..., 0]
        if kind == "f":
            return self._scatter(index, problem.value(x), f_like)
        if kind == "g":
            return self._scatter(index, self._gradient(problem, x), request.x)
        if kind == "fg":
            return (self._scatter(index, problem.value(x), f_like),
                    self._scatter(index, self._gradient(problem, x), request.x))
        if kind == "hess":
            return None  # products only (Newton-CG by Hessian-vector products)
        if kind == "hessp":
            v = request.v if index is None else request.v[index]
            return self._scatter(index, self._product(problem, x, v), request.x)
        raise ValueError(f"training problems give values, gradients and Hessian products; the "
                         f"iteration "
                         f"asked for {kind!r}")


def _setup(net, opts, through_directions=True, newton_cg=False, bounds=None, paired=False):
    lb, ub = (None, None) if bounds is None else bounds
    return Setup(ModulePolicy(net, net.hidden_size), opts, lb, ub, has_hessian=newton_cg,
                 step_gradient=through_directions, paired=paired)


def init_state(net, problem, opts, gtol=None, newton_cg=False, bounds=None, paired=False):
    """The state before the first iteration at ``problem.x0`` (projected onto ``bounds``).

    Parameters
    ----------
    net : learnedmin.network.WeightingNet
    problem : Problem
    opts : dict
        Solver options (:func:`solver_options`).
    gtol : tensor (B,), optional
        Per-row gradient tolerance; default ``opts["gtol"]`` for every row.
    newton_cg : bool
        The second-order slot is Newton-CG on the family's Hessian-vector products (by autograd
        unless the family defines :meth:`~learnedmin.training.families.Family.hessian_product`),
        as ``minimize`` runs with ``hessp``; else quasi-Newton.
    bounds : pair of tensors (lb, ub), optional
        Box bounds broadcastable to ``(B, n)``, as ``minimize`` runs with ``bounds``.
    paired : bool
        f and g come together, as ``minimize`` runs with ``jac=True``: every trial evaluates
        both (one evaluation of the option ``budget``), and the refinement is off unless the
        option ``refine`` says otherwise.
    """
    x0 = problem.x0
    if bounds is not None:
        x0 = torch.minimum(torch.maximum(x0, bounds[0]), bounds[1])
    return drive(init(x0, _setup(net, opts, True, newton_cg, bounds, paired), gtol),
                 _Answers(problem))


def _data_only(state):
    """The state with the gradient, memory and history detached (``through_directions=False``)."""
    return state._replace(g=state.g.detach(), s_prev=state.s_prev.detach(),
                          y_prev=state.y_prev.detach(), memory=detach_state(state.memory),
                          history=detach_state(state.history))


def step(net, problem, state, opts, through_directions=True, newton_cg=False, bounds=None,
         paired=False):
    """One iteration of the method for every running row.

    Parameters
    ----------
    net : learnedmin.network.WeightingNet
        The eager weighting network (the module that export scripts).
    problem : Problem
    state : State
    opts : dict
        Solver options.
    through_directions : bool
        Differentiate through the gradient, the candidate directions, the statistics and the
        accepted step lengths (the full meta-gradient), or only through the weights ``a`` into
        the iterates and the hidden state (see the module docs).
    newton_cg, bounds, paired
        As for :func:`init_state` (the same for every step of an unroll).

    Returns
    -------
    state : State
        The next state; rows that converge (``max|g| <= gtol``) or fail are frozen.
    info : StepInfo
        ``taken`` is false on every row when no row ran.
    """
    if not through_directions:
        state = _data_only(state)
    new_state, info = drive(shared_step(state, _setup(net, opts, through_directions, newton_cg,
                                                      bounds, paired)),
                            _Answers(problem, through_directions))
    if info is None:
        no = torch.zeros_like(state.f, dtype=torch.bool)
        zero = torch.zeros_like(state.f)
        info = StepInfo(no, None, None, (), None, torch.full_like(state.nit, -1), zero,
                        state.f, zero, None, no)
    return new_state, info


def detach_state(state):
    """The same state with every tensor detached (truncated backpropagation)."""

    def det(v):
        if isinstance(v, torch.Tensor):
            return v.detach()
        if isinstance(v, tuple):
            return type(v)(*map(det, v)) if hasattr(v, "_fields") else tuple(map(det, v))
        return v

    return det(state)


def unroll(net, problem, steps, opts, gtol=None, on_step=None, through_directions=True,
           newton_cg=False, bounds=None, paired=False):
    """Run ``steps`` iterations from ``problem.x0``; return the final state and per-step values.

    Parameters
    ----------
    net : WeightingNet
    problem : Problem
    steps : int
    opts : dict
        Solver options.
    gtol : tensor (B,), optional
        Per-row gradient tolerance.
    on_step : callable, optional
        ``on_step(state, info)`` after every iteration.
    through_directions : bool
        See :func:`step`.
    newton_cg, bounds
        See :func:`init_state`.

    Returns
    -------
    state : State
    values : list of tensors (B,)
        ``f`` after each iteration (index 0 is ``f(x0)``).
    """
    state = init_state(net, problem, opts, gtol, newton_cg, bounds, paired)
    values = [state.f]
    for _ in range(steps):
        state, info = step(net, problem, state, opts, through_directions, newton_cg, bounds,
                           paired)
        values.append(state.f)
        if on_step is not None:
            on_step(state, info)
    return state, values
