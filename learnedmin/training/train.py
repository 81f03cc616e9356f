"""The training loop: truncated backpropagation through the unrolled safeguarded iteration.

One *unroll* (episode) draws a family, a horizon ``T`` (uniform in ``[min_steps, max_steps]``), a
batch of instances and a random scaling ``c f(x / t)`` of each, and runs ``T`` iterations of
:func:`learnedmin.training.unroll.step`. Every ``truncation`` iterations the loss of those
iterations (:mod:`~learnedmin.training.losses`) is backpropagated, the gradient is clipped, Adam
takes a step and the state is detached (truncated BPTT, the unroll itself goes on with the updated
network). Every ``validation.every`` unrolls the network is scored on fixed validation instances
drawn from a seed never used in training; the best network is kept and exported.

Reproducibility: the network initialisation uses ``seed``; unroll ``e`` draws its horizon and
family from a generator seeded by ``(seed, e)`` and its instances from one seeded by
``(seed, e, rank)``. A checkpoint after unroll ``e`` therefore holds everything needed to continue
bit for bit (on the CPU): a resumed run ends with the same weights as an uninterrupted one.

Several processes (``torchrun --nproc-per-node N -m learnedmin.training train ...``): when
``WORLD_SIZE > 1`` the process group is initialised from the environment (gloo on the CPU, nccl on
CUDA), each rank unrolls its own instances and the gradients are averaged with ``all_reduce``
before each Adam step (data-parallel, as ``DistributedDataParallel`` does; an explicit all-reduce
is used because the network is called a variable number of times per backward pass). Rank 0
writes checkpoints and the archive.
"""

import datetime
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .. import weights as weights_io
from .._status import RUNNING, SUCCESS
from ..step import LEARNED, LEARNED_BACKTRACKED
from ..directions import SLOTS
from ..network import WeightingNet, network_config
from ..policy import CLASSICAL_WEIGHTS
from ..statistics import FEATURE_NAMES
from . import checkpoint as ckpt
from .config import config_hash
from .families import get_family, numpy_instance, rescale
from .losses import progress, step_weights, unroll_loss
from .seeds import mix
from .unroll import detach_state, init_state, solver_options, step

__all__ = ["TrainResult", "train", "sample_episode", "validation_problems", "validate",
           "build_net", "export_network", "resolve_device"]


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    net: WeightingNet            # the best network (by validation score)
    best_score: float
    classical_score: float
    history: list                # validation records
    episodes: int                # unrolls done in total
    seconds: float               # wall time of this invocation
    archive: object              # path of the exported archive, or None


