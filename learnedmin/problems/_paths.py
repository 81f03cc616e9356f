r"""Random specular paths on any number of grid axes: the one sampler of the channel problems.

:func:`learnedmin.problems.channel.sample` (delay) and
:func:`learnedmin.problems.channel2d.sample` (delay and angle) are :func:`sample` with one and
with two :class:`~learnedmin.problems._specular.Axis`. The recipe ("randomly generating ground
truths which are then altered slightly"):

* **Delays** (the first axis): ``P`` delays in ``[margin, M - margin]`` cells, sorted
  ascending, uniform over the configurations that keep them pairwise ``separation`` cells apart
  (draw ``P`` points on a shortened interval, sort them and add ``k * separation``).
* **Weights**: power uniform in dB over ``[-spread_db, 0]``, phase uniform over ``[-pi, pi)``.
* **Further axes** (angles): uniform in ``[-N/2 + margin, N/2 - margin]`` cells; with them the
  delays are drawn with no separation and the rule is that every pair of paths is
  ``min_separation`` cells apart on *some* axis (Chebyshev distance in cells): an instance that
  breaks it is drawn again whole, so the instances are uniform over the configurations that
  keep it.
* **Noise**: circular complex Gaussian of variance :math:`\sigma^2` per sample, with the SNR
  :math:`\sum_p |\gamma_p|^2 / \sigma^2` (``"total"``) or :math:`\max_p |\gamma_p|^2 /
  \sigma^2` (``"strongest"``).
* **Start**: each parameter on axis ``d`` moved by ``U(-1, 1) * perturbations[d]`` cells, each
  weight scaled by ``U(-1, 1) * gain_perturbation_db`` dB and rotated by ``U(-1, 1) *
  phase_perturbation`` radians.

The order of the draws is part of the contract: the bundled weights and the documented
benchmark numbers were made from these exact random streams. With further axes the delay draw
still draws (and drops) the noise of a one-axis observation, and the full observation's noise
comes last.
"""

import math
from typing import Any, NamedTuple

import numpy as np

from . import _specular as sp

SNR_REFERENCES = ("total", "strongest")

# The parameters the public samplers share, for their docstrings (sp.with_fragments).
SAMPLE_FRAGMENTS = dict(
    paths="""
        rng : numpy.random.Generator or int or None
            Passed through :func:`numpy.random.default_rng`.
        P : int
            Number of paths, ``P >= 1``.
        """,
    options="""
        snr_db : float or array_like
            SNR in dB; an array broadcasts against the batch shape (one SNR per instance).
        batch : int or tuple of int, optional
            Leading batch shape of the returned arrays (``None``: one unbatched instance).
        units : {"natural", "scaled"}
            Units of the grids and of the parameters (see the module's table).
        centred : bool
            Centred grids (see :func:`~learnedmin.problems.channel.frequency_grid`).
        min_separation, margin : float
            In resolution cells of each axis (``1/M`` of the unambiguous range of the delays).
        spread_db : float
            Range of the path powers in dB.
        snr_reference : {"total", "strongest"}
        """,
    weights="""
        gain_perturbation_db, phase_perturbation : float
            Largest weight magnitude error (dB) and phase error (radians) of the start.
        """,
)


class Draw(NamedTuple):
    """What :func:`sample` drew (numpy, leading batch shape ``...``)."""

    y: np.ndarray           # (..., N_{D-1}, ..., N_0) complex observation
    grids: tuple            # the D grids, fastest axis first
    sigma2: np.ndarray      # (...), a scalar when unbatched
    theta_true: np.ndarray  # (..., (D + 2) P)
    theta0: np.ndarray      # (..., (D + 2) P)
    cells: tuple            # the resolution cell of each axis, in the units of its parameters


