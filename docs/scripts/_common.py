"""Shared bits of the figure scripts: where figures go and how they are saved reproducibly."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
STATIC = DOCS / "_static"
sys.path.insert(0, str(DOCS.parent))  # use the checkout's learnedmin


def save(fig, path):
    """Save ``fig`` as a PNG without metadata that changes from run to run."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None}, bbox_inches="tight")
    print(f"wrote {path}")
