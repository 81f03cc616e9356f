"""The methods a benchmark compares, behind one small interface.

A :class:`Method` says whether it applies to a problem (Newton-CG needs ``hessp``, BFGS a dense
``n x n`` matrix, Chebyshev steps a known spectrum), prepares its parameters before the clock
starts (the baselines' tuning) and solves through :func:`scipy.optimize.minimize` with the
benchmark's counted callables: separate ``fun`` and ``jac``, or (a counter with ``paired``) one
function returning ``(f, g)`` and ``jac=True``, as :meth:`Counter.callables` gives them.

Names resolved by :func:`resolve_method`:

* the built-ins of :data:`BUILTIN` (``learned``, ``fixed-weights``, ``heavy-ball``, ...);
* ``learned[name=value;...]``: ``learned`` with solver options (``learned[refine=true]``);
* any method name of :func:`scipy.optimize.minimize` (case-insensitive);
* ``module:callable`` (``module:obj.attr`` too): a SciPy custom method, imported on use.
"""

import ast
import importlib
import inspect
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from . import baselines

__all__ = ["Settings", "Method", "resolve_method", "BUILTIN", "DEFAULT_METHODS", "SCIPY_METHODS"]


@dataclass(frozen=True)
class Settings:
    """What every run of a benchmark shares.

    Parameters
    ----------
    budget : int
        Counted calls (``f`` + gradient + Hessian-vector products) a run may make.
    gtol : float
        Gradient tolerance passed to every method that has one (SciPy's ``gtol``).
    tol : float
        A run solves a problem when ``f - f_ref <= tol * max(1, |f_ref|)``.
    dense_max : int
        Largest ``n`` for methods that store an ``n x n`` matrix (BFGS).
    tune_iterations : int
        Iterations per grid point when tuning heavy ball and Nesterov.
    chebyshev_period : int
        Period ``T`` of the Chebyshev step schedule.
    """

    budget: int = 5000
    gtol: float = 1e-6
    tol: float = 1e-6
    dense_max: int = 2000
    tune_iterations: int = 500
    chebyshev_period: int = 16

    def __post_init__(self):
        for name in ("budget", "dense_max", "tune_iterations", "chebyshev_period"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"'{name}' must be an integer >= 1; got {value!r}")
        for name in ("gtol", "tol"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < np.inf):
                raise ValueError(f"'{name}' must be a real number >= 0; got {value!r}")


class Method:
    """A named way of minimising a problem. Subclasses override :meth:`solve`."""

    #: Whether the method is handed ``hessp`` (and so only applies where a problem has one).
    uses_hessp = False
    #: Whether the method takes a gradient, and so ``(f, g)`` from one function with ``jac=True``.
    pairs = True

    def __init__(self, name, description):
        self.name = name
        self.description = description

    def applies(self, problem, settings):
        """``None`` if the method can run on ``problem``, else the reason it cannot."""
        if self.uses_hessp and getattr(problem, "hessp", None) is None:
            return "needs hessp"
        return None

    def applies_paired(self):
        """``None`` if the method can take ``(f, g)`` from one function, else the reason."""
        return None if self.pairs else "takes no gradient"

    def prepare(self, problem, settings):
        """Parameters fixed before the run (not timed, calls not counted)."""
        return {}

    def solve(self, counter, x0, params, settings):
        """Run on the counted problem (``counter.callables()``); return a
        :class:`scipy.optimize.OptimizeResult`."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


# name -> (uses jac, uses hessp, options: a Settings field name, or a fixed value).
# L-BFGS-B's relative-reduction test (ftol) and Newton-CG's step test (xtol) are switched off /
# tightened: otherwise they stop far from the solution (L-BFGS-B at f = 1589 on dixon_price[10^4])
# and the comparison measures stopping rules instead of methods. Every method then stops on
# gtol, its iteration limit or the call budget.
SCIPY_METHODS = {
    "nelder-mead": (False, False, {"maxiter": "budget", "maxfev": "budget"}),
    "powell": (False, False, {"maxiter": "budget", "maxfev": "budget"}),
    "cg": (True, False, {"maxiter": "budget", "gtol": "gtol"}),
    "bfgs": (True, False, {"maxiter": "budget", "gtol": "gtol"}),
    "newton-cg": (True, True, {"maxiter": "budget", "xtol": 1e-12}),
    "l-bfgs-b": (True, False, {"maxiter": "budget", "maxfun": "budget", "gtol": "gtol",
                               "ftol": 0.0}),
    "tnc": (True, False, {"maxfun": "budget", "gtol": "gtol"}),
    "cobyla": (False, False, {"maxiter": "budget"}),
    "cobyqa": (False, False, {"maxfev": "budget", "maxiter": "budget"}),
    "slsqp": (True, False, {"maxiter": "budget"}),
    "trust-constr": (True, True, {"maxiter": "budget", "gtol": "gtol"}),
    "trust-ncg": (True, True, {"maxiter": "budget", "gtol": "gtol"}),
    "trust-krylov": (True, True, {"maxiter": "budget", "gtol": "gtol"}),
}
_NEEDS_HESS = ("dogleg", "trust-exact")


class ScipyMethod(Method):
    """A method of :func:`scipy.optimize.minimize`, given exactly the arguments it uses."""

    def __init__(self, name):
        key = name.lower()
        self.uses_jac, self.uses_hessp, self.option_map = SCIPY_METHODS[key]
        self.pairs = self.uses_jac
        super().__init__(name, f"scipy.optimize.minimize(method={name!r})")
        self.key = key

    def applies(self, problem, settings):
        if self.key == "bfgs" and len(problem.x0) > settings.dense_max:
            return f"dense n x n matrix (n > {settings.dense_max})"
        if self.key == "trust-constr" and getattr(problem, "hessp", None) is None:
            return "needs hessp"
        return super().applies(problem, settings)

    def solve(self, counter, x0, params, settings):
        options = {k: getattr(settings, v) if isinstance(v, str) else v
                   for k, v in self.option_map.items()}
        fun, jac = counter.callables()
        kwargs = {}
        if self.uses_jac:
            kwargs["jac"] = jac
        if self.uses_hessp:
            kwargs["hessp"] = counter.hessp
        return minimize(fun, x0, method=self.key, options=options, **kwargs)


def _accepts(func, name):
    """Whether ``func`` accepts the keyword ``name`` (or any keyword)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


