"""The SciPy boundary: ``LearnedMinimizer`` and its default instance ``learned``.

The arguments of ``minimize`` are checked in :mod:`learnedmin._arguments`, the options in
:mod:`learnedmin._options`, and the change of variables of ``x_scale`` is
:mod:`learnedmin._scaling`; this module loads the policy, picks the one a run uses, and hands the
run to :func:`learnedmin.loop.run`.
"""

import sys
import threading

import numpy as np

from . import _options, _scaling
from ._arguments import checked_callables, make_callback, standardize_bounds, standardize_x0
from .loop import run
from .policy import CLASSICAL_WEIGHTS, FixedWeights

__all__ = ["LearnedMinimizer", "learned"]


def _torch_imported():
    """Whether torch is in ``sys.modules`` and its import has finished."""
    module = sys.modules.get("torch")
    return module is not None and not getattr(getattr(module, "__spec__", None),
                                              "_initializing", False)


def _forget_partial_torch():
    """After an import of torch that did not finish, drop what it left in ``sys.modules``.

    The next import then starts afresh instead of finding submodules bound to the dead,
    partially initialised ``torch``. Once torch's C extension has loaded, a second import cannot
    succeed in this process, so those modules are kept for :func:`_check_torch_importable` to
    recognise; a torch that did finish importing is never touched.
    """
    if _torch_imported() or "torch._C" in sys.modules:
        return
    for name in [name for name in sys.modules if name == "torch" or name.startswith("torch.")]:
        del sys.modules[name]


def _check_torch_importable():
    """Raise a clear error where an interrupted import of torch broke it for this process."""
    if "torch._C" in sys.modules and "torch" not in sys.modules:
        raise RuntimeError(
            "an earlier import of torch in this Python process was interrupted after torch "
            "had loaded its C extension, and torch cannot be imported twice in one process: "
            "restart the interpreter to use learned weights (FixedWeights need no torch)"
        )


def _same(a, b):
    try:
        return bool(np.all(a == b)) and np.shape(a) == np.shape(b)
    except (TypeError, ValueError):
        return False


