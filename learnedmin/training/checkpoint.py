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
"""

import io
import random
from pathlib import Path

import numpy as np
import torch

from ..weights import _atomic_write as atomic_write

__all__ = ["CHECKPOINT_NAME", "save", "load", "rng_states", "restore_rng_states"]

CHECKPOINT_NAME = "checkpoint.pt"


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
