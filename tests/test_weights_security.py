"""Weights archives: a sidecar with wrongly typed fields is refused with the field named."""

import json

import pytest
import torch

from learnedmin import WeightsError
from learnedmin import weights as W
from learnedmin.network import WeightingNet


def _random_net(hidden=8, seed=0):
    """A network with random weights, as if trained."""
    torch.manual_seed(seed)
    net = WeightingNet(hidden=hidden)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_()
    return net


@pytest.fixture
def exported(tmp_path):
    """An archive :func:`export` wrote for a random network, and its sidecar metadata."""
    path = tmp_path / "net.pt"
    meta = W.export(_random_net(), path, {"description": "random"})
    return path, {k: v for k, v in meta.items() if k != "sha256"}


# ---------------------------------------------------------------------------------------------
# the sidecar: wrongly typed fields are named


@pytest.mark.parametrize(
    "change, match",
    [
        ({"sha256": 5}, "metadata field 'sha256' must be a string of 64 .*; got 5"),
        ({"sha256": "ab"}, "metadata field 'sha256' must be"),
        ({"network": [32]}, "metadata field 'network' must be an object"),
        ({"network": {"hidden": "32", "bounds": [2, 1, 2], "feature_clip": 10.0}},
         "metadata field 'network.hidden' must be a positive integer; got '32'"),
        ({"network": {"hidden": True, "bounds": [2, 1, 2], "feature_clip": 10.0}},
         "'network.hidden' must be a positive integer; got True"),
        ({"network": {"hidden": 8, "bounds": [2, 1], "feature_clip": 10.0}},
         "'network.bounds' must be a list of 3 finite positive numbers"),
        ({"network": {"hidden": 8, "bounds": [2, 1, 2], "feature_clip": None}},
         "'network.feature_clip' must be a finite positive number; got None"),
        ({"second_order": "newton_cg"}, "'second_order' must be a list of strings"),
        ({"format_version": True}, "format_version=True but this learnedmin needs 1"),
    ],
)
def test_wrongly_typed_metadata_field_is_named(exported, change, match):
    path, meta = exported
    side = path.with_suffix(".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), **change}))
    with pytest.raises(WeightsError, match=match):
        W.read_metadata(path)
    with pytest.raises(WeightsError, match=match):
        W.load(path)


def test_directory_given_as_archive(tmp_path):
    (tmp_path / "net.pt").mkdir()
    with pytest.raises(WeightsError, match=r"net\.pt is a directory, not a \.pt file"):
        W.read_metadata(tmp_path / "net.pt")
