"""The training subpackage: families, losses, config, unroll gradients, the CLI, resume, DDP."""

import json
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tqdm")

from scipy.optimize import minimize  # noqa: E402

from learnedmin import LearnedMinimizer  # noqa: E402
from learnedmin import weights as weights_io  # noqa: E402
from learnedmin.network import WeightingNet  # noqa: E402
from learnedmin.policy import CLASSICAL_WEIGHTS  # noqa: E402
from learnedmin.step import LEARNED, LEARNED_BACKTRACKED  # noqa: E402
from learnedmin.training import config as cfg  # noqa: E402
from learnedmin.training.__main__ import build_parser, main  # noqa: E402
from learnedmin.training.families import (  # noqa: E402
    Family, family_names, get_family, register_family, rescale,
)
from learnedmin.training.losses import progress, step_weights, unroll_loss  # noqa: E402
from learnedmin.training.train import train  # noqa: E402
from learnedmin.training.unroll import RUNNING, init_state, solver_options, step  # noqa: E402

# A training run of a few seconds: two tiny unrolls per episode, quadratics only.
TINY = [
    "problems.families=['quadratic', 'rosenbrock']", "problems.batch_size=3",
    "unroll.min_steps=3", "unroll.max_steps=5", "unroll.truncation=2",
    "validation.every=2", "validation.batch_size=2", "validation.steps=4",
    "checkpoint.every=1", "model.hidden=8", "optim.lr=1e-2",
]


def _tiny(episodes, extra=()):
    return cfg.resolve(None, TINY + [f"optim.episodes={episodes}", *extra])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------
# families


