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