def resolve_device(name):
    """``torch.device`` for the config's ``device``; a clear error if it cannot be used."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"'device' must name a torch device; got {name!r}") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"'device' is {name!r} but CUDA is not available on this machine")
        if device.index is None and "LOCAL_RANK" in os.environ:
            device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def _families(config):
    """``[(family, weight)]`` of the config; an unavailable channel family is skipped."""
    names = config["problems"]["families"]
    weights = config["problems"]["weights"] or [1.0] * len(names)
    out = []
    for name, weight in zip(names, weights):
        try:
            out.append((get_family(name), float(weight)))
        except ValueError:
            if not name.startswith("channel"):
                raise
            warnings.warn("family 'channel' is unavailable (learnedmin.problems.channel is "
                          "missing); training without it", RuntimeWarning, stacklevel=3)
    if not out:
        raise ValueError("'problems.families' names no available family")
    return out


def _scaled(problem, config, generator):
    """The problem under a random ``c f(x / t)`` (log-uniform ``c`` and ``t`` per instance)."""
    batch = problem.batch

    def log_uniform(lo_hi):
        lo, hi = lo_hi
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        return torch.pow(10.0, lo + (hi - lo) * u)

    return rescale(problem, log_uniform(config["problems"]["log10_f_scale"]),
                   log_uniform(config["problems"]["log10_x_scale"]))


def sample_episode(config, families, episode, rank=0):
    """``(problem, steps)`` of unroll number ``episode`` (deterministic in the seed)."""
    seed = config["seed"]
    shared = torch.Generator().manual_seed(mix(seed, episode))
    u = config["unroll"]
    steps = int(torch.randint(u["min_steps"], u["max_steps"] + 1, (), generator=shared))
    weights = torch.tensor([w for _, w in families], dtype=torch.float64)
    family = families[int(torch.multinomial(weights, 1, generator=shared))][0]
    local = torch.Generator().manual_seed(mix(seed, episode, rank + 1))
    problem = family.sample(local, config["problems"]["batch_size"])
    return _scaled(problem, config, local), steps


def validation_problems(config, families):
    """Fixed validation instances, ``validation.batches`` batches per family (a seed never used
    in training); a family draws its dimensions per batch, so several batches cover several
    sizes."""
    out = []
    seed = config["validation"]["seed"]
    for index, (family, _) in enumerate(families):
        for b in range(config["validation"]["batches"]):
            gen = torch.Generator().manual_seed(mix(seed, index) if b == 0
                                                else mix(seed, index, b))
            problem = family.sample(gen, config["validation"]["batch_size"])
            out.append((family.name, _scaled(problem, config, gen)))
    return out


def _relative_gtol(problem, config):
    with torch.no_grad():
        g0 = problem.gradient(problem.x0).abs().amax(-1)
    return config["unroll"]["gtol_relative"] * g0


def validate(net, problems, config, opts, device):
    """Score ``net`` on validation problems (lower is better).

    ``validation.metric = "loss"``: the step-weighted log progress of the training loss.
    ``"iterations"``: the mean log of the iterations each instance needs to reach
    ``max|g| <= validation.gtol_relative * max|g0|`` (an instance that stops without reaching it,
    or has not reached it after ``validation.steps`` iterations, counts ``2 * steps``), the
    measure ``evaluate`` reports in calls (about two per iteration).

    Returns ``{"score": mean over families, "families": {name: score}}``.
    """
    if config["validation"]["metric"] == "calls":
        return _validate_calls(net, problems, config, opts)
    steps = config["validation"]["steps"]
    by_iterations = config["validation"]["metric"] == "iterations"
    weights = step_weights(steps, config["loss"]["weighting"], device=device)
    per_family = {}
    with torch.no_grad():
        for name, problem in problems:
            problem = problem.to(device)
            if by_iterations:
                gtol = config["validation"]["gtol_relative"] \
                    * problem.gradient(problem.x0).abs().amax(-1)
            else:
                gtol = _relative_gtol(problem, config)
            newton_cg = config["unroll"]["newton_cg"]
            state = init_state(net, problem, opts, gtol, newton_cg,
                               paired=config["unroll"]["paired"])
            terms = []
            taken = torch.zeros_like(state.f)
            for _ in range(steps):
                state, info = step(net, problem, state, opts, newton_cg=newton_cg,
                                   paired=config["unroll"]["paired"])
                taken = taken + info.taken.to(taken.dtype)
                if not by_iterations:
                    terms.append(progress(problem, state.x, state.f, config["loss"]["kind"],
                                          config["loss"]["floor"]))
                elif bool((state.status != RUNNING).all()):
                    break
            if by_iterations:
                # a row converges when step() finds max|g| <= gtol at its start: after k steps
                reached = (state.g.abs().amax(-1) <= state.gtol) & (
                    (state.status == RUNNING) | (state.status == SUCCESS))
                iterations = torch.where(reached, taken, torch.full_like(taken, 2.0 * steps))
                per_instance = torch.log(iterations.clamp(min=1.0))
            else:
                per_instance = (weights[:, None] * torch.stack(terms)).sum(0)
            per_family.setdefault(name, []).append(per_instance)
    scores = {}
    for name, parts in per_family.items():
        per_instance = torch.cat(parts)
        finite = torch.isfinite(per_instance)
        scores[name] = float(per_instance[finite].mean()) if bool(finite.any()) else math.inf
    return {"score": sum(scores.values()) / len(scores), "families": scores}


def _validate_calls(net, problems, config, opts):
    """``validation.metric = "calls"``: the mean log of ``nfev + njev`` of the numpy loop (the
    code users run) to ``max|g| <= validation.gtol_relative * max|g0|``, with the network's
    parameters in the numpy mirror of its forward pass. An instance that stops without reaching
    the tolerance, or is still running after ``validation.steps`` iterations, counts
    ``4 * steps`` calls. The network runs as it does at inference: the numpy mirror of its
    forward pass where that agrees with the network itself (:func:`learnedmin.policy.fast_policy`
    checks it), else the network."""
    from .._objective import Objective
    from ..loop import run
    from ..policy import fast_policy

    import copy

    # a copy on the CPU: the network being trained stays where it is, in training mode
    policy = fast_policy(copy.deepcopy(net).to("cpu").eval(),
                         {"network": network_config(net), "feature_names": FEATURE_NAMES,
                          "slots": SLOTS})
    newton_cg = config["unroll"]["newton_cg"]
    steps = config["validation"]["steps"]
    relative = config["validation"]["gtol_relative"]
    per_family = {}
    for name, problem in problems:
        for i in range(problem.batch):
            fun, jac, x0, _, _ = numpy_instance(problem, i)
            gtol = relative * float(np.max(np.abs(jac(x0))))
            hessp = _numpy_hessp(problem, i) if newton_cg else None
            res = run(Objective(fun, jac, None, hessp, (), x0.size), x0, policy,
                      {**opts, "maxiter": steps, "gtol": gtol})
            calls = res["nfev"] + res["njev"] + res["nhev"] if res["status"] == SUCCESS \
                else 4 * steps
            per_family.setdefault(name, []).append(math.log(max(calls, 1)))
    scores = {name: float(np.mean(v)) for name, v in per_family.items()}
    return {"score": sum(scores.values()) / len(scores), "families": scores}


def _numpy_hessp(problem, index):
    """``hessp(x, v)`` on numpy arrays for row ``index`` of a batch."""
    row = problem.select([index])

    def hessp(x, v):
        with torch.no_grad():
            return row.hessian_product(torch.from_numpy(np.asarray(x, dtype=np.float64))[None],
                                       torch.from_numpy(np.asarray(v, dtype=np.float64))[None]
                                       )[0].cpu().numpy()

    return hessp


def build_net(config, device="cpu"):
    """A fresh ``WeightingNet`` for the config (initialised from ``seed``)."""
    torch.manual_seed(config["seed"])
    return WeightingNet(hidden=config["model"]["hidden"]).to(device)


def step_length_term(info):
    """``(log alpha)^2`` per row for the steps taken along the network's proposal (0 elsewhere):
    how far the line search had to stretch or shrink the proposal. Refinement and backtracking
    each cost function calls; a proposal of the right length costs none."""
    proposal = (info.source == LEARNED) | (info.source == LEARNED_BACKTRACKED)
    own = info.taken & proposal & (info.alpha > 0)
    alpha = torch.where(own, info.alpha, torch.ones_like(info.alpha))
    return torch.where(own, torch.log(alpha) ** 2, torch.zeros_like(alpha))


def _average_gradients(net, world):
    for p in net.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if world > 1:
        import torch.distributed as dist

        for p in net.parameters():
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad.div_(world)  # the optimiser's own buffer, not part of any graph


def _run_episode(net, optimiser, problem, steps, config, opts, world):
    """One unroll with truncated BPTT; returns ``(mean loss, Adam steps, skipped steps)``."""
    u, lc = config["unroll"], config["loss"]
    weights = step_weights(steps, lc["weighting"], device=problem.x0.device)
    state = init_state(net, problem, opts, _relative_gtol(problem, config), u["newton_cg"],
                       paired=u["paired"])
    total, updates, skipped = 0.0, 0, 0
    for start in range(0, steps, u["truncation"]):
        end = min(start + u["truncation"], steps)
        points, values, lengths = [], [], []
        for _ in range(start, end):
            state, info = step(net, problem, state, opts, u["through_directions"],
                               u["newton_cg"], paired=u["paired"])
            points.append(state.x)
            values.append(state.f)
            if lc["step_length"] > 0:
                lengths.append(step_length_term(info))
        loss = unroll_loss(problem, points, values, weights[start:end], lc["kind"], lc["floor"])
        if lc["step_length"] > 0:
            loss = loss + lc["step_length"] * torch.stack(lengths).mean()
        optimiser.zero_grad(set_to_none=False)
        if loss.requires_grad:
            loss.backward()
        _average_gradients(net, world)
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), config["optim"]["clip"])
        if torch.isfinite(norm):
            optimiser.step()
        else:  # same decision on every rank: the gradients were averaged first
            skipped += 1
        updates += 1
        total += float(loss.detach())
        state = detach_state(state)
    return total, updates, skipped


def _distributed(device):
    """``(rank, world)``; initialises the process group from the environment under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo",
                                init_method="env://")
    return dist.get_rank(), dist.get_world_size()