@pytest.mark.parametrize("name", family_names())
def test_family_gradient_matches_central_differences(name):
    problem = get_family(name).sample(torch.Generator().manual_seed(0), 3)
    problem = rescale(problem, torch.tensor([1.0, 7.0, 0.2]), torch.tensor([1.0, 0.5, 3.0]))
    gen = torch.Generator().manual_seed(1)
    x = problem.x0 + 0.1 * problem.x_scale[:, None] * torch.randn(
        problem.x0.shape, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        g = problem.gradient(x)
        for _ in range(3):
            v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
            h = 1e-6 * problem.x_scale[:, None]
            fd = (problem.value(x + h * v) - problem.value(x - h * v)) / (2 * h[:, 0])
            exact = (g * v).sum(-1)
            err = (fd - exact).abs()
            tol = 1e-6 * (exact.abs() + g.norm(dim=-1) * v.norm(dim=-1))
            assert bool((err <= tol).all()), (
                f"{name}: directional derivative {exact.tolist()} vs central differences "
                f"{fd.tolist()}"
            )


@pytest.mark.parametrize("name", family_names())
def test_family_ground_truth_is_a_minimum(name):
    problem = get_family(name).sample(torch.Generator().manual_seed(2), 4)
    with torch.no_grad():
        g_star = problem.gradient(problem.x_star).norm(dim=-1)
        g0 = problem.gradient(problem.x0).norm(dim=-1)
        gap0 = problem.value(problem.x0) - problem.f_star
    assert problem.x0.dtype == torch.float64
    assert bool((g_star <= 1e-8 * g0).all()), f"{name}: |grad f(x*)| = {g_star.tolist()}"
    assert bool((gap0 > 0).all()), f"{name}: f(x0) - f* = {gap0.tolist()}"
    if problem.x_star_known:
        assert torch.allclose(problem.value(problem.x_star), problem.f_star, rtol=1e-12,
                              atol=1e-12 * float(problem.f_star.abs().max() + 1))


def test_family_sampling_is_seeded():
    a = get_family("quadratic").sample(torch.Generator().manual_seed(3), 2)
    b = get_family("quadratic").sample(torch.Generator().manual_seed(3), 2)
    assert torch.equal(a.x0, b.x0) and all(torch.equal(u, v) for u, v in zip(a.data, b.data))


def test_least_squares_minimiser_does_not_depend_on_memory_alignment():
    # torch.linalg.lstsq's last bits change with the alignment of its input, which made
    # training runs differ between processes; the family's x* must be the same bits
    from learnedmin.training.families import _least_squares_solution

    g = torch.Generator().manual_seed(0)
    w = torch.randn(4, 70, 35, generator=g, dtype=torch.float64)
    y = torch.randn(4, 70, generator=g, dtype=torch.float64)
    results = set()
    for offset in range(8):
        buf = torch.zeros(w.numel() + 8, dtype=torch.float64)
        shifted = buf[offset:offset + w.numel()].view(w.shape)
        shifted.copy_(w)
        results.add(_least_squares_solution(shifted, y).numpy().tobytes())
    assert len(results) == 1
    x = _least_squares_solution(w, y)
    normal = (w.transpose(-1, -2) @ (w @ x[..., None] - y[..., None]))[..., 0]
    assert float(normal.abs().max()) < 1e-12


def test_register_a_family_of_ones_own():
    class Shifted(Family):
        name = "test_shifted_sphere"

        def value(self, data, x):
            return ((x - data[0]) ** 2).sum(-1)

        def sample(self, generator, batch):
            c = torch.randn(batch, 2, generator=generator, dtype=torch.float64)
            return self.problem((c,), c + 1.0, c, torch.zeros(batch, dtype=torch.float64))

    register_family(Shifted(), replace=True)
    problem = get_family("test_shifted_sphere").sample(torch.Generator().manual_seed(0), 2)
    # the default gradient is autograd's
    assert torch.allclose(problem.gradient(problem.x0), 2 * torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="already registered"):
        register_family(Shifted())
    with pytest.raises(ValueError, match="unknown problem family 'nope'; registered: .*quadratic"):
        get_family("nope")


# ---------------------------------------------------------------------------------------------
# losses and config


def test_losses_are_zero_at_the_start_and_scale_free():
    problem = get_family("least_squares").sample(torch.Generator().manual_seed(0), 3)
    f0 = problem.value(problem.x0)
    for kind in ("unsupervised", "supervised", "mixed"):
        assert torch.allclose(progress(problem, problem.x0, f0, kind, 1e-12),
                              torch.zeros(3, dtype=torch.float64), atol=1e-11)
    scaled = rescale(problem, 1e3, 1e-2)
    x = problem.x_star + 0.01
    a = progress(problem, x, problem.value(x), "unsupervised", 1e-12)
    b = progress(scaled, 1e-2 * x, scaled.value(1e-2 * x), "unsupervised", 1e-12)
    assert torch.allclose(a, b, rtol=1e-9)
    for weighting in ("uniform", "linear", "final"):
        assert abs(float(step_weights(7, weighting).sum()) - 1.0) < 1e-15
    with pytest.raises(ValueError, match="has no unique minimiser"):
        mlp = get_family("mlp_fit").sample(torch.Generator().manual_seed(0), 2)
        progress(mlp, mlp.x0, mlp.value(mlp.x0), "supervised", 1e-12)


def test_config_overrides_and_messages(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("seed = 5\n[optim]\nlr = 0.01\n[solver]\nmaxls = 12\n")
    config = cfg.resolve(str(path), ["optim.lr=2e-3", "problems.families=['quadratic']"],
                         {"seed": 7})
    assert config["seed"] == 7 and config["optim"]["lr"] == 2e-3
    assert config["solver"] == {"maxls": 12}
    assert config["problems"]["families"] == ["quadratic"]
    assert cfg.config_hash(config) == cfg.config_hash(json.loads(json.dumps(config)))
    with pytest.raises(ValueError, match="unknown config key 'optim.lrr'"):
        cfg.resolve(None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="'unroll.truncation' must be of type int; got 'ten'"):
        cfg.resolve(None, ["unroll.truncation=ten"])
    with pytest.raises(ValueError, match="'c1' must satisfy 0 < c1 < 1; got 1.5"):
        cfg.resolve(None, ["solver.c1=1.5"])
    with pytest.raises(ValueError, match="min_steps <= max_steps"):
        cfg.resolve(None, ["unroll.min_steps=9", "unroll.max_steps=3"])


def test_checked_in_default_config_resolves():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    config = cfg.resolve(os.path.join(root, "configs", "default.toml"))
    assert config["optim"]["episodes"] >= 1


def test_help_documents_every_config_key(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for key in cfg.SCHEMA:
        assert key in text, f"--help does not document {key!r}"
    for flag in ("--resume", "--set", "--device", "--out", "--run-dir", "--stop-after"):
        assert flag in text


# ---------------------------------------------------------------------------------------------
# unroll gradients


@pytest.mark.parametrize("through", [True, False])
def test_meta_gradient_is_finite_with_frozen_rows(through):
    # row 0 starts at its minimiser (frozen at once), the others run: no NaN may leak into the
    # network's gradient from the frozen row's degenerate computations
    problem = get_family("quadratic").sample(torch.Generator().manual_seed(0), 3)
    problem = problem._replace(x0=torch.cat([problem.x_star[:1], problem.x0[1:]]))
    net = _varying_net(0.3)
    opts = solver_options()
    state = init_state(net, problem, opts)
    values = []
    for _ in range(6):
        state, _ = step(net, problem, state, opts, through)
        values.append(state.f)
    stopped = state.status != RUNNING
    assert bool(stopped[0]) and not bool(stopped[1:].any())
    loss = unroll_loss(problem, [state.x] * 6, values, step_weights(6, "uniform"),
                       "unsupervised", 1e-12)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in net.parameters()])
    assert bool(torch.isfinite(grads).all())
    assert float(grads.abs().max()) > 0


def _varying_net(scale, seed=0):
    """A small network whose outputs vary with its input (seeded head weights)."""
    torch.manual_seed(seed)
    net = WeightingNet(hidden=8)
    with torch.no_grad():
        net.head.weight.normal_(0.0, scale)
    return net


def test_meta_gradient_matches_central_differences_between_decisions():
    # with every accept/backtrack/fallback decision unchanged, the loss is a smooth function of
    # the network's parameters (the accepted steps included): autograd must match differences
    problem = get_family("quadratic").sample(torch.Generator().manual_seed(0), 4)
    opts = solver_options()
    net = _varying_net(1.0, seed=4)  # a network whose proposals the safeguard overrides
    # six steps: the refined line searches solve these small quadratics to rounding level in
    # not many more, after which the loss is rounding noise and differences mean nothing
    steps = 6

    def loss_and_decisions():
        state = init_state(net, problem, opts)
        points, values, sources = [], [], []
        for _ in range(steps):
            state, info = step(net, problem, state, opts)
            points.append(state.x)
            values.append(state.f)
            sources.append(info.source.tolist())
        loss = unroll_loss(problem, points, values, step_weights(steps, "uniform"),
                           "unsupervised", 1e-12)
        return loss, sources

    loss, sources = loss_and_decisions()
    loss.backward()
    assert any(s == 2 for row in sources for s in row), "no fallback step: a weak test"
    gen = torch.Generator().manual_seed(1)
    for name in ("head.bias", "head.weight", "cell.weight_hh"):
        param = dict(net.named_parameters())[name]
        v = torch.randn(param.shape, generator=gen, dtype=torch.float64)
        exact = float((param.grad * v).sum())
        eps = 1e-6
        with torch.no_grad():
            param.add_(eps * v)
            plus, s_plus = loss_and_decisions()
            param.sub_(2 * eps * v)
            minus, s_minus = loss_and_decisions()
            param.add_(eps * v)
        assert s_plus == sources == s_minus, f"{name}: a decision changed; choose another eps"
        fd = float(plus - minus) / (2 * eps)
        assert abs(fd - exact) <= 1e-5 * max(abs(fd), 1.0), (
            f"{name}: autograd {exact}, central differences {fd}"
        )


def test_iterations_validation_counts_what_the_numpy_loop_counts():
    # the untrained network is the classical rule: its score is the mean log of the numpy
    # loop's iterations to the same gradient tolerance (instances that miss it count 2 * steps)
    from learnedmin.policy import FixedWeights
    from learnedmin.training.families import numpy_instance
    from learnedmin.training.train import _families, validate, validation_problems

    # a loose tolerance keeps the runs short: on ill-conditioned quadratics the refined line
    # searches act like conjugate gradients, whose iterates amplify rounding differences (numpy's
    # and torch's) several times over per iteration
    config = cfg.resolve(None, TINY + ["validation.metric='iterations'", "validation.steps=40",
                                       "validation.batches=2", "validation.batch_size=3",
                                       "validation.gtol_relative=1e-3"])
    problems = validation_problems(config, _families(config))
    assert len(problems) == 4  # two families, two batches each
    net = WeightingNet(hidden=8)
    score = validate(net, problems, config, solver_options(), "cpu")
    method = LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))
    expected = {}
    for name, problem in problems:
        for i in range(problem.batch):
            fun, jac, x0, _, _ = numpy_instance(problem, i)
            gtol = 1e-3 * np.max(np.abs(jac(x0)))
            res = minimize(fun, x0, jac=jac, method=method, options={"gtol": gtol, "maxiter": 40})
            expected.setdefault(name, []).append(np.log(max(res.nit, 1) if res.success else 80))
    # the torch validation and the numpy runs take the same steps up to rounding (one step, two
    # backends): allow one instance a family to end one iteration apart, never more
    for name, logs in expected.items():
        assert score["families"][name] == pytest.approx(np.mean(logs), abs=np.log(2) / len(logs)), \
            name
    with pytest.raises(ValueError, match="validation.metric"):
        cfg.resolve(None, ["validation.metric='evaluations'"])