class LearnedMinimizer:
    """A learned step rule as a custom method for :func:`scipy.optimize.minimize`.

    At every iteration a recurrent weighting network looks at dimension-free statistics of three
    candidate directions (scaled negative gradient, momentum, and an L-BFGS or Newton-CG
    direction) and outputs the weights that combine them; a nonmonotone Armijo line search with
    fallbacks to the classical direction keeps the convergence guarantee of L-BFGS whatever the
    network outputs.

    Parameters
    ----------
    weights : str, path or FixedWeights, optional
        A bundled archive name (``"default"``), the path of a ``.pt`` archive written by
        :func:`learnedmin.weights.export`, or :class:`learnedmin.FixedWeights` for a constant
        mixture (the ablation). Archives are checked (versions, slot order, sha256) on first use.
    trust_weights : bool, optional
        Load a path archive without checking that it holds learnedmin's own network code
        (:func:`learnedmin.weights.load` with ``trust=True``). A TorchScript archive is code:
        loading it runs it. Only for archives whose author you trust (default ``False``).
    **options
        Default solver options, overridable per call (see *Options*).

    Options
    -------
    maxiter : int, optional
        Maximum number of iterations (accepted steps); default ``200 * n``. ``0`` is allowed.
    gtol : float
        Stop with success when the infinity norm of the (projected) gradient is ``<= gtol``
        (default ``1e-5``). SciPy's ``tol`` sets it too.
    xrtol : float
        Stop with success when a step is shorter than ``xrtol * (xrtol + |x|)`` (default ``0``).
    c1 : float
        Armijo sufficient-decrease constant, ``0 < c1 < 1`` (default ``1e-4``).
    nonmonotone : int
        Window of the nonmonotone Armijo reference (default ``5``; ``1`` is monotone).
    memory : int
        Number of L-BFGS curvature pairs (default ``10``).
    dense_max : int
        Problems with at most this many variables use dense BFGS (every curvature pair kept in
        an ``n x n`` matrix) as the second-order direction instead of L-BFGS (default ``200``;
        ``0`` always uses L-BFGS).
    maxls : int
        Trial steps of the fallback line search (default ``20``).
    learned_maxls : int
        Trial steps allowed along the network's proposal before falling back (default ``4``).
    sufficient_progress : float
        A proposal is accepted only if its step predicts at least this fraction of the linear
        decrease of the classical unit step (default ``0.1``); otherwise the safeguard falls
        back. This keeps a poor network from stalling the run with tiny steps.
    stall_window : int
        If the gradient norm has not halved within this many iterations, the classical rule
        runs alone for as many iterations before the network is consulted again (default
        ``20``): a network that makes slow progress cannot slow the run down for long.
    reset_after : int
        Consecutive overridden proposals after which the network state is reset (default ``3``).
    initial_step : float, optional
        Length of the first trial step; default 1 % of ``|x0|`` (0.01 from the origin).
    cg_maxiter : int, optional
        Conjugate-gradient iterations per Newton-CG direction (default ``20 * n``).
    network_with_hessian : bool, optional
        Whether the network weighs the directions when ``hess`` or ``hessp`` is given. By default
        (``None``) only an archive trained with Newton-CG directions does (its metadata lists
        ``"newton_cg"`` under ``second_order``); the bundled networks were trained with
        quasi-Newton directions, and with a Hessian the run uses the classical weights
        ``(0, 0, 1)``: preconditioned Newton-CG behind the same safeguard. ``FixedWeights`` are
        always used as given. Likewise, an archive trained with Newton-CG directions only
        (``"channel"``) is not used without ``hess``/``hessp``: the run is the classical rule.
    budget : int, optional
        The number of evaluations the run may spend: points at which ``fun`` is computed (with
        the gradient where ``jac=True``; a separate ``jac`` at an evaluated point costs no
        more). The cap is exact: a trial beyond it is never evaluated, and the run ends at the
        last point it accepted with status 4. The network reads the fraction spent from the
        first iteration (a network trained without a budget reads 0). Default ``None``: no
        budget.
    global_steps : int, optional
        Length of the global phase: the first ``global_steps`` steps of the policy are taken as
        they are (only a point where ``f`` or ``g`` is not finite is refused), so that a run can
        leave the basin it starts in; then the classical rule runs alone behind the safeguard.
        The result is the best point the run accepted. Default ``None``: the archive's
        ``global_steps`` (``2`` for ``"channel"``, none for ``"default"``), none for
        ``FixedWeights``, none where the run uses the classical weights.
    x_scale : float or array_like, optional
        Characteristic scale of each variable (as in :func:`scipy.optimize.least_squares`): the
        method works in ``x / x_scale``, and ``gtol`` applies to the gradient with respect to
        those variables, ``x_scale * jac``. Variables in very different units (a delay in
        seconds beside an amplitude) are then as well scaled as their scales are known. Default
        ``None`` (no scaling).
    precondition : bool
        Precondition Newton-CG by the Hessian's diagonal (default ``True``): at every iteration
        from the matrix ``hess`` returns, or, with ``hessp``, once at ``x0`` from products
        (counted in ``nhev``): ``n`` products with the unit vectors where ``n <= diagonal_max``,
        else Hutchinson's estimate from 32 random sign vectors. The truncated direction is then
        the same in any units of the variables (exactly so with the exact diagonal).
    diagonal_max : int
        The largest ``n`` for which the diagonal is computed exactly from ``n`` products (default
        ``1000``); ``0`` always estimates it.
    refine : bool, optional
        Refine accepted first trials: where the minimiser of the quadratic through ``f(x)``,
        the slope and the trial's value lies outside ``[1/1.1, 1.1]`` times the trial step,
        ``f`` is evaluated there too and the lower acceptable point is kept. On a quadratic this
        is an exact line search for one function value and no gradient. The default ``None``
        refines when ``fun`` and ``jac`` are separate callables (a function value is cheap)
        and not with ``jac=True``, where every trial costs a full evaluation of f and g.
    refine_band : float
        The width of that band, ``[1/refine_band, refine_band]`` (default ``1.1``, > 1). A wider
        band refines less often: fewer function values on easy problems, less conjugacy on
        ill-conditioned ones.
    finite_diff_rel_step : float, optional
        Relative forward-difference step when ``jac`` is not given; default the square root of
        the machine epsilon of ``fun``'s return type (float32 values get a float32-sized step).
        With ``bounds`` the differences stay inside the box: backward where a forward step would
        leave it, shortened where the box is narrower than the step.
    return_all : bool
        Also return the list of iterates as ``allvecs``.
    disp : bool
        Print a convergence summary.

    Returns
    -------
    scipy.optimize.OptimizeResult
        ``x, fun, jac, nit, nfev, njev, nhev, status, success, message`` as SciPy's methods
        (``nfev`` counts every call of ``fun``, finite-difference calls included; ``njev`` every
        gradient, a call of ``jac`` or one finite-difference gradient of ``n`` calls; with
        ``jac=True``, ``nfev`` counts the evaluations and ``njev`` the gradients taken from them,
        and no point is evaluated twice), plus
        ``step_weights`` (``(nit, 3)``: the network's weights per iteration), ``overridden``
        (``(nit,)`` bool: the safeguard replaced the proposal, or the stall watch ran the
        classical rule) and ``trace`` (per-iteration ``source``: 0 proposal, 1 proposal after
        backtracking, 2 fallback direction, 3 scaled gradient after a reset, 4 classical rule
        during a stall; ``alpha``, ``f_ref``, ``slope``, ``approximate`` and ``fun``). Every
        accepted step satisfies ``fun[k+1] <= f_ref[k] + c1 * slope[k]``, or, where
        ``approximate[k]``, the rounding-level rule of Hager & Zhang.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.optimize import minimize, rosen, rosen_der
    >>> from learnedmin import learned
    >>> res = minimize(rosen, np.array([-1.2, 1.0]), jac=rosen_der, method=learned)
    >>> bool(res.success), np.allclose(res.x, 1.0, atol=1e-4)
    (True, True)
    """

    def __init__(self, weights="default", trust_weights=False, **options):
        if not isinstance(trust_weights, bool):
            raise TypeError(f"'trust_weights' must be a bool; got {trust_weights!r}")
        self.trust_weights = trust_weights
        if not isinstance(weights, FixedWeights):
            from . import weights as _weights

            _weights._paths(weights)  # type errors now, file checks on first use
        self.weights = weights
        unknown = set(options) - set(_options.RULES) - {"tol"}
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; known options: "
                            f"{', '.join(sorted(_options.RULES))}")
        self.options = _options.resolve_options(_options.DEFAULTS, options, stacklevel=3)
        self._policy = None
        self._second_order = ()
        self._global_steps = 0
        self._lock = threading.Lock()

    def __getstate__(self):
        # the loaded network and the lock stay behind; a copy loads the archive on first use
        state = self.__dict__.copy()
        state["_policy"] = None
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self):
        changed = {k: v for k, v in self.options.items() if not _same(_options.DEFAULTS[k], v)}
        extra = "".join(f", {k}={v!r}" for k, v in changed.items())
        trust = ", trust_weights=True" if self.trust_weights else ""
        return f"LearnedMinimizer(weights={self.weights!r}{trust}{extra})"

    @property
    def policy(self):
        """The weighting policy (the archive is loaded and checked on first access)."""
        if self._policy is None:
            with self._lock:
                if self._policy is None:
                    self._policy = self._load_policy()
        return self._policy

    def _load_policy(self):
        """The policy of ``self.weights``; the first load imports torch."""
        if isinstance(self.weights, FixedWeights):
            return self.weights
        from . import weights as _weights

        from .policy import fast_policy

        _check_torch_importable()
        imported_before = _torch_imported()
        try:
            module, meta = _weights.load(self.weights, trust=self.trust_weights)
            policy = fast_policy(module, meta)
        except BaseException:  # Ctrl-C included: it may stop torch half-way through its import
            if not imported_before:
                _forget_partial_torch()
            raise
        self._second_order = tuple(meta.get("second_order", ("quasi_newton",)))
        self._global_steps = int(meta.get("global_steps", 0))
        return policy

    def _policy_for(self, has_hessian, opts):
        """``(policy, opts)`` of one run: the classical weights for a run whose second-order
        direction the network was not trained with (a Newton-CG run, see
        ``network_with_hessian``; or a quasi-Newton run of a network trained with Newton-CG
        only), and ``global_steps`` resolved: the archive's global phase where the network
        runs, none where the classical weights do."""
        policy = self.policy
        if isinstance(self.weights, FixedWeights):
            return policy, {**opts, "global_steps": opts["global_steps"] or 0}
        if has_hessian:
            use = opts["network_with_hessian"]
            if use is None:
                use = "newton_cg" in self._second_order
        else:
            use = "quasi_newton" in self._second_order
        if not use:
            return FixedWeights(CLASSICAL_WEIGHTS), {**opts, "global_steps": 0}
        steps = opts["global_steps"]
        return policy, {**opts, "global_steps": self._global_steps if steps is None else steps}

    @property
    def metadata(self):
        """The archive's metadata (``None`` for fixed weights)."""
        if isinstance(self.weights, FixedWeights):
            return None
        from . import weights as _weights

        return _weights.read_metadata(self.weights)

    def __call__(self, fun, x0, args=(), jac=None, hess=None, hessp=None, bounds=None,
                 constraints=(), callback=None, **options):
        from scipy.optimize import OptimizeResult

        from ._objective import Objective

        opts = _options.resolve_options(self.options, options, stacklevel=3)
        fun, jac, paired = checked_callables(fun, jac, hess, hessp, constraints)
        if not isinstance(args, tuple):
            args = (args,)
        x = standardize_x0(x0)
        lb, ub = standardize_bounds(bounds, x.size)
        if lb is not None:
            x = np.clip(x, lb, ub)  # as L-BFGS-B: a start outside the box is projected into it
        notify = make_callback(callback)
        scale = _scaling.x_scale(opts["x_scale"], x.size)
        if scale is not None:  # solve for z = x / scale
            to_x = _scaling.to_user_units(scale, lb, ub)
            fun, jac, hess, hessp, notify = _scaling.scaled_problem(to_x, scale, fun, jac, hess,
                                                                    hessp, notify, paired)
            x, lb, ub = _scaling.scaled_start(x, lb, ub, scale)
        obj = Objective(fun, jac, hess, hessp, args, x.size, opts["finite_diff_rel_step"],
                        bounds=None if lb is None else (lb, ub), paired=paired)
        policy, opts = self._policy_for(obj.has_hessian, opts)
        fields = run(obj, x, policy, opts, lb, ub, notify)
        if scale is not None:
            fields = _scaling.unscaled_result(fields, scale, to_x)
        if opts["disp"]:
            print(fields["message"])
            print(f"         Current function value: {fields['fun']:f}")
            print(f"         Iterations: {fields['nit']}")
            print(f"         Function evaluations: {fields['nfev']}")
            print(f"         Gradient evaluations: {fields['njev']}")
        return OptimizeResult(fields)


learned = LearnedMinimizer()