class CustomMethod(Method):
    """A SciPy custom method (a callable passed as ``method=``), built lazily in each process.

    It gets ``jac`` (and ``hessp`` when ``uses_hessp``), ``maxiter`` = the budget and ``gtol``
    when its signature accepts it.
    """

    def __init__(self, name, factory, description, uses_hessp=False):
        super().__init__(name, description)
        self._factory = factory
        self._callable = None
        self.uses_hessp = uses_hessp

    @property
    def callable(self):
        """The custom-method callable (built on first use)."""
        if self._callable is None:
            self._callable = self._factory()
            if not callable(self._callable):
                raise TypeError(f"method {self.name!r} is not callable: got "
                                f"{type(self._callable).__name__}")
        return self._callable

    def solve(self, counter, x0, params, settings):
        method = self.callable
        options = {"maxiter": settings.budget}
        if _accepts(method, "gtol"):
            options["gtol"] = settings.gtol
        hessp = counter.hessp if self.uses_hessp else None
        fun, jac = counter.callables()
        return minimize(fun, x0, jac=jac, hessp=hessp, method=method, options=options)


class MomentumMethod(Method):
    """Heavy ball or Nesterov: theory parameters on quadratics, else an oracle-tuned grid."""

    def __init__(self, name, func, theory, description):
        super().__init__(name, description)
        self.func, self.theory = func, theory

    def prepare(self, problem, settings):
        spectrum = getattr(problem, "spectrum", None)
        if spectrum is not None:
            return dict(self.theory(*spectrum), tuned="theory (mu, L)")
        f_star = getattr(problem, "f_star", None)
        threshold = None if f_star is None else f_star + settings.tol * max(1.0, abs(f_star))
        params = baselines.tune_momentum(self.func, problem, settings.tune_iterations,
                                         settings.gtol, threshold)
        return dict(params, tuned="grid")

    def solve(self, counter, x0, params, settings):
        opts = {"step": params["step"], "momentum": params["momentum"], "gtol": settings.gtol,
                "maxiter": settings.budget}
        fun, jac = counter.callables()
        return minimize(fun, x0, jac=jac, method=self.func, options=opts)


class ChebyshevMethod(Method):
    """Gradient descent with periodic Chebyshev steps; needs the Hessian spectrum."""

    def applies(self, problem, settings):
        if getattr(problem, "spectrum", None) is None:
            return "needs the Hessian spectrum (convex quadratics)"
        return None

    def solve(self, counter, x0, params, settings):
        opts = {"spectrum": tuple(counter.problem.spectrum), "period": settings.chebyshev_period,
                "gtol": settings.gtol, "maxiter": settings.budget}
        fun, jac = counter.callables()
        return minimize(fun, x0, jac=jac, method=baselines.chebyshev, options=opts)


def _learned():
    from learnedmin import learned

    return learned