def test_calls_validation_counts_what_minimize_counts(tmp_path):
    # the score is the mean log of the calls minimize reports with the same network exported
    # (instances that miss count 4 * steps)
    from learnedmin.training.families import numpy_instance
    from learnedmin.training.train import _families, validate, validation_problems

    config = cfg.resolve(None, TINY + ["validation.metric='calls'", "validation.steps=30",
                                       "validation.batch_size=3", "validation.gtol_relative=1e-6"])
    problems = validation_problems(config, _families(config))
    net = _varying_net(0.3)
    score = validate(net, problems, config, solver_options(), "cpu")
    weights_io.export(net, tmp_path / "net.pt", {"description": "test"})
    method = LearnedMinimizer(weights=tmp_path / "net.pt")
    expected, missed = {}, 0
    for name, problem in problems:
        for i in range(problem.batch):
            fun, jac, x0, _, _ = numpy_instance(problem, i)
            gtol = 1e-6 * np.max(np.abs(jac(x0)))
            res = minimize(fun, x0, jac=jac, method=method, options={"gtol": gtol, "maxiter": 30})
            missed += not res.success
            calls = res.nfev + res.njev if res.success else 120
            expected.setdefault(name, []).append(np.log(calls))
    assert missed < sum(len(v) for v in expected.values())  # some instances converge
    # the torch validation and the numpy runs take the same steps up to rounding (one step, two
    # backends): allow one instance a family to end one iteration apart, never more
    for name, logs in expected.items():
        assert score["families"][name] == pytest.approx(np.mean(logs), abs=np.log(2) / len(logs)), \
            name