def sample_type(name, axes, summary, module):
    """The documented record (a :class:`typing.NamedTuple`) of the samples on ``axes``, named
    ``name`` in ``module``: ``y``, the grids, ``sigma2``, ``theta_true``, ``theta0``, ``units``
    and the cells."""
    sizes = ", ".join(a.size for a in reversed(axes))
    theta = f"numpy.ndarray, shape (..., {len(axes) + 2}P)"
    fields = [
        ("y", Any, f"numpy.ndarray, shape (..., {sizes}), complex128", "Noisy observation."),
        *[(a.grid, Any, f"numpy.ndarray, shape ({a.size},)",
           f"Grid of the {a.noun} in ``units`` (shared by the batch).") for a in axes],
        ("sigma2", Any, "numpy.ndarray, shape batch",
         r"Noise variance :math:`\mathrm{E}|w|^2` of every observed entry, one per instance "
         "(a scalar when unbatched)."),
        ("theta_true", Any, theta, f"Ground truth ``[{', '.join(a.symbol for a in axes)}, Re "
                                   "gamma, Im gamma]``, delays sorted ascending."),
        ("theta0", Any, theta, "Start: the ground truth perturbed."),
        ("units", str, "str", '``"natural"`` or ``"scaled"``.'),
        *[(a.cell, float, "float", f"The {a.name} resolution cell in ``units`` "
                                   f"(``{a.natural_range:g}/{a.size}`` natural, ``1`` scaled).")
          for a in axes]]
    record = NamedTuple(name, [(field, kind) for field, kind, _, _ in fields])
    lines = [summary, "", "Attributes", "----------"]
    for field, _, kind, text in fields:
        lines += [f"{field} : {kind}", f"    {text}"]
    record.__doc__, record.__module__ = "\n".join(lines), module
    return record


# --------------------------------------------------------------------------------------------
# Arguments


def batch_shape(batch):
    """The batch shape ``()`` (for ``None``), ``(batch,)`` or ``tuple(batch)``, checked."""
    if batch is None:
        return ()
    shape = (batch,) if isinstance(batch, (int, np.integer)) else tuple(batch)
    if any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1 for b in shape):
        raise ValueError(f"'batch' must be None, a positive integer or a tuple of them; "
                         f"got {batch!r}")
    return tuple(int(b) for b in shape)


def _common_args(P, M, snr_db, batch, units, snr_reference):
    """``(P, M, batch shape, snr_db broadcast to it)``, or a ``ValueError`` naming the argument."""
    P, M = sp.check_int("P", P, 1), sp.check_int("M", M, 2)
    sp.check_units(units)
    if snr_reference not in SNR_REFERENCES:
        raise ValueError(f"'snr_reference' must be 'total' or 'strongest'; got {snr_reference!r}")
    shape = batch_shape(batch)
    snr_db = np.asarray(snr_db, dtype=np.float64)
    if not np.all(np.isfinite(snr_db)):
        raise ValueError(f"'snr_db' must be finite; got {snr_db!r}")
    try:
        snr_db = np.broadcast_to(snr_db, shape)
    except ValueError as exc:
        raise ValueError(f"'snr_db' of shape {snr_db.shape} does not broadcast to the batch "
                         f"shape {shape}") from exc
    return P, M, shape, snr_db