def _fixed():
    from learnedmin import FixedWeights, LearnedMinimizer
    from learnedmin.policy import CLASSICAL_WEIGHTS

    return LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))


def _option_value(text):
    """An option's value as written in ``learned[...]``: a Python literal, or true/false/none."""
    lowered = {"true": True, "false": False, "none": None}
    if text.lower() in lowered:
        return lowered[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _learned_with(spec):
    """``learned[name=value;...]``: ``learned`` with those solver options (checked here)."""
    from learnedmin import _options

    options = {}
    for item in filter(None, (part.strip() for part in spec[len("learned["):-1].split(";"))):
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"method {spec!r}: expected learned[name=value;...]; got {item!r}")
        options[name.strip()] = _option_value(value.strip())
    unknown = sorted(set(options) - set(_options.RULES))
    if unknown:
        raise ValueError(f"method {spec!r}: unknown option(s) {', '.join(unknown)}")
    _options.resolve_options(_options.DEFAULTS, options, stacklevel=3)

    def factory():
        from learnedmin import LearnedMinimizer

        return LearnedMinimizer(**options)

    described = ", ".join(f"{k}={v!r}" for k, v in options.items())
    return CustomMethod(spec, factory, f"learnedmin.learned with {described}")


def _builtin():
    return {
        "learned": CustomMethod(
            "learned", _learned, "learnedmin.learned (bundled weights; gradient only, "
            "L-BFGS second-order slot)"),
        "learned-newton": CustomMethod(
            "learned-newton", _learned, "learnedmin.learned given hessp (Newton-CG slot)",
            uses_hessp=True),
        "fixed-weights": CustomMethod(
            "fixed-weights", _fixed, "ablation: LearnedMinimizer(weights=FixedWeights((0, 0, 1)))"
            ", the same loop and safeguard without the network"),
        "heavy-ball": MomentumMethod(
            "heavy-ball", baselines.heavy_ball, baselines.heavy_ball_theory,
            "Polyak heavy ball; Polyak's optimal (alpha, beta) from (mu, L) on quadratics, "
            "else the best of a 6 x 4 grid (tuning calls not counted)"),
        "nesterov": MomentumMethod(
            "nesterov", baselines.nesterov, baselines.nesterov_theory,
            "Nesterov constant momentum; (1/L, (sqrt k - 1)/(sqrt k + 1)) on quadratics, "
            "else the best of a 6 x 4 grid (tuning calls not counted)"),
        "chebyshev": ChebyshevMethod(
            "chebyshev", "gradient descent with periodic Chebyshev steps (Takabe & Wadayama), "
            "T = 16, on problems with a known spectrum"),
    }


#: Built-in method names.
BUILTIN = tuple(_builtin())
#: The methods a suite runs when ``--methods`` is not given.
DEFAULT_METHODS = ("learned", "fixed-weights", "L-BFGS-B", "BFGS", "CG", "Newton-CG",
                   "trust-ncg", "heavy-ball", "nesterov", "chebyshev")

_CACHE = {}


def _load(spec):
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"method {spec!r}: expected 'module:callable'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"method {spec!r}: cannot import module {module_name!r} ({exc})") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ValueError(f"method {spec!r}: module {module_name!r} has no attribute "
                             f"{attr!r}") from exc
    return obj


def resolve_method(spec):
    """The :class:`Method` named ``spec`` (one instance per name and process).

    Parameters
    ----------
    spec : str
        A built-in name, a :func:`scipy.optimize.minimize` method name, or ``module:callable``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a ``module:callable`` that
        does not import.
    """
    if spec in _CACHE:
        return _CACHE[spec]
    builtin = _builtin()
    key = spec.lower()
    if key in builtin:
        method = builtin[key]
    elif key.startswith("learned[") and key.endswith("]"):
        method = _learned_with(spec)
    elif key in SCIPY_METHODS:
        method = ScipyMethod(spec)
    elif key in _NEEDS_HESS:
        raise ValueError(f"method {spec!r} needs a dense Hessian 'hess', which the benchmark "
                         "problems do not provide; use 'trust-ncg' or 'trust-krylov'")
    elif ":" in spec:
        obj = _load(spec)
        if not callable(obj):
            raise ValueError(f"method {spec!r} is not callable (got {type(obj).__name__})")
        method = CustomMethod(spec, lambda: obj, f"custom method {spec}")
    else:
        raise ValueError(
            f"unknown method {spec!r}; valid: {', '.join(BUILTIN)}, learned[name=value;...], "
            f"any SciPy method "
            f"({', '.join(sorted(SCIPY_METHODS))}), or 'module:callable'"
        )
    _CACHE[spec] = method
    return method