def test_step_length_term_measures_how_far_the_search_moved_the_proposal():
    from learnedmin.training.train import step_length_term

    problem = get_family("quadratic").sample(torch.Generator().manual_seed(3), 4)
    opts = solver_options()
    net = _varying_net(0.3)
    state = init_state(net, problem, opts)
    terms, infos = [], []
    for _ in range(6):
        state, info = step(net, problem, state, opts)
        terms.append(step_length_term(info))
        infos.append(info)
    for term, info in zip(terms, infos):
        proposal = (info.source == LEARNED) | (info.source == LEARNED_BACKTRACKED)
        own = info.taken & proposal
        expected = torch.where(own, torch.log(info.alpha.detach()) ** 2, torch.zeros_like(term))
        assert torch.allclose(term.detach(), expected)
    total = torch.stack(terms).mean()
    assert float(total.detach()) > 0  # the line search refined some proposals
    total.backward()
    assert float(net.head.bias.grad.abs().sum()) > 0  # and the term reaches the network
    with pytest.raises(ValueError, match="loss.step_length"):
        cfg.resolve(None, ["loss.step_length=-1"])


# ---------------------------------------------------------------------------------------------
# training runs, archives, resume


def test_tiny_training_run_exports_an_archive_scipy_can_use(tmp_path):
    out = tmp_path / "net.pt"
    code = main(["train", "--run-dir", str(tmp_path / "run"), "--out", str(out),
                 "--no-progress", "--episodes", "2", "--seed", "3",
                 *sum((["--set", s] for s in TINY), [])])
    assert code == 0
    module, meta = weights_io.load(out)  # the same checks as every archive
    # trained unless no validation beat the untrained (classical) network it started from
    assert meta["trained"] is (meta["validation"]["episode"] > 0) and meta["seed"] == 3
    assert meta["config_sha256"] == cfg.config_hash(meta["config"])
    assert set(meta["validation"]) >= {"score", "classical_score", "episode"}
    assert meta["date"] and meta["description"]
    res = minimize(lambda x: float(((x - 1.0) ** 2).sum()), np.zeros(4),
                   jac=lambda x: 2.0 * (x - 1.0), method=LearnedMinimizer(weights=out))
    assert res.success and np.allclose(res.x, 1.0, atol=1e-4)


