"""Unroll losses: how far the iterates got, on a log scale, normalised per instance.

Both losses are averages over instances of a weighted mean over steps ``t = 1..T`` of a log
progress ratio, so they are invariant under ``f -> c f`` and ``x -> t x`` and comparable across
families and horizons (the weights sum to one):

unsupervised
    ``log(f(x_t) - f* + floor * (f(x_0) - f*)) - log(f(x_0) - f*)`` (Andrychowicz et al. 2016 sum
    ``f`` along the run; the log and the normalisation make the loss scale-free). The relative
    ``floor`` (default ``1e-12``) saturates the reward once an instance is solved to about machine
    precision, so solved instances stop pulling on the gradient.
supervised
    ``log(|x_t - x*|^2 + floor |x_0 - x*|^2) - log(|x_0 - x*|^2)``: the distance to the known
    minimiser (Takabe & Wadayama's MSE, on a log scale). Only for instances whose minimiser is
    unique (``Problem.x_star_known``).
mixed
    supervised where ``x_star_known``, unsupervised elsewhere.

Step weights: ``uniform`` (every step counts), ``linear`` (later steps count more, ``w_t ~ t``) or
``final`` (only the last step).
"""

import torch

KINDS = ("unsupervised", "supervised", "mixed")
WEIGHTINGS = ("uniform", "linear", "final")

__all__ = ["KINDS", "WEIGHTINGS", "step_weights", "progress", "unroll_loss"]


def step_weights(steps, weighting, dtype=torch.float64, device=None):
    """Weights ``(steps,)`` over steps ``1..steps`` that sum to one."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"'loss.weighting' must be one of {WEIGHTINGS}; got {weighting!r}")
    if steps < 1:
        raise ValueError(f"need at least one step; got {steps}")
    t = torch.arange(1, steps + 1, dtype=dtype, device=device)
    if weighting == "uniform":
        w = torch.ones_like(t)
    elif weighting == "linear":
        w = t
    else:
        w = (t == steps).to(dtype)
    return w / w.sum()


def progress(problem, x, f, kind, floor):
    """Per-instance log progress ratio ``(B,)`` of the point ``x`` with value ``f``.

    Parameters
    ----------
    problem : Problem
        Supplies ``x0``, ``x_star``, ``f_star`` and ``x_star_known``.
    x, f : tensors (B, n), (B,)
    kind : {"unsupervised", "supervised", "mixed"}
    floor : float
        Relative floor inside the logarithm (see the module docstring).
    """
    if kind not in KINDS:
        raise ValueError(f"'loss.kind' must be one of {KINDS}; got {kind!r}")
    supervised = kind == "supervised" or (kind == "mixed" and problem.x_star_known)
    if kind == "supervised" and not problem.x_star_known:
        raise ValueError(
            f"family {problem.family.name!r} has no unique minimiser: use loss.kind = "
            "'unsupervised' or 'mixed'"
        )
    if supervised:
        start = ((problem.x0 - problem.x_star) ** 2).sum(-1)
        now = ((x - problem.x_star) ** 2).sum(-1)
    else:
        start = problem.value(problem.x0).detach() - problem.f_star
        now = (f - problem.f_star).clamp_min(0.0)  # f* of some families is accurate to ~eps
    start = start.clamp_min(torch.finfo(start.dtype).tiny)
    return torch.log(now + floor * start) - torch.log(start)


def unroll_loss(problem, points, values, weights, kind, floor, mask=None):
    """Weighted log progress over a segment of steps, averaged over instances.

    Parameters
    ----------
    problem : Problem
    points, values : lists of tensors (B, n) and (B,)
        Iterates and their values for the steps of the segment.
    weights : tensor (len(points),)
        Step weights of these steps (a slice of :func:`step_weights`).
    kind, floor : see :func:`progress`.
    mask : tensor (B,) of bool, optional
        Instances that count (others contribute zero).

    Returns
    -------
    tensor ()
        The loss (differentiable).
    """
    terms = torch.stack(
        [progress(problem, x, f, kind, floor) for x, f in zip(points, values)], dim=0
    )
    # an instance whose start is not finite cannot be scored (the loop stops it at once)
    terms = torch.where(torch.isfinite(terms), terms, torch.zeros_like(terms))
    per_instance = (weights[:, None] * terms).sum(0)
    if mask is not None:
        per_instance = torch.where(mask, per_instance, torch.zeros_like(per_instance))
    return per_instance.mean()
