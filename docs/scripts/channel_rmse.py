"""Figure: delay RMSE against SNR for channel estimation, with the Cramér-Rao bound (P = 3).

The numbers come from the channel-estimation study, which writes ``docs/channel/results.md``,
``results.json`` and the same figure as ``docs/channel/rmse_P3.png`` in one go::

    python -m learnedmin.bench channel --trials 30 --units natural,scaled \\
        --start-cells 0.25,0.75 --jobs 2

This script draws the tutorial's copy, ``docs/_static/channel_rmse.png``, from
``docs/channel/results.json`` without measuring again::

    python docs/scripts/channel_rmse.py

Top row: root-mean-square delay error of each method over its resolved runs (every delay within
half a resolution cell), in cells, beside the root of the mean Cramér-Rao bound; bottom row: the
share of runs that reach the lowest cost any method found on the instance. One column per unit
system and start width.
"""

import argparse
import json
from pathlib import Path

from _common import DOCS, STATIC

RESULTS = DOCS / "channel" / "results.json"
OUT = STATIC / "channel_rmse.png"


def main(results, out, P):
    from learnedmin.bench import channel_study

    if not results.is_file():
        raise SystemExit(f"{results} does not exist; run the study first:\n"
                         "    python -m learnedmin.bench channel --out docs/channel")
    data = json.loads(results.read_text(encoding="utf-8"))
    if not channel_study.plot_rmse(out, data["summary"], data["methods"], P=P):
        raise SystemExit(f"{results} has no setting with P = {P}")
    print(f"wrote {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"the study's JSON (default {RESULTS})")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the PNG to write (default {OUT})")
    parser.add_argument("--P", type=int, default=3, help="number of paths to plot (default 3)")
    args = parser.parse_args()
    main(args.results, args.out, args.P)