def test_export_untrained_reproduces_the_classical_weights(tmp_path):
    out = tmp_path / "untrained.pt"
    assert main(["export", "--untrained", "--out", str(out)]) == 0
    module, meta = weights_io.load(out)
    assert meta["trained"] is False
    with torch.no_grad():
        a, _ = module(torch.zeros(len(meta["feature_names"]), dtype=torch.float64),
                      torch.zeros(3, dtype=torch.float64),
                      torch.ones(3, dtype=torch.float64), torch.zeros(32, dtype=torch.float64))
    assert np.allclose(a.numpy(), [0.0, 0.0, 1.0], rtol=0, atol=4e-16)  # tanh(atanh(.5)) * 2


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight = train(_tiny(4), tmp_path / "a", show_progress=False, log=None)
    train(_tiny(4), tmp_path / "b", stop_after=2, show_progress=False, log=None)  # "killed"
    assert not (tmp_path / "b" / "weights.pt").exists()
    resumed = train(_tiny(4), tmp_path / "b", resume=True, show_progress=False, log=None)
    for (name, p), q in zip(straight.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(p, q), f"{name} differs after resume"
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.history == resumed.history


def test_resume_with_another_recipe_is_refused(tmp_path):
    train(_tiny(2), tmp_path, stop_after=1, show_progress=False, log=None)
    with pytest.raises(ValueError, match="written with another config"):
        train(_tiny(2, ["optim.lr=0.5"]), tmp_path, resume=True, show_progress=False, log=None)


def test_cli_errors_are_messages(tmp_path, capsys):
    assert main(["train", "--device", "cuda:0" if not torch.cuda.is_available() else "nope",
                 "--run-dir", str(tmp_path), "--no-progress", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "device" in err
    assert main(["train", "--resume", "--run-dir", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, run_dir, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    import torch.distributed as dist

    result = train(_tiny(2), run_dir, show_progress=False, log=None)
    queue.put((rank, [p.detach().numpy().copy() for p in result.net.parameters()]))
    dist.destroy_process_group()


def test_two_process_training_with_gloo_keeps_ranks_in_step(tmp_path):
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, str(tmp_path), queue))
             for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for a, b in zip(results[0], results[1]):
        assert np.array_equal(a, b), "the ranks' networks diverged: gradients were not averaged"
    assert (tmp_path / "weights.pt").exists()


# ---------------------------------------------------------------------------------------------
# evaluate


def test_least_squares_budget_counts_gradients_and_baselines_converge():
    from learnedmin import FixedWeights
    from learnedmin.training.evaluate import least_squares_budget

    out = least_squares_budget({"classical": LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS))},
                               instances=1, seed=0)
    assert out["gradient_calls"]["classical"] <= 32
    err = out["relative_error"]
    # kappa ~ 30: 32 Chebyshev steps reach (2 rho^32 / (1 + rho^64))^2 ~ 1e-9, CG does better
    assert 20 < out["kappa"] < 50
    assert err["cg"] < err["chebyshev"] < 1e-7, err
    assert err["classical"] < 1e-5, err


def test_chebyshev_steps_follow_the_formula():
    from learnedmin.training.evaluate import chebyshev_steps

    steps = chebyshev_steps(1.0, 9.0, 4)
    k = np.arange(4)
    expected = 1.0 / (5.0 + 4.0 * np.cos((2 * k + 1) * np.pi / 8))
    assert np.allclose(steps, expected, rtol=1e-15)


def test_headroom_measures_the_classical_rule(capsys, tmp_path):
    from learnedmin.bench.headroom import BANDS

    out = tmp_path / "headroom.json"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert main(["headroom", "--config", os.path.join(root, "configs", "default.toml"), "--quick",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "floor over all instances" in capsys.readouterr().out
    assert report["steps"] > 100
    for row in report["families"].values():
        # every iteration costs f and g at least: the floor is a fraction of the calls
        assert 0 < row["median_floor"] <= 1
        assert row["median_calls_per_iteration"] >= 2
        assert set(row["median_calls_by_band"]) == {"1.1", "1.3", "2", "4", "none"}
    for fraction in report["in_band"].values():
        assert 0 <= fraction <= 1
    assert len(report["gates"]) == len(BANDS)
    # the oracle picks the best setting, the default among them, for every instance
    assert report["oracle_gate"] <= min(1.0, *report["gates"].values())


def test_training_with_newton_cg_directions_says_so_in_the_archive(tmp_path):
    # what users run with hess/hessp is trainable: the unroll takes the Newton-CG slot, and the
    # archive lists it, so LearnedMinimizer uses the network when hess or hessp is given
    from learnedmin import LearnedMinimizer
    from learnedmin.weights import read_metadata

    config = _tiny(2, ["unroll.newton_cg=true", "validation.metric=calls"])
    out = tmp_path / "newton.pt"
    train(config, tmp_path / "run", out=out, show_progress=False)
    assert read_metadata(str(out))["second_order"] == ["newton_cg"]
    method = LearnedMinimizer(weights=str(out))
    assert method._policy_for(True, method.options)[0] is method.policy
