"""``learnedmin-train``: installation on Python 3.10, where runs keep their checkpoints, Ctrl-C,
and progress output of the long commands."""

import configparser
import importlib.util
import os
import shlex
import sys
import types

import pytest
torch = pytest.importorskip("torch")
pytest.importorskip("tqdm")

from learnedmin.training import config as cfg  # noqa: E402
from learnedmin.training.__main__ import main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A training run of a second or two: tiny unrolls, two families, a checkpoint after every unroll.
TINY = [
    "problems.families=['quadratic', 'rosenbrock']", "problems.batch_size=3",
    "unroll.min_steps=3", "unroll.max_steps=5", "unroll.truncation=2",
    "validation.every=2", "validation.batch_size=2", "validation.steps=4",
    "checkpoint.every=1", "model.hidden=8", "optim.lr=1e-2",
]
TINY_ARGS = [arg for s in TINY for arg in ("--set", s)] + ["--no-progress"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------
# Python 3.10: tomllib or its backport


def test_config_reads_toml_with_the_tomli_backport_where_tomllib_is_missing(monkeypatch, tmp_path):
    reader = cfg.tomllib  # whichever this Python has; the stand-in below forwards to it
    backport = types.ModuleType("tomli")
    backport.load, backport.loads = reader.load, reader.loads
    backport.TOMLDecodeError = reader.TOMLDecodeError
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10: the import fails
    monkeypatch.setitem(sys.modules, "tomli", backport)
    # a second copy of the module, inside the package (its relative imports resolve)
    spec = importlib.util.spec_from_file_location("learnedmin.training._config_py310",
                                                  cfg.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.tomllib is backport
    path = tmp_path / "c.toml"
    path.write_text("seed = 5\n[optim]\nlr = 0.01\n")
    config = module.resolve(str(path), ["unroll.truncation=4", "description=plain words"])
    assert (config["seed"], config["optim"]["lr"], config["unroll"]["truncation"]) == (5, 0.01, 4)
    assert config["description"] == "plain words"


@pytest.mark.parametrize("extra", ["train", "test", "docs"])
def test_extras_that_import_the_training_config_install_tomli_before_python_3_11(extra):
    Requirement = pytest.importorskip("packaging.requirements").Requirement
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    assert parser["options"]["python_requires"].strip() == ">=3.10"
    lines = parser["options.extras_require"][extra].strip().splitlines()
    tomli = [r for r in map(Requirement, lines) if r.name == "tomli"]
    assert len(tomli) == 1, f"extra {extra!r} does not install tomli: {lines}"
    marker = tomli[0].marker
    assert marker is not None and marker.evaluate({"python_version": "3.10"})
    assert not marker.evaluate({"python_version": "3.11"})


# ---------------------------------------------------------------------------------------------
# one run, one checkpoint directory


def _train_args(*extra, episodes=2):
    return ["train", "--episodes", str(episodes), *TINY_ARGS, *extra]


def _checkpoint(path):
    return torch.load(path, weights_only=False)


def test_checkpoints_go_beside_the_output_named_after_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(_train_args("--out", "runs/mynet.pt")) == 0
    assert (tmp_path / "runs" / "mynet.pt").is_file()
    assert _checkpoint(tmp_path / "runs" / "mynet.run" / "checkpoint.pt")["episode"] == 2
    assert not (tmp_path / "runs" / "default").exists()


def test_a_second_run_with_another_out_leaves_the_first_runs_checkpoint_alone(tmp_path,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(_train_args("--out", "runs/mynet.pt", "--stop-after", "1")) == 0
    first = tmp_path / "runs" / "mynet.run" / "checkpoint.pt"
    before = first.read_bytes()
    assert main(_train_args("--out", "runs/other.pt", "--set", "optim.lr=0.5")) == 0
    assert first.read_bytes() == before
    assert _checkpoint(tmp_path / "runs" / "other.run" / "checkpoint.pt")["config"]["optim"][
        "lr"] == 0.5
    # the documented resume of the first run finds its own checkpoint
    assert main(_train_args("--out", "runs/mynet.pt", "--resume")) == 0
    assert _checkpoint(first)["episode"] == 2 and (tmp_path / "runs" / "mynet.pt").is_file()


def test_run_dir_overrides_the_directory_derived_from_out(tmp_path):
    out, run_dir = tmp_path / "net.pt", tmp_path / "elsewhere"
    assert main(_train_args("--out", str(out), "--run-dir", str(run_dir))) == 0
    assert (run_dir / "checkpoint.pt").is_file() and not (tmp_path / "net.run").exists()


def test_run_dir_for_never_names_the_archive_itself():
    from learnedmin.training.checkpoint import run_dir_for

    assert run_dir_for("runs/mynet.pt").as_posix() == "runs/mynet.run"
    assert run_dir_for("runs/mynet").as_posix() == "runs/mynet.run"
    assert run_dir_for("runs/mynet.run").as_posix() == "runs/mynet.run.run"


def test_a_fresh_run_refuses_a_directory_holding_another_configs_checkpoint(tmp_path, capsys):
    run = ["--run-dir", str(tmp_path)]
    assert main(_train_args(*run, "--stop-after", "1")) == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(_train_args(*run, "--set", "optim.lr=0.5")) == 2
    err = capsys.readouterr().err
    assert "written with another config" in err and "--overwrite" in err and "--resume" in err
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert main(_train_args(*run, "--set", "optim.lr=0.5", "--overwrite")) == 0
    assert _checkpoint(tmp_path / "checkpoint.pt")["config"]["optim"]["lr"] == 0.5


def test_a_fresh_run_of_the_same_config_needs_resume_or_overwrite(tmp_path, capsys):
    from learnedmin.training.train import train

    run = ["--run-dir", str(tmp_path)]
    assert main(_train_args(*run, "--stop-after", "1")) == 0
    capsys.readouterr()
    assert main(_train_args(*run)) == 2
    err = capsys.readouterr().err
    assert "checkpoint of this config after 1 unrolls" in err
    assert "--resume" in err and "--overwrite" in err
    config = cfg.resolve(None, TINY + ["optim.episodes=2"])
    with pytest.raises(FileExistsError, match="continue that run with --resume"):
        train(config, tmp_path, show_progress=False, log=None)
    with pytest.raises(ValueError, match="'resume' and 'overwrite' exclude each other"):
        train(config, tmp_path, resume=True, overwrite=True, show_progress=False, log=None)
    with pytest.raises(SystemExit):
        main(_train_args(*run, "--resume", "--overwrite"))
    assert main(_train_args(*run, "--overwrite")) == 0
    assert _checkpoint(tmp_path / "checkpoint.pt")["episode"] == 2


# ---------------------------------------------------------------------------------------------
# Ctrl-C


def _interrupt_unroll(monkeypatch, number):
    """Make the ``number``-th unroll of a run raise ``KeyboardInterrupt`` (a Ctrl-C)."""
    from learnedmin.training import train as train_module

    real, calls = train_module._run_episode, []

    def run_episode(*args):
        calls.append(None)
        if len(calls) == number:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "_run_episode", run_episode)
    return lambda: monkeypatch.setattr(train_module, "_run_episode", real)


def test_ctrl_c_names_the_last_checkpoint_and_the_command_that_resumes(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)
    restore = _interrupt_unroll(monkeypatch, 3)
    argv = _train_args("--out", "runs/mynet.pt", episodes=4)
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [text for text in err.splitlines() if "interrupted" in text]
    checkpoint = os.path.join("runs", "mynet.run", "checkpoint.pt")
    assert f"last checkpoint {checkpoint} (after 2 unrolls)" in line
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command == ["learnedmin-train", *argv, "--resume"]
    restore()
    assert main(command[1:]) == 0
    assert _checkpoint(checkpoint)["episode"] == 4 and os.path.isfile("runs/mynet.pt")


def test_ctrl_c_before_the_first_checkpoint_says_there_is_nothing_to_resume(tmp_path,
                                                                            monkeypatch, capsys):
    from learnedmin.training.checkpoint import Interrupted
    from learnedmin.training.train import train

    _interrupt_unroll(monkeypatch, 1)
    assert main(_train_args("--run-dir", str(tmp_path))) == 130
    assert "interrupted before the first checkpoint; nothing to resume" in capsys.readouterr().err
    config = cfg.resolve(None, TINY + ["optim.episodes=2"])
    _interrupt_unroll(monkeypatch, 1)
    with pytest.raises(Interrupted) as info:  # still a KeyboardInterrupt for library callers
        train(config, tmp_path / "lib", show_progress=False, log=None)
    assert isinstance(info.value, KeyboardInterrupt) and info.value.checkpoint is None


def test_training_logs_through_logging_and_prints_nothing(tmp_path, capsys, caplog):
    from learnedmin.training.train import train

    config = cfg.resolve(None, TINY + ["optim.episodes=2"])
    with caplog.at_level("INFO", logger="learnedmin.training.train"):
        train(config, tmp_path, show_progress=False)
    assert "classical rule (untrained network) validation score" in caplog.text
    assert capsys.readouterr() == ("", "")


# ---------------------------------------------------------------------------------------------
# progress of evaluate and headroom

QUICK_EVALUATE = ["--quick", "--set", "evaluate.families=['quadratic']"]


def _progress_lines(err, command):
    return [line for line in err.splitlines() if line.startswith(f"{command}: ")]


@pytest.mark.parametrize("command", ["evaluate", "headroom"])
def test_long_commands_log_their_progress_when_stderr_is_not_a_terminal(command, capsys):
    extra = ["--weights", "default"] if command == "evaluate" else []
    assert main([command, *extra, *QUICK_EVALUATE]) == 0
    out, err = capsys.readouterr()
    lines = _progress_lines(err, command)
    assert 2 <= len(lines) <= 11, err  # about one line per tenth of the runs, not one per run
    done, total = lines[-1].split()[1].split("/")
    assert done == total and int(total) > 10, lines[-1]
    assert not _progress_lines(out, command), "progress went to stdout"
    assert "\r" not in err


def test_headroom_draws_a_bar_on_a_terminal_and_nothing_with_no_progress(monkeypatch, capsys):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["headroom", *QUICK_EVALUATE]) == 0
    err = capsys.readouterr().err
    assert "\r" in err and "run/s" in err and "classical rule and bands" in err  # tqdm's bar
    assert not _progress_lines(err, "headroom")
    assert main(["headroom", *QUICK_EVALUATE, "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_callbacks_count_every_run_once():
    from learnedmin.bench.headroom import headroom

    config = cfg.resolve(None, ["evaluate.families=['quadratic']"])
    calls = []
    headroom(config, quick=True, progress=lambda *args: calls.append(args))
    total = calls[0][1]
    assert [done for done, *_ in calls] == list(range(1, total + 1))
    assert {t for _, t, _ in calls} == {total}