def export_network(net, path, config, validation, extra=None, trained=True):
    """Write ``net`` as a weights archive with the training metadata (see the module docs).

    ``trained`` is False when the exported network is still the initial (classical) one, i.e.
    no validation improved on it.
    """
    description = config["description"]
    if not trained:
        weights = ", ".join(f"{w:g}" for w in CLASSICAL_WEIGHTS)
        description += f" (untrained: no validation beat the classical rule ({weights}))"
    metadata = {
        "description": description,
        "trained": bool(trained),
        "config": config,
        "config_sha256": config_hash(config),
        "seed": config["seed"],
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "validation": validation,
        **(extra or {}),
    }
    return weights_io.export(net.to("cpu").eval(), path, metadata)


_LOG = logging.getLogger(__name__)


class _Progress:
    """tqdm bar over units of work: unrolls in training, runs in ``evaluate`` and ``headroom``
    (plain log lines when disabled: what :meth:`write` is given, and with ``log_every`` a count
    every that many units)."""

    def __init__(self, total, initial, enabled, log, unit="unroll", log_every=None):
        self.log, self.total, self.done = log, total, initial
        self.unit, self.log_every = unit, log_every
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, dynamic_ncols=True)

    def update(self, label=None, **postfix):
        """One unit done; ``label`` names what is being done, ``postfix`` numbers to show."""
        self.done += 1
        if self.bar is not None:
            if label is not None:
                self.bar.set_description(label, refresh=False)
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)
        elif self.log is not None and self.log_every and (
                self.done % self.log_every == 0 or self.done == self.total):
            self.log(f"{self.done}/{self.total} {self.unit}s" + (f" ({label})" if label else ""))

    def write(self, text):
        if self.bar is not None:
            self.bar.write(text)
        elif self.log is not None:
            self.log(text)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(config, run_dir, out=None, resume=False, stop_after=None, show_progress=True,
          log=_LOG.info, overwrite=False):
    """Train a weighting network as the config says; export the best one.

    Parameters
    ----------
    config : dict
        A resolved config (:func:`learnedmin.training.config.resolve`).
    run_dir : str or Path
        Directory of the run's checkpoint (``checkpoint.pt``); one directory per run (the
        command line's default is :func:`~learnedmin.training.checkpoint.run_dir_for` ``(out)``).
    out : str or Path, optional
        Archive to write at the end (``.pt`` plus ``.json``); default ``run_dir/weights.pt``.
    resume : bool
        Continue from ``run_dir/checkpoint.pt`` (its config hash must match, up to
        ``optim.episodes``, which may be raised to train longer).
    stop_after : int, optional
        Stop after this many unrolls of this invocation, writing a checkpoint and no archive, as
        if the run had been interrupted there (for tests and time-sliced jobs).
    show_progress : bool
        tqdm progress bar (rank 0 only).
    log : callable or None
        Where log lines go when there is no progress bar (default: this module's logger, level
        INFO); ``None`` drops them.
    overwrite : bool
        Start afresh even if ``run_dir`` holds a checkpoint, deleting it. Without it (or
        ``resume``) a fresh run refuses such a directory.

    Returns
    -------
    TrainResult

    Raises
    ------
    FileExistsError
        A fresh run (neither ``resume`` nor ``overwrite``) in a directory that holds a checkpoint.
    learnedmin.training.checkpoint.Interrupted
        On ``KeyboardInterrupt``, naming the last checkpoint written, which ``resume`` continues.
    """
    if resume and overwrite:
        raise ValueError("'resume' and 'overwrite' exclude each other: resume continues the run "
                         "in run_dir, overwrite discards it")
    threads = torch.get_num_threads()
    if config["threads"]:
        torch.set_num_threads(config["threads"])
    saved = {}  # the last checkpoint on disk ("path", "episode"), kept up to date by _train
    try:
        return _train(config, run_dir, out, resume, stop_after, show_progress, log, overwrite,
                      saved)
    except KeyboardInterrupt as exc:
        raise ckpt.Interrupted(saved.get("path"), saved.get("episode")) from exc
    finally:
        torch.set_num_threads(threads)


