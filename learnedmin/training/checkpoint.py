"""Training checkpoints: written atomically, read back for ``--resume``.

A checkpoint is one ``torch.save`` file holding the training state after a whole number of
unrolls: the network and optimiser state dicts, the unroll counter, the best network so far and
its validation score, the validation history, the config (and its hash, so a resume with another
recipe is refused) and the RNG states. Every unroll draws its instances from generators seeded by
``(seed, unroll index, rank)``, so these states are all a resumed run needs to continue exactly as
an uninterrupted one would.

The file is written to a temporary name in the same directory, flushed and fsynced, then moved
over the old one with :func:`os.replace`: a run killed mid-write leaves the previous checkpoint
intact.

Each run has its own directory. ``learnedmin-train train --out runs/mynet.pt`` keeps its
checkpoint in ``runs/mynet.run/`` (:func:`run_dir_for`) unless ``--run-dir`` names another, so
runs with different outputs never share one. A fresh run refuses a directory that already holds
a checkpoint (:func:`check_fresh`) unless it is told to resume that run or to overwrite it.

>>> run_dir_for("runs/mynet.pt").as_posix()
'runs/mynet.run'
"""

import io
import random
from pathlib import Path

import numpy as np
import torch

from ..weights.writer import _atomic_write as atomic_write

__all__ = ["CHECKPOINT_NAME", "RUN_DIR_SUFFIX", "Interrupted", "run_dir_for", "check_fresh",
           "save", "load", "rng_states", "restore_rng_states"]

CHECKPOINT_NAME = "checkpoint.pt"
RUN_DIR_SUFFIX = ".run"


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (still a ``KeyboardInterrupt``).

    ``checkpoint`` is the path of the last checkpoint written for the run (``None`` if there is
    none yet) and ``episode`` the unrolls it holds: what ``--resume`` continues from.
    """

    def __init__(self, checkpoint, episode):
        super().__init__("training interrupted" + (
            " before its first checkpoint" if checkpoint is None
            else f"; last checkpoint {checkpoint} (after {episode} unrolls)"))
        self.checkpoint = checkpoint
        self.episode = episode


def run_dir_for(out):
    """The run directory of the archive ``out``: beside it, named after it (``x.pt`` ->
    ``x.run``)."""
    out = Path(out)
    run_dir = out.with_suffix(RUN_DIR_SUFFIX)
    return run_dir if run_dir != out else out.with_name(out.name + RUN_DIR_SUFFIX)


def check_fresh(run_dir, recipe_sha256):
    """Refuse to start a fresh run in ``run_dir`` if it holds a checkpoint.

    Raises
    ------
    FileExistsError
        Saying whether the checkpoint there is of the same recipe (``recipe_sha256``: the config
        hash without ``optim.episodes``), which ``--resume`` continues, or of another one, and
        that ``--overwrite`` replaces it.
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return
    state = load(path)
    if state.get("recipe_sha256") == recipe_sha256:
        raise FileExistsError(
            f"{path} holds a checkpoint of this config after {state['episode']} unrolls; "
            "continue that run with --resume, or start again with --overwrite")
    raise FileExistsError(
        f"{path} holds a checkpoint written with another config; start this run elsewhere "
        "(another --out or --run-dir), replace that checkpoint with --overwrite, or continue "
        "that run with --resume and its own config")


def rng_states():
    """The global RNG states (torch CPU, CUDA if initialised, numpy, random)."""
    states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
              "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states):
    """Restore what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save(path, payload):
    """Write ``payload`` (a dict of tensors and plain data) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write(path, buf.getvalue())


def load(path, map_location="cpu"):
    """Read a checkpoint written by :func:`save`.

    Raises
    ------
    FileNotFoundError
        With the path, if there is no checkpoint to resume from.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from at {path}")
    # weights_only=False: the payload holds numpy/python RNG states, and the file is our own.
    return torch.load(path, map_location=map_location, weights_only=False)
