"""Training configuration: one table of defaults and help, TOML files, command-line overrides.

A config is a nested dict. :data:`SCHEMA` lists every key with its default and a one-line help
(``learnedmin-train --help`` prints it); a TOML file (read with :mod:`tomllib`, or with its
backport ``tomli`` on Python 3.10) overrides the defaults, and ``--set section.key=value``
overrides the file (``value`` is parsed as a TOML value, so ``--set optim.lr=3e-4``,
``--set problems.families='["quadratic"]'``; a bare word is a string).
Unknown keys and values of the wrong type are refused with a message naming the key.

:func:`config_hash` is the sha256 of the canonical JSON (sorted keys, no whitespace), recorded in
the exported archive so a network can be traced back to the exact recipe that made it.

>>> cfg = resolve(None, ["optim.lr=3e-4"])
>>> cfg["optim"]["lr"], cfg["unroll"]["truncation"]
(0.0003, 10)
"""

import copy
import hashlib
import json

try:
    import tomllib
except ImportError:  # Python 3.10: the backport, same API (the `train` extra installs it there)
    import tomli as tomllib

__all__ = ["SCHEMA", "defaults", "load", "resolve", "apply_override", "config_hash", "help_text",
           "get"]

# key: (default, help). Types are the defaults' types (an int default also accepts nothing else,
# a float default accepts ints).
SCHEMA = {
    "seed": (0, "seed of the network initialisation and of every sampled training instance"),
    "description": ("learned weighting network", "free text written into the archive metadata"),
    "device": ("cpu", "torch device of the unroll ('cpu', 'cuda', 'cuda:1')"),
    "threads": (1, "torch intra-op threads (0: torch's default; 1 is fastest for the tiny "
                   "per-iteration tensors, many threads contend on a shared CPU)"),
    "model.hidden": (32, "width of the GRU state"),
    "problems.families": (
        ["quadratic", "least_squares", "logistic", "rosenbrock", "mlp_fit", "channel"],
        "training families (names in learnedmin.training.families; unavailable 'channel' is "
        "skipped with a warning)",
    ),
    "problems.weights": ([], "sampling weight per family (empty: uniform)"),
    "problems.batch_size": (16, "instances per unroll (per process under torchrun)"),
    "problems.log10_f_scale": ([-3.0, 3.0], "range of log10 of the random factor c in c f(x/t)"),
    "problems.log10_x_scale": ([-2.0, 2.0], "range of log10 of the random stretch t in c f(x/t)"),
    "unroll.min_steps": (20, "shortest unroll (iterations); the length is drawn uniformly"),
    "unroll.max_steps": (60, "longest unroll (iterations)"),
    "unroll.truncation": (10, "truncated backpropagation: optimiser step and detach every K "
                              "iterations"),
    "unroll.through_directions": (True, "meta-gradient also through gradients, directions, "
                                        "statistics and step lengths (else only through the "
                                        "weights)"),
    "unroll.gtol_relative": (1e-10, "an instance stops when max|g| <= gtol_relative * max|g0|"),
    "unroll.newton_cg": (False, "second-order slot: Newton-CG on Hessian-vector products (what "
                                "minimize runs with hessp; the archive then says so and is used "
                                "with hess/hessp), else quasi-Newton"),
    "unroll.paired": (False, "f and g come together (what minimize runs with jac=True): every "
                             "trial evaluates both, one evaluation of the option budget, and "
                             "the refinement is off unless solver.refine says otherwise"),
    "solver": ({}, "solver options of the unrolled loop (same names and defaults as "
                   "LearnedMinimizer; leave empty to train for the defaults)"),
    "loss.kind": ("unsupervised", "'unsupervised' (log f - f*), 'supervised' (log |x - x*|^2) "
                                  "or 'mixed' (supervised where x* is unique)"),
    "loss.weighting": ("uniform", "weights of the steps: 'uniform', 'linear' or 'final'"),
    "loss.floor": (1e-12, "relative floor inside the log: solved instances stop pulling"),
    "loss.step_length": (0.0, "weight of the step-length term: the mean over the network's "
                              "accepted steps of (log alpha)^2, alpha the fraction of the "
                              "proposal the line search took; it teaches the network to size "
                              "its proposals so that they are taken as they are (no refinement "
                              "or backtracking: fewer function calls)"),
    "optim.lr": (1e-3, "Adam learning rate"),
    "optim.weight_decay": (0.0, "Adam weight decay"),
    "optim.clip": (1.0, "gradient clipping: largest global gradient norm"),
    "optim.episodes": (600, "number of unrolls (each gives ceil(T / truncation) Adam steps)"),
    "validation.every": (50, "validate on fresh instances every N unrolls (best one is kept)"),
    "validation.batch_size": (16, "validation instances per batch"),
    "validation.batches": (1, "validation batches per family (each draws its own dimensions)"),
    "validation.steps": (60, "iterations of a validation unroll"),
    "validation.seed": (1_000_003, "seed of the validation instances (never used in training)"),
    "validation.metric": ("loss", "score that picks the kept network: 'loss' (the training loss "
                                  "over validation.steps iterations) or 'iterations' (mean log "
                                  "of the iterations to max|g| <= validation.gtol_relative * "
                                  "max|g0|, at most validation.steps; not reached counts as "
                                  "twice that) or 'calls' (mean log of the function and "
                                  "gradient calls of the numpy loop to that tolerance; not "
                                  "reached counts as 4 * validation.steps)"),
    "validation.gtol_relative": (1e-6, "gradient tolerance of the 'iterations' metric, relative "
                                       "to max|g0| (evaluate.gtol is what `evaluate` uses)"),
    "checkpoint.every": (25, "write a checkpoint every N unrolls"),
    "evaluate.instances": (24, "instances per family for `evaluate` (a)"),
    "evaluate.seed": (2_000_003, "seed of the evaluation instances (never used in training)"),
    "evaluate.families": (
        ["quadratic", "least_squares", "logistic", "rosenbrock", "mlp_fit", "channel"],
        "families for `evaluate` (a) and (c)",
    ),
    "evaluate.gtol": (1e-6, "gradient tolerance, relative to max|g0|, of the `evaluate` runs"),
    "evaluate.lsq_instances": (10, "random 600x300 least-squares instances for `evaluate` (b)"),
}


