"""Weights archives: every way a file can be wrong is refused with a message saying what to do."""

import json
import os
import shutil
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize, rosen, rosen_der

from learnedmin import LearnedMinimizer, WeightsError
from learnedmin import weights as W
from learnedmin.policy import CLASSICAL_WEIGHTS


@pytest.fixture
def archive(tmp_path):
    """A copy of the bundled archive in a temporary folder."""
    src_pt, src_json, _ = W._paths("default")
    pt = tmp_path / "net.pt"
    shutil.copy(src_pt, pt)
    shutil.copy(src_json, tmp_path / "net.json")
    return pt


def test_bundled_archive_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module, meta = W.load("default")
    assert meta["format_version"] == W.FORMAT_VERSION


def test_path_archive_is_used_by_minimizer(archive):
    res = minimize(rosen, [-1.2, 1.0], jac=rosen_der, method=LearnedMinimizer(weights=archive))
    assert res.success


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        W.load(tmp_path / "nothing.pt")


def test_missing_sidecar(archive):
    archive.with_suffix(".json").unlink()
    with pytest.raises(WeightsError, match="metadata file .* is missing"):
        W.load(archive)


def test_truncated_file(archive):
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or was modified"):
        W.load(archive)


def test_tampered_file(archive):
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        W.load(archive)


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("feature_version", 999, "feature_version=999 but this learnedmin needs"),
        ("format_version", 0, "format_version=0"),
        ("slots", ["momentum", "gradient", "second_order"], "slots="),
    ],
)
def test_version_and_slot_mismatch(archive, key, value, match):
    side = archive.with_suffix(".json")
    meta = json.loads(side.read_text())
    meta[key] = value
    side.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match=match):
        W.load(archive)
    with pytest.raises(WeightsError, match="retrain or re-export"):
        minimize(rosen, [0.0, 0.0], method=LearnedMinimizer(weights=archive))


def test_sidecar_from_another_archive(archive, tmp_path):
    import torch

    from learnedmin.network import WeightingNet

    torch.manual_seed(0)
    other = tmp_path / "other.pt"
    W.export(WeightingNet(hidden=8), other, {"description": "other"})
    shutil.copy(other.with_suffix(".json"), archive.with_suffix(".json"))
    with pytest.raises(WeightsError, match="sha256"):
        W.load(archive)


def test_not_json(archive):
    archive.with_suffix(".json").write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        W.load(archive)


def test_export_roundtrip_and_embedded_metadata(tmp_path):
    import torch

    from learnedmin.network import WeightingNet

    torch.manual_seed(1)
    net = WeightingNet(hidden=8)
    meta = W.export(net, tmp_path / "a.pt", {"seed": 1, "description": "test"})
    module, loaded = W.load(tmp_path / "a.pt")
    assert loaded == meta and loaded["network"]["hidden"] == 8 and loaded["seed"] == 1
    stats = torch.randn(len(loaded["feature_names"]), dtype=torch.float64)
    args = (stats, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
            torch.zeros(8, dtype=torch.float64))
    with torch.no_grad():
        for eager, scripted in zip(net(*args), module(*args)):
            assert torch.equal(eager, scripted)
    assert sorted(os.listdir(tmp_path)) == ["a.json", "a.pt"]  # no temporary files left


def test_export_records_the_constants_the_archive_was_made_with(tmp_path):
    from learnedmin.directions import SLOTS
    from learnedmin.network import WeightingNet
    from learnedmin.statistics import FEATURE_NAMES, FEATURE_VERSION

    meta = W.export(WeightingNet(hidden=4), tmp_path / "a.pt")
    assert meta["slots"] == list(SLOTS) and meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["feature_version"] == FEATURE_VERSION
    assert meta["format_version"] == W.FORMAT_VERSION
    assert meta["classical_weights"] == list(CLASSICAL_WEIGHTS)


def test_failed_export_leaves_previous_archive_intact(tmp_path):
    import torch

    from learnedmin.network import WeightingNet

    path = tmp_path / "a.pt"
    W.export(WeightingNet(hidden=8), path)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        W.export(WeightingNet(hidden=8), path, {"bad": object()})  # not JSON-serialisable
    assert path.read_bytes() == before
    W.load(path)
    assert torch is not None


def test_export_requires_pt_suffix(tmp_path):
    from learnedmin.network import WeightingNet

    with pytest.raises(ValueError, match="must end in .pt"):
        W.export(WeightingNet(), tmp_path / "a.zip")


def test_untrained_network_reproduces_the_classical_rule(tmp_path):
    from learnedmin import FixedWeights
    from learnedmin.network import WeightingNet

    W.export(WeightingNet(), tmp_path / "untrained.pt")
    x0 = np.array([-1.2, 1.0])
    a = minimize(rosen, x0, jac=rosen_der,
                 method=LearnedMinimizer(weights=tmp_path / "untrained.pt"))
    b = minimize(rosen, x0, jac=rosen_der,
                 method=LearnedMinimizer(weights=FixedWeights(CLASSICAL_WEIGHTS)))
    np.testing.assert_allclose(a.step_weights, np.tile(CLASSICAL_WEIGHTS, (a.nit, 1)), atol=1e-12)
    assert a.nit == b.nit and a.nfev == b.nfev
    np.testing.assert_allclose(a.x, b.x, rtol=1e-8)


def test_bundled_default_is_the_classical_rule_to_the_last_bit():
    # the untrained archive outputs exactly (0, 0, 1): learned and the fixed-weights ablation
    # take the same steps, bit for bit
    import numpy as np
    from scipy.optimize import minimize

    from learnedmin import FixedWeights, LearnedMinimizer, learned
    from learnedmin.problems.classic import extended_rosenbrock

    p = extended_rosenbrock(20)
    a = minimize(p.fun, np.array(p.x0), jac=p.jac, method=learned)
    b = minimize(p.fun, np.array(p.x0), jac=p.jac,
                 method=LearnedMinimizer(weights=FixedWeights((0.0, 0.0, 1.0))))
    assert (a.nit, a.nfev, a.njev) == (b.nit, b.nfev, b.njev)
    assert np.array_equal(a.x, b.x)
