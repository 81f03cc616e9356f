"""``learnedmin-train`` / ``python -m learnedmin.training``: train, evaluate and export networks.

Examples
--------
The bundled network (``learnedmin/weights/default.pt``) is made by::

    python -m learnedmin.training train --config configs/default.toml \\
        --out learnedmin/weights/default.pt

and measured by::

    python -m learnedmin.training evaluate --config configs/default.toml \\
        --weights learnedmin/weights/default.pt

How many of the classical rule's calls any learned step rule could save::

    python -m learnedmin.training headroom --config configs/default.toml

The untrained network (it reproduces the classical rule, L-BFGS behind the same safeguard)::

    python -m learnedmin.training export --untrained --out learnedmin/weights/default.pt

Several processes: ``torchrun --nproc-per-node 4 -m learnedmin.training train --config ...``.

A run keeps its checkpoint beside its output: ``--out runs/mynet.pt`` in ``runs/mynet.run/``
(without ``--out``, in ``runs/default/``), or in ``--run-dir``. A fresh run refuses a directory
that holds a checkpoint; ``--resume`` continues that run, ``--overwrite`` starts it again. Ctrl-C
stops a run with the command that resumes it (exit status 130).
"""

import argparse
import contextlib
import json
import os
import shlex
import sys

from . import config as cfg

DEFAULT_RUN_DIR = "runs/default"
INTERRUPTED = 130  # the shell's status for a process stopped by SIGINT (128 + 2)


def _common(parser):
    parser.add_argument("--config", metavar="TOML", help="training config (default: built-in "
                        "defaults, see the key list below)")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override one config key (TOML value syntax), e.g. --set "
                             "optim.lr=3e-4; may be repeated")
    parser.add_argument("--seed", type=int, help="shortcut for --set seed=N")
    parser.add_argument("--device", help="shortcut for --set device=NAME (cpu, cuda, cuda:1)")