def _export_best(final, archive, config, best, classical, history, training, bar):
    """Export the best network with its validation record (``best``: score and episode)."""
    best_score, best_episode = best
    if best_episode == 0:
        bar.write("no validation beat the classical rule: the archive holds the untrained "
                  "network (validation.episode = 0)")
    validation = {"score": best_score, "episode": best_episode,
                  "improved_on_classical": best_episode > 0,
                  "classical_score": classical["score"],
                  "families": next((h["families"] for h in history
                                    if h["episode"] == best_episode), classical["families"]),
                  "classical_families": classical["families"]}
    second = "newton_cg" if config["unroll"]["newton_cg"] else "quasi_newton"
    export_network(final, archive, config, validation,
                   {"training": training, "second_order": [second],
                    "global_steps": int(config["solver"].get("global_steps") or 0),
                    "budget": config["solver"].get("budget")},
                   trained=best_episode > 0)


def _discard(ckpt_path, log):
    """Remove the checkpoint of a run being overwritten: a stale one must not be what a later
    ``--resume`` picks up."""
    if ckpt_path.is_file():
        ckpt_path.unlink()
        if log is not None:
            log(f"discarded the checkpoint in {ckpt_path.parent} (overwrite)")


def _resumed(ckpt_path, recipe_hash, net, optimiser, device, saved):
    """Restore a run from its checkpoint: ``(start, history, best, best_score, best_episode,
    classical)``; the network, the optimiser and the RNGs are restored in place."""
    state = ckpt.load(ckpt_path, map_location=device)
    if state["recipe_sha256"] != recipe_hash:
        raise ValueError(f"the checkpoint in {ckpt_path.parent} was written with another config; "
                         "resume with the same config (only optim.episodes may change)")
    net.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimizer"])
    ckpt.restore_rng_states(state["rng"])
    saved.update(path=ckpt_path, episode=state["episode"])
    return (state["episode"], state["history"], state["best"], state["best_score"],
            state["best_episode"], state["classical"])