def _checked(axes, P, sizes, snr_db, batch, units, snr_reference, min_separation, margin,
             spread_db, perturbations, gain_db, phase):
    """``(P, sizes, batch shape, snr_db broadcast to it)`` after every check of
    :func:`sample`, in the order the published samplers made them."""
    # The further axes first: their sizes, then the rule and their perturbations.
    more = [sp.check_int(a.size, n, 2) for a, n in zip(axes[1:], sizes[1:])]
    if more:
        sp.check_nonneg(min_separation=min_separation, **{
            f"{a.name}_perturbation": d for a, d in zip(axes[1:], perturbations[1:])})
    P, M, shape, snr_db = _common_args(P, sizes[0], snr_db, batch, units, snr_reference)
    sp.check_nonneg(min_separation=min_separation, margin=margin, spread_db=spread_db,
                    delay_perturbation=perturbations[0], gain_perturbation_db=gain_db,
                    phase_perturbation=phase)
    spacing = _delay_spacing(axes, min_separation)
    if M - 2 * margin - (P - 1) * spacing < 0:
        raise ValueError(
            f"{P} paths {spacing} cells apart with margins of {margin} cells do not fit "
            f"in M = {M} cells: need (P-1)*min_separation + 2*margin <= M"
        )
    for a, n in zip(axes[1:], more):
        if n < 2 * margin:
            raise ValueError(f"margins of {margin} cells do not fit in {a.size} = {n} {a.name} "
                             f"cells: need 2*margin <= {a.size}")
    sizes = (M, *more)
    # At most floor(L / s) + 1 points s apart fit on a side of L cells.
    if more and min_separation > 0 and P > math.prod(
            (n - 2 * margin) // min_separation + 1 for n in sizes):
        raise ValueError(
            f"{P} paths {min_separation} cells apart in {' or '.join(a.name for a in axes)} do "
            f"not fit in {' x '.join(a.size for a in axes)} = {' x '.join(map(str, sizes))} "
            f"cells with margins of {margin} cells")
    return P, sizes, shape, snr_db


def _delay_spacing(axes, min_separation):
    """The delays' own separation: the rule's alone on one axis; none with further axes, where
    the rule is checked on all axes together."""
    return min_separation if len(axes) == 1 else 0.0


# --------------------------------------------------------------------------------------------
# Draws


def _perturbed(rng, gamma, gain_db, phase):
    """The weights ``gamma`` scaled by ``U(-1, 1) * gain_db`` dB and rotated by ``U(-1, 1) *
    phase`` radians (the start's weights)."""
    d_db = gain_db * rng.uniform(-1.0, 1.0, size=gamma.shape)
    d_phase = phase * rng.uniform(-1.0, 1.0, size=gamma.shape)
    return gamma * 10.0 ** (d_db / 20) * np.exp(1j * d_phase)


def _delays_and_weights(rng, P, M, snr_db, spacing, margin, spread_db, snr_reference,
                        delay_perturbation, gain_db, phase, cell):
    """One instance per entry of ``snr_db`` (``(n,)``) on the delay axis: ``(theta_true,
    theta0, sigma2, noise)`` with ``theta = [tau, Re gamma, Im gamma]`` and the noise of an
    ``M``-sample observation, drawn in the order of the published one-axis sampler."""
    size = snr_db.shape + (P,)
    room = M - 2 * margin - (P - 1) * spacing
    cells = margin + np.sort(rng.uniform(0.0, room, size=size), axis=-1) + spacing * np.arange(P)
    power_db = rng.uniform(-spread_db, 0.0, size=size)
    gamma = 10.0 ** (power_db / 20) * np.exp(1j * rng.uniform(-math.pi, math.pi, size=size))
    power = np.abs(gamma) ** 2
    ref = power.sum(axis=-1) if snr_reference == "total" else power.max(axis=-1)
    sigma2 = ref / 10.0 ** (snr_db / 10)
    noise = rng.standard_normal(snr_db.shape + (M,)) + 1j * rng.standard_normal(
        snr_db.shape + (M,))
    d_cells = delay_perturbation * rng.uniform(-1.0, 1.0, size=size)
    gamma0 = _perturbed(rng, gamma, gain_db, phase)
    theta_true = np.concatenate([cells * cell, gamma.real, gamma.imag], axis=-1)
    theta0 = np.concatenate([(cells + d_cells) * cell, gamma0.real, gamma0.imag], axis=-1)
    return theta_true, theta0, sigma2, noise


def _separated(cells, min_separation):
    """Whether every pair of paths is ``min_separation`` apart on some axis, ``(n,)``, for the
    cells ``(n, P)`` of each axis."""
    d = np.maximum.reduce([np.abs(c[..., :, None] - c[..., None, :]) for c in cells])
    return np.all((d >= min_separation) | np.eye(cells[0].shape[-1], dtype=bool), axis=(-2, -1))


def _further_axes(rng, draw_delays, axes, sizes, snr_db, min_separation, margin, cell,
                  tries=1000):
    """Delays, weights and the cells of the further axes for ``n`` instances, redrawing whole
    instances until the separation rule holds: ``(theta_true, theta0, sigma2, cells)``."""
    true, start, sigma2, _ = draw_delays(snr_db)  # the delay draw's noise is not used
    P = true.shape[-1] // 3

    def angles(n):
        return [rng.uniform(-N / 2 + margin, N / 2 - margin, size=(n, P)) for N in sizes[1:]]

    more = angles(sigma2.size)
    for _ in range(tries):
        # The delays as the parameters carry them, back in cells.
        bad = ~_separated([true[:, :P] / cell] + more, min_separation)
        n_bad = int(np.sum(bad))
        if n_bad == 0:
            return true, start, sigma2, more
        true[bad], start[bad], sigma2[bad], _ = draw_delays(snr_db[bad])
        for c, new in zip(more, angles(n_bad)):
            c[bad] = new
    names = [a.name for a in axes]
    raise ValueError(
        f"no configuration of {P} paths {min_separation} cells apart in {' or '.join(names)} was "
        f"found in {tries} draws ({', '.join(f'{a.size} = {n}' for a, n in zip(axes, sizes))}, "
        f"margins of {margin} cells); lower 'P', 'min_separation' or 'margin', or raise "
        f"{' or '.join(repr(a.size) for a in axes)}"
    )


def sample(rng, axes, P, sizes, snr_db, *, batch, units, centred, min_separation, margin,
           spread_db, snr_reference, perturbations, gain_perturbation_db, phase_perturbation):
    """Draw ground truths, noisy observations and perturbed starts on the grid ``axes``.

    The arguments are those of :func:`learnedmin.problems.channel2d.sample`, with the grid sizes
    ``sizes`` (``(M,)`` or ``(M, K)``) and the start's largest errors in cells
    ``perturbations`` given per axis; every one is checked and a bad one named. Returns a
    :class:`Draw`.
    """
    rng = np.random.default_rng(rng)
    P, sizes, shape, snr_db = _checked(
        axes, P, sizes, snr_db, batch, units, snr_reference, min_separation, margin, spread_db,
        perturbations, gain_perturbation_db, phase_perturbation)
    grids = tuple(sp.uniform_grid(a, n, units, centred) for a, n in zip(axes, sizes))
    cells = tuple(1.0 if units == "scaled" else a.natural_range / n for a, n in zip(axes, sizes))

    def draw_delays(snr):
        return _delays_and_weights(
            rng, P, sizes[0], snr, _delay_spacing(axes, min_separation), margin, spread_db,
            snr_reference, perturbations[0], gain_perturbation_db, phase_perturbation, cells[0])

    # One flat batch axis: a generator fills (n, P) with the numbers it fills batch + (P,) with.
    if len(axes) == 1:
        theta_true, theta0, sigma2, noise = draw_delays(snr_db.ravel())
    else:  # the further axes, their starts, then the full observation's noise, in that order
        true, start, sigma2, more = _further_axes(rng, draw_delays, axes, sizes, snr_db.ravel(),
                                                  min_separation, margin, cells[0])
        true_more = [c * s for c, s in zip(more, cells[1:])]
        start_more = [(c + d * rng.uniform(-1.0, 1.0, size=c.shape)) * s
                      for c, d, s in zip(more, perturbations[1:], cells[1:])]
        theta_true = np.concatenate([true[:, :P], *true_more, true[:, P:]], axis=-1)
        theta0 = np.concatenate([start[:, :P], *start_more, start[:, P:]], axis=-1)
        size = sigma2.shape + tuple(reversed(sizes))
        noise = rng.standard_normal(size) + 1j * rng.standard_normal(size)
    re, im = sp.model_re_im(theta_true, grids, np)
    y = re + 1j * im + np.sqrt(sigma2 / 2)[(...,) + (None,) * len(axes)] * noise

    def batched(a):  # the batch shape back; a scalar for an unbatched sigma2
        return a.reshape(shape + a.shape[1:])[()]

    return Draw(batched(y), grids, batched(sigma2), batched(theta_true), batched(theta0), cells)