def build_parser():
    """The argument parser (``--help`` documents every option and config key)."""
    epilog = cfg.help_text()
    parser = argparse.ArgumentParser(
        prog="learnedmin-train",
        description="Train, evaluate and export weighting networks for learnedmin.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a network and export the best one",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    _common(p)
    p.add_argument("--episodes", type=int, help="shortcut for --set optim.episodes=N")
    p.add_argument("--run-dir",
                   help="directory of the checkpoint (default: beside --out, named after it: "
                        f"runs/mynet.pt -> runs/mynet.run; without --out {DEFAULT_RUN_DIR})")
    p.add_argument("--out", help="archive to write at the end (default RUN_DIR/weights.pt)")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="continue from RUN_DIR/checkpoint.pt (same config; episodes may "
                            "grow)")
    again.add_argument("--overwrite", action="store_true",
                       help="start afresh even if RUN_DIR holds a checkpoint (it is deleted)")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N unrolls with a checkpoint, as if interrupted")
    p.add_argument("--no-progress", action="store_true", help="plain log lines, no tqdm bar")

    p = sub.add_parser("evaluate", help="measure an archive through scipy.optimize.minimize",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    _common(p)
    p.add_argument("--weights", required=True, help="archive (.pt) or bundled name ('default')")
    p.add_argument("--quick", action="store_true",
                   help="a few instances only (a smoke test, not a measurement)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or log lines")

    p = sub.add_parser("headroom", help="measure how many of the classical rule's calls a "
                                        "learned step rule could save",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    _common(p)
    p.add_argument("--quick", action="store_true",
                   help="a few instances only (a smoke test, not a measurement)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or log lines")

    p = sub.add_parser("export", help="write an archive: the untrained network, or the best "
                                      "network of a checkpoint")
    _common(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--untrained", action="store_true",
                     help="the untrained network (reproduces the classical rule)")
    src.add_argument("--checkpoint", help="a training checkpoint (its best network)")
    p.add_argument("--which", choices=("best", "last"), default="best",
                   help="with --checkpoint: the best network by validation score (default) or "
                        "the last one trained")
    p.add_argument("--out", required=True, help="archive path (.pt; the .json goes beside it)")
    p.add_argument("--description", help="metadata description")
    return parser


def _config(args, extra=None):
    overrides = {"seed": args.seed, "device": args.device, **(extra or {})}
    return cfg.resolve(args.config, args.assignments, overrides)


def _note(text):
    """A progress or log line: on stderr, so that stdout holds only the results."""
    print(text, file=sys.stderr, flush=True)


def _bar(args):
    """Whether to draw a tqdm bar: on a terminal, unless ``--no-progress``."""
    return not args.no_progress and sys.stderr.isatty()


@contextlib.contextmanager
def _progress(args, unit):
    """A ``progress(done, total, label)`` callback shown as training's progress bar, or, when
    stderr is not a terminal, as a log line every tenth of the work."""
    from .train import _Progress

    shown = []

    def progress(done, total, label):
        if not shown:
            log = None if args.no_progress else (lambda text: _note(f"{args.command}: {text}"))
            shown.append(_Progress(total, 0, _bar(args), log, unit=unit,
                                   log_every=max(1, total // 10)))
        shown[0].update(label=label)

    try:
        yield progress
    finally:
        if shown:
            shown[0].close()


def _run_dir(args):
    if args.run_dir is not None:
        return args.run_dir
    if args.out is not None:
        from .checkpoint import run_dir_for

        return str(run_dir_for(args.out))
    return DEFAULT_RUN_DIR


def _program():
    """How this process was started: the words before the arguments of its command line."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        nproc = os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])
        return ["torchrun", "--nproc-per-node", nproc, "-m", "learnedmin.training"]
    if os.path.abspath(sys.argv[0]) == os.path.abspath(__file__):
        return ["python", "-m", "learnedmin.training"]
    return ["learnedmin-train"]


def _resume_command(command):
    """The command line that continues an interrupted ``train``: ``command`` with
    ``--resume``."""
    command = [a for a in command if a != "--overwrite"]  # the run to resume is the new one
    return shlex.join(command + ([] if "--resume" in command else ["--resume"]))


def _interrupted(checkpoint, episode, command):
    """The one line that says where an interrupted run stands and how to continue it."""
    if checkpoint is None:
        return "learnedmin-train train: interrupted before the first checkpoint; nothing to resume"
    return (f"learnedmin-train train: interrupted; last checkpoint {checkpoint} (after {episode} "
            f"unrolls); resume with: {_resume_command(command)}")


def _train(args, command):
    from .train import train

    config = _config(args, {"optim.episodes": args.episodes})
    try:
        result = train(config, _run_dir(args), out=args.out, resume=args.resume,
                       overwrite=args.overwrite, stop_after=args.stop_after,
                       show_progress=_bar(args), log=_note)
    except KeyboardInterrupt as exc:  # train raises checkpoint.Interrupted, which says where
        if int(os.environ.get("RANK", "0")) == 0:  # one line, not one per process
            _note(_interrupted(getattr(exc, "checkpoint", None), getattr(exc, "episode", None),
                               command))
        return INTERRUPTED
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun the summary is rank 0's alone
    print(f"unrolls: {result.episodes}, wall time {result.seconds:.1f} s, best validation "
          f"score {result.best_score:.4f} (classical {result.classical_score:.4f})")
    if result.archive is not None:
        print(f"wrote {result.archive}")
    return 0


def _show(args, text, report):
    """Print a report and, with ``--json``, write it; the exit status."""
    print(text)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
    return 0


def _evaluate(args, command):
    from .evaluate import evaluate, format_report

    config = _config(args)
    with _progress(args, "run") as progress:
        report = evaluate(args.weights, config, quick=args.quick, progress=progress)
    return _show(args, format_report(report), report)


def _headroom(args, command):
    from ..bench.headroom import format_headroom, headroom

    config = _config(args)
    with _progress(args, "run") as progress:
        report = headroom(config, quick=args.quick, progress=progress)
    return _show(args, format_headroom(report), report)


def _export(args, command):
    import torch

    from .. import weights as weights_io
    from ..network import WeightingNet
    from .train import export_network

    if args.untrained:
        config = _config(args)
        net = WeightingNet(hidden=config["model"]["hidden"])
        description = args.description or "untrained: reproduces L-BFGS"
        meta = weights_io.export(net, args.out, {"description": description, "trained": False})
    else:
        from . import checkpoint as ckpt

        state = ckpt.load(args.checkpoint)
        config = state["config"]
        net = WeightingNet(hidden=config["model"]["hidden"])
        if args.which == "best":
            net.load_state_dict(state["best"])
            validation = {"score": state["best_score"], "episode": state["best_episode"],
                          "classical_score": state["classical"]["score"]}
        else:
            net.load_state_dict(state["model"])
            last = state["history"][-1] if state["history"] else {}
            validation = {"score": last.get("score"), "episode": state["episode"],
                          "classical_score": state["classical"]["score"]}
        if args.description:
            config = {**config, "description": args.description}
        with torch.no_grad():
            meta = export_network(net, args.out, config, validation)
    print(f"wrote {args.out} (sha256 {meta['sha256'][:12]}...)")
    return 0


def main(argv=None):
    """Entry point of ``learnedmin-train``; returns the exit status."""
    # the command line as typed, for the message that says how to resume a run
    command = _program() + sys.argv[1:] if argv is None else ["learnedmin-train", *argv]
    args = build_parser().parse_args(argv)
    try:
        return {"train": _train, "evaluate": _evaluate, "headroom": _headroom,
                "export": _export}[args.command](args, command)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"learnedmin-train {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"learnedmin-train {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