def _train(config, run_dir, out, resume, stop_after, show_progress, log, overwrite, saved):
    t_start = time.perf_counter()
    device = resolve_device(config["device"])
    rank, world = _distributed(device)
    run_dir = Path(run_dir)
    ckpt_path = run_dir / ckpt.CHECKPOINT_NAME
    recipe = {**config, "optim": {**config["optim"], "episodes": None}}
    if not resume and not overwrite:
        ckpt.check_fresh(run_dir, config_hash(recipe))  # before any rank can write one
    opts = solver_options(**config["solver"])
    families = _families(config)
    net = build_net(config, device)
    optimiser = torch.optim.Adam(net.parameters(), lr=config["optim"]["lr"],
                                 weight_decay=config["optim"]["weight_decay"])
    val_problems = validation_problems(config, families)
    if overwrite and rank == 0:
        _discard(ckpt_path, log)

    if resume:
        start, history, best, best_score, best_episode, classical = _resumed(
            ckpt_path, config_hash(recipe), net, optimiser, device, saved)
    else:
        start, history, best_episode = 0, [], 0
        classical = validate(build_net(config, device), val_problems, config, opts, device)
        torch.manual_seed(config["seed"])
        best = {k: v.detach().clone() for k, v in net.state_dict().items()}
        best_score = classical["score"]

    total = config["optim"]["episodes"]
    end = total if stop_after is None else min(total, start + stop_after)
    bar = _Progress(total, start, show_progress and rank == 0, log if rank == 0 else None)
    bar.write(f"classical rule (untrained network) validation score {classical['score']:.4f}")
    running = None

    def save_checkpoint(episode):
        if rank == 0:
            ckpt.save(ckpt_path, {
                "model": net.state_dict(), "optimizer": optimiser.state_dict(),
                "episode": episode, "history": history, "best": best, "best_score": best_score,
                "best_episode": best_episode, "classical": classical, "config": config,
                "recipe_sha256": config_hash(recipe), "rng": ckpt.rng_states(),
            })
        saved.update(path=ckpt_path, episode=episode)  # written by rank 0

    try:
        for episode in range(start, end):
            problem, steps = sample_episode(config, families, episode, rank)
            loss, _, _ = _run_episode(net, optimiser, problem.to(device), steps, config, opts,
                                      world)
            running = loss if running is None else 0.95 * running + 0.05 * loss
            done = episode + 1
            if done % config["validation"]["every"] == 0 or done == total:
                record = validate(net, val_problems, config, opts, device)
                record["episode"] = done
                history.append(record)
                if record["score"] < best_score:
                    best_score, best_episode = record["score"], done
                    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
                bar.write(f"unroll {done}: validation {record['score']:.4f} "
                          f"(best {best_score:.4f}, classical {classical['score']:.4f})")
            bar.update(loss=running, best=best_score)
            if done % config["checkpoint"]["every"] == 0 or done == end:
                save_checkpoint(done)
    finally:
        bar.close()

    final = build_net(config, "cpu")
    final.load_state_dict({k: v.to("cpu") for k, v in best.items()})
    archive = None
    if end == total and rank == 0:
        archive = Path(out) if out is not None else run_dir / "weights.pt"
        _export_best(final, archive, config, (best_score, best_episode), classical, history,
                     {"episodes": total, "world_size": world, "device": str(device)}, bar)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(final, best_score, classical["score"], history, end,
                       time.perf_counter() - t_start, archive)