VALIDATION_METRICS = ("loss", "iterations", "calls")


def _nest(flat):
    out = {}
    for key, value in flat.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return out


def defaults():
    """A fresh nested dict of the default configuration."""
    return _nest({k: v[0] for k, v in SCHEMA.items()})


def get(config, key):
    """The value at the dotted ``key``."""
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def _check(key, value):
    if key not in SCHEMA:
        raise ValueError(f"unknown config key {key!r}; known keys: {', '.join(SCHEMA)}")
    default = SCHEMA[key][0]
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ValueError(
            f"config key {key!r} must be of type {type(default).__name__}; got {value!r}"
        )
    if isinstance(default, list) and default and isinstance(default[0], float):
        value = [float(v) for v in value]
    return value


def _flatten(tree, prefix=""):
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in SCHEMA:
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _merge(config, tree):
    for key, value in _flatten(tree):
        apply_override(config, key, value)
    return config


def apply_override(config, key, value):
    """Set the dotted ``key`` to ``value`` (checked against :data:`SCHEMA`) in place."""
    if key.startswith("solver."):
        config["solver"] = {**config["solver"], key.split(".", 1)[1]: value}
        return config
    value = _check(key, value)
    *path, last = key.split(".")
    node = config
    for part in path:
        node = node[part]
    node[last] = value
    return config


