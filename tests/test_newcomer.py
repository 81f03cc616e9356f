"""The demo's screen, the untrained network's exact classical weights, the quick retraining recipe."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from learnedmin import FixedWeights, LearnedMinimizer  # noqa: E402
from learnedmin.directions import N_SLOTS  # noqa: E402
from learnedmin.statistics import N_FEATURES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


# -- the untrained network is the classical rule, to the last bit -------------------------------

def test_untrained_network_outputs_exactly_the_classical_weights():
    from learnedmin.network import CLASSICAL_WEIGHTS, WeightingNet

    net = WeightingNet()
    g = torch.Generator().manual_seed(0)
    for batch in (1, 7, 256):
        stats = 10.0 * torch.randn(batch, N_FEATURES, dtype=torch.float64, generator=g)
        prev = torch.randn(batch, N_SLOTS, dtype=torch.float64, generator=g)
        h = torch.randn(batch, net.hidden_size, dtype=torch.float64, generator=g)
        valid = torch.ones(batch, N_SLOTS, dtype=torch.float64)
        with torch.no_grad():
            a, _ = net(stats, prev, valid, h)
        want = torch.tensor(CLASSICAL_WEIGHTS, dtype=torch.float64).expand_as(a)
        assert torch.equal(a, want), (
            f"batch {batch}: max |a - {CLASSICAL_WEIGHTS}| per slot = "
            f"{(a - want).abs().amax(dim=0).tolist()}")


@pytest.mark.parametrize("weight, bound", [(0.5, 1.0), (1.0, 2.0), (-0.3, 1.0), (0.7, 2.0)])
def test_untrained_network_outputs_other_init_weights_exactly(weight, bound):
    from learnedmin.network import WeightingNet

    net = WeightingNet(hidden=4, bounds=(bound, 1.0, 2.0), init_weights=(weight, 0.0, 1.0))
    h = torch.zeros(3, 4, dtype=torch.float64)
    with torch.no_grad():
        a, _ = net(torch.ones(3, N_FEATURES, dtype=torch.float64),
                   torch.zeros(3, N_SLOTS, dtype=torch.float64),
                   torch.ones(3, N_SLOTS, dtype=torch.float64), h)
    assert a[:, 0].tolist() == [weight] * 3, f"bound {bound} * tanh(bias) = {a[0, 0].item()!r}"


def test_exported_untrained_network_runs_like_the_fixed_weights_ablation(tmp_path):
    """Regression: the untrained head gave 1 - 2**-53 for the second-order slot, and the refined
    line search turned that last bit into another run (43 against 46 iterations here)."""
    from scipy.optimize import minimize

    from learnedmin import weights
    from learnedmin.network import WeightingNet
    from learnedmin.problems.classic import extended_rosenbrock

    path = tmp_path / "untrained.pt"
    torch.manual_seed(0)
    weights.export(WeightingNet(), path)
    problem = extended_rosenbrock(100)
    runs = {}
    for name, method in (("untrained", LearnedMinimizer(weights=path)),
                         ("fixed", LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0))))):
        runs[name] = minimize(problem.fun, np.array(problem.x0), jac=problem.jac, method=method,
                              options={"maxiter": 2000})
    u, f = runs["untrained"], runs["fixed"]
    assert (u.nit, u.nfev, u.njev) == (f.nit, f.nfev, f.njev), (
        f"untrained network: nit {u.nit}, nfev {u.nfev}, njev {u.njev}; "
        f"FixedWeights: nit {f.nit}, nfev {f.nfev}, njev {f.njev}")
    np.testing.assert_array_equal(u.x, f.x)


# -- the demo's screen reads without the docs ----------------------------------------------------

class _Stream:
    """A text stream that says whether it is a terminal."""

    def __init__(self, tty):
        self.tty, self.text = tty, ""

    def isatty(self):
        return self.tty

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def _fake_record(i):
    return {"method": "chebyshev", "problem": f"problem_{i}", "status": "n/a"}


def test_plain_progress_is_a_few_lines_that_do_not_name_runs():
    from learnedmin.bench.runner import ProgressReport

    stream = _Stream(tty=False)
    with ProgressReport(100, stream=stream, label="100 runs (10 problems x 10 methods)") as report:
        for done in range(1, 101):
            report(done, 100, _fake_record(done))
    lines = stream.text.splitlines()
    assert 2 <= len(lines) <= 5, lines
    assert lines[0].startswith("benchmark: 100 runs (10 problems x 10 methods)")
    assert lines[-1].startswith("benchmark: 100 of 100 runs done (100 %")
    assert "n/a" not in stream.text and "problem_" not in stream.text


def test_progress_on_a_terminal_is_a_tqdm_bar_that_is_cleared():
    pytest.importorskip("tqdm")
    from learnedmin.bench.runner import ProgressReport

    stream = _Stream(tty=True)
    with ProgressReport(20, stream=stream) as report:
        assert report.bar is not None
        for done in range(1, 21):
            report(done, 20, _fake_record(done))
        assert report.bar.n == 20
    assert report.bar is None and stream.text.startswith("\rbenchmark:")
    assert "n/a" not in stream.text and "problem_" not in stream.text


def test_demo_screen_explains_every_column_and_method(capsys):
    from learnedmin.bench.__main__ import main
    from learnedmin.bench.report import SCREEN_COLUMNS

    methods = ["learned", "fixed-weights", "L-BFGS-B", "BFGS", "heavy-ball"]
    assert main(["--suite", "quick", "--methods", ",".join(methods), "--quiet",
                 "--no-plots"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) <= 40, f"{len(lines)} lines:\n{out}"
    header = next(line for line in lines if line.startswith("method "))
    for column in ("solved", "ran", "median calls", "vs L-BFGS-B", "ρ(1)", "ρ(4)", "flagged"):
        assert column in header
    legend = lines[lines.index("columns:"):]
    for name, _ in SCREEN_COLUMNS:
        name = name.format(reference="L-BFGS-B")
        assert any(line.startswith(f"  {name} ") for line in legend), f"no legend for {name!r}"
    assert "nfev + njev + nhev" in out
    for m in methods:
        assert any(line.startswith("  ") and m in line.split("  ")[1] for line in legend
                   if len(line.split("  ")) > 1), f"no legend for method {m!r}"
    assert "FixedWeights((0, 0, 1))" in out
    rows = {line.split()[0]: line.split() for line in lines[lines.index(header) + 1:]
            if line.split() and line.split()[0] in methods}
    assert set(rows) == set(methods)
    assert rows["L-BFGS-B"][1] == "10/10"
    assert float(rows["L-BFGS-B"][3]) > 0  # median calls to solve


# -- the one-minute retraining recipe ------------------------------------------------------------

@pytest.mark.slow
def test_quick_retrain_script_beats_the_untrained_network(tmp_path):
    script = ROOT / "docs" / "scripts" / "quick_retrain.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()
            if line.split() and line.split()[0] in ("untrained", "trained")}
    untrained, trained = float(rows["untrained"][1]), float(rows["trained"][1])
    assert trained < untrained, f"median error: trained {trained:g}, untrained {untrained:g}"
    assert (tmp_path / "quick.pt").is_file() and (tmp_path / "quick.json").is_file()