def parse_assignment(text):
    """``"section.key=value"`` -> ``(key, value)`` with ``value`` parsed as TOML (else a string)."""
    if "=" not in text:
        raise ValueError(f"--set needs key=value; got {text!r}")
    key, raw = (part.strip() for part in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def load(path):
    """Defaults overridden by the TOML file at ``path``."""
    with open(path, "rb") as fh:
        tree = tomllib.load(fh)
    return _merge(defaults(), tree)


def resolve(path=None, assignments=(), overrides=None):
    """The config from ``path`` (or the defaults), ``--set`` assignments, then explicit flags.

    Parameters
    ----------
    path : str or None
        TOML file.
    assignments : sequence of str
        ``"key=value"`` strings.
    overrides : dict, optional
        ``{dotted key: value}`` from explicit command-line flags (``None`` values are skipped).
    """
    config = load(path) if path else defaults()
    for text in assignments:
        apply_override(config, *parse_assignment(text))
    for key, value in (overrides or {}).items():
        if value is not None:
            apply_override(config, key, value)
    validate(config)
    return config


def validate(config):
    """Cross-key rules (ranges); raises ``ValueError`` naming the key."""
    from .losses import KINDS, WEIGHTINGS
    from .unroll import solver_options

    u = config["unroll"]
    if not 1 <= u["min_steps"] <= u["max_steps"]:
        raise ValueError("'unroll.min_steps' must satisfy 1 <= min_steps <= max_steps; got "
                         f"{u['min_steps']} and {u['max_steps']}")
    if u["truncation"] < 1:
        raise ValueError(f"'unroll.truncation' must be >= 1; got {u['truncation']}")
    if config["loss"]["kind"] not in KINDS:
        raise ValueError(f"'loss.kind' must be one of {KINDS}; got {config['loss']['kind']!r}")
    if config["validation"]["metric"] not in VALIDATION_METRICS:
        raise ValueError(f"'validation.metric' must be one of {VALIDATION_METRICS}; "
                         f"got {config['validation']['metric']!r}")
    if not config["validation"]["gtol_relative"] > 0:
        raise ValueError("'validation.gtol_relative' must be > 0; got "
                         f"{config['validation']['gtol_relative']}")
    if not config["loss"]["step_length"] >= 0:
        raise ValueError("'loss.step_length' must be >= 0; got "
                         f"{config['loss']['step_length']}")
    if config["loss"]["weighting"] not in WEIGHTINGS:
        raise ValueError(f"'loss.weighting' must be one of {WEIGHTINGS}; "
                         f"got {config['loss']['weighting']!r}")
    for key in ("problems.batch_size", "optim.episodes", "validation.every", "checkpoint.every",
                "validation.batch_size", "validation.batches", "validation.steps",
                "model.hidden"):
        if get(config, key) < 1:
            raise ValueError(f"{key!r} must be >= 1; got {get(config, key)}")
    for key in ("problems.log10_f_scale", "problems.log10_x_scale"):
        lo_hi = get(config, key)
        if len(lo_hi) != 2 or lo_hi[0] > lo_hi[1]:
            raise ValueError(f"{key!r} must be [low, high] with low <= high; got {lo_hi}")
    weights = config["problems"]["weights"]
    if weights and len(weights) != len(config["problems"]["families"]):
        raise ValueError("'problems.weights' needs one weight per family in 'problems.families'")
    if config["optim"]["lr"] <= 0 or config["optim"]["clip"] <= 0:
        raise ValueError("'optim.lr' and 'optim.clip' must be > 0")
    solver_options(**config["solver"])  # names and rules of the solver options table


def canonical_json(config):
    """The config as canonical JSON (sorted keys, compact separators)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def config_hash(config):
    """sha256 hex digest of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def help_text():
    """Every config key with its default and help, for ``--help``."""
    lines = ["config keys (TOML sections; override with --set key=value):"]
    for key, (default, text) in SCHEMA.items():
        lines.append(f"  {key} = {json.dumps(default)}\n      {text}")
    return "\n".join(lines)
