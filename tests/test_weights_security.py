"""Loading an archive runs no code but learnedmin's own unless the caller trusts the archive.

The hostile archives here are written, never loaded unchecked: each test asserts that
``load`` refuses the archive, and that the file its code would overwrite is unchanged.
"""

import hashlib
import io
import json
import shutil
import warnings
import zipfile
from typing import Tuple

import pytest
import torch

from learnedmin import WeightsError
from learnedmin import weights as W
from learnedmin.network import WeightingNet, symlog
from learnedmin.statistics import N_FEATURES

PRECIOUS = b"precious-user-data"


def _script(module):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", W._JIT_DEPRECATION, DeprecationWarning)
        return torch.jit.script(module)


def _save(scripted, extra):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", W._JIT_DEPRECATION, DeprecationWarning)
        torch.jit.save(scripted, buf, _extra_files=extra)
    return buf.getvalue()


def _members(path):
    """``[(name, bytes)]`` of a zip archive, in order."""
    with zipfile.ZipFile(path) as zf:
        return [(info.filename, zf.read(info)) for info in zf.infolist()]


def _publish(path, data, meta):
    """Write ``data`` as ``path`` with a sidecar that vouches for it (sha256 and all), as anyone
    can: the hash beside an archive proves nothing about its author."""
    path.write_bytes(data)
    sidecar = {**meta, "sha256": hashlib.sha256(data).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(sidecar))


def _republish(path, members, meta):
    """Rewrite the archive ``path`` from ``members`` and vouch for it."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, body in members:
                zf.writestr(name, body)
    _publish(path, buf.getvalue(), meta)


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


@pytest.fixture
def precious(tmp_path):
    """A user file that hostile code would overwrite."""
    target = tmp_path / "precious.txt"
    target.write_bytes(PRECIOUS)
    return target


class Planted(torch.nn.Module):
    """Not a weighting network: its ``__setstate__`` (run by ``torch.jit.load``) maps a file
    shared and overwrites its first 8 bytes."""

    def __init__(self, target: str):
        super().__init__()
        self.target = target
        self.written = 0

    def forward(self, stats: torch.Tensor, prev: torch.Tensor, valid: torch.Tensor,
                h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return prev, h

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return (self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.target = state[0]
        self.training = state[1]
        mapped = torch.from_file(self.target, True, 8, dtype=torch.uint8)
        mapped.fill_(88)
        self.written = int(mapped.sum())  # used, so the write is not eliminated


class Halved(WeightingNet):
    """Another architecture: the weighting network with its output halved."""

    def forward(self, stats: torch.Tensor, prev: torch.Tensor, valid: torch.Tensor,
                h: torch.Tensor):
        z = torch.clamp(symlog(stats), -self.feature_clip, self.feature_clip)
        h_new = self.cell(torch.cat([z, prev], dim=-1), h)
        a = 0.5 * self.bounds * torch.tanh(self.head(h_new)) * valid
        return a, h_new


def _inputs(hidden, n_features=N_FEATURES):
    stats = torch.linspace(-3.0, 5.0, n_features, dtype=torch.float64)
    return (stats, torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64),
            torch.zeros(hidden, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------
# what loads


@pytest.mark.parametrize("name", W.BUNDLED)
def test_bundled_archives_match_their_pinned_sha256(name):
    pt, _, _ = W._paths(name)
    digest = hashlib.sha256(pt.read_bytes()).hexdigest()
    assert digest == W._PINNED_SHA256[name], (
        f"{pt.name} has sha256 {digest}, but learnedmin/weights/__init__.py pins "
        f"{W._PINNED_SHA256[name]}: regenerating bundled weights requires updating "
        f"_PINNED_SHA256[{name!r}] there"
    )


@pytest.mark.parametrize("name", W.BUNDLED)
def test_bundled_archives_load(name):
    module, meta = W.load(name)
    assert meta["sha256"] == W._PINNED_SHA256[name]


def test_bundled_archive_that_does_not_match_its_pin_is_refused(monkeypatch):
    monkeypatch.setitem(W._PINNED_SHA256, "default", "0" * 64)
    with pytest.raises(WeightsError, match="bundled weights archive 'default'.*Reinstall"):
        W.load("default")


def test_exported_archive_loads_without_trust_and_keeps_its_weights(tmp_path):
    net = _random_net(hidden=8, seed=3)
    W.export(net, tmp_path / "a.pt")
    module, meta = W.load(tmp_path / "a.pt")
    assert meta["network"]["hidden"] == 8
    loaded = module.state_dict()
    for name, tensor in net.state_dict().items():
        assert torch.equal(loaded[name], tensor), name
    with torch.no_grad():
        for eager, scripted in zip(net(*_inputs(8)), module(*_inputs(8))):
            assert torch.equal(eager, scripted)


def test_archive_exported_in_another_process_passes_the_check(tmp_path, monkeypatch):
    # The bundled archive was written by another process: its Final declarations are in another
    # (hash-seed) order and its debug files name another machine's paths. Unpinned, it must
    # still pass as this network's code.
    monkeypatch.setattr(W, "_PINNED_SHA256", {})
    for suffix in (".pt", ".json"):
        shutil.copy(W._paths("default")[0].with_suffix(suffix), tmp_path / f"copy{suffix}")
    module, meta = W.load(tmp_path / "copy.pt")
    assert meta["network"]["hidden"] == 32


def test_archive_with_mangled_type_names_passes_the_check(tmp_path):
    # A process that has scripted another width first writes ___torch_mangle_N type names.
    W.export(_random_net(hidden=5), tmp_path / "first.pt")
    W.export(_random_net(hidden=6), tmp_path / "second.pt")
    names = [name for name, _ in _members(tmp_path / "second.pt")]
    assert any("___torch_mangle_" in name for name in names)
    module, _ = W.load(tmp_path / "second.pt")
    module, _ = W.load(tmp_path / "first.pt")


def test_trust_loads_another_architecture(tmp_path):
    torch.manual_seed(0)
    net = Halved(hidden=8)
    W.export(net, tmp_path / "halved.pt")
    with pytest.raises(WeightsError, match="does not hold learnedmin's network code.*trust=True"):
        W.load(tmp_path / "halved.pt")
    module, _ = W.load(tmp_path / "halved.pt", trust=True)
    with torch.no_grad():
        assert torch.equal(module(*_inputs(8))[0], net(*_inputs(8))[0])


def test_trust_must_be_a_bool(exported):
    with pytest.raises(TypeError, match="'trust' must be True or False; got 'yes'"):
        W.load(exported[0], trust="yes")


# ---------------------------------------------------------------------------------------------
# what is refused before anything in the archive runs


def test_archive_whose_load_would_overwrite_a_file_is_refused(tmp_path, exported, precious):
    _, meta = exported
    scripted = _script(Planted(str(precious)))
    path = tmp_path / "planted.pt"
    _publish(path, _save(scripted, {"metadata.json": json.dumps(meta)}), meta)
    with pytest.raises(WeightsError, match="does not hold learnedmin's network code") as info:
        W.load(path)
    message = str(info.value)
    assert ("TorchScript code differs in 'code/__torch__/learnedmin/network.py', "
            "'code/__torch__/test_weights_security.py'") in message
    assert "'data.pkl' (the module structure) differs" in message
    assert "missing members 'data/0'" in message
    assert precious.read_bytes() == PRECIOUS


def test_network_code_edited_to_overwrite_a_file_is_refused(tmp_path, exported, precious):
    path, meta = exported
    code = "code/__torch__/learnedmin/network.py"
    planted = (f"    mapped = torch.from_file({str(precious)!r}, True, 8, dtype=0)\n"
               "    _9 = torch.sum(torch.fill_(mapped, 88))\n"
               "    return (torch.add(a, _9, alpha=0), h_new)\n")  # used, so not eliminated
    # the file is code/__torch__/learnedmin/network[/___torch_mangle_N].py: find it by content
    members = [(name, body.replace(b"    return (a, h_new)\n", planted.encode())
                if name.endswith(".py") else body) for name, body in _members(path)]
    assert members != _members(path)
    _republish(path, members, meta)
    with pytest.raises(WeightsError, match=f"TorchScript code differs in '{code}'"):
        W.load(path)
    assert precious.read_bytes() == PRECIOUS


def test_duplicate_member_hiding_other_code_is_refused(tmp_path, exported):
    # zip readers disagree on which of two same-named members counts
    path, meta = exported
    members = _members(path)
    code = next(body for name, body in members if name.endswith("learnedmin/network.py"))
    members.append(("archive/code/__torch__/learnedmin/network.py", code + b"# other\n"))
    _republish(path, members, meta)
    with pytest.raises(WeightsError, match="members with the same name"):
        W.load(path)


def test_module_structure_that_differs_from_the_metadata_is_refused(exported):
    path, meta = exported
    clip = b"feature_clipq\rG@$\x00\x00\x00\x00\x00\x00"  # the pickled float 10.0
    members = [(name, body.replace(clip, b"feature_clipq\rG@\x14\x00\x00\x00\x00\x00\x00")
                if name.endswith("/data.pkl") else body) for name, body in _members(path)]
    _republish(path, members, meta)
    with pytest.raises(WeightsError, match=r"'data.pkl' \(the module structure\) differs"):
        W.load(path)


def test_tensor_data_of_another_size_is_refused(exported):
    path, meta = exported
    members = [(name, body + bytes(8) if name.endswith("/data/1") else body)
               for name, body in _members(path)]
    _republish(path, members, meta)
    with pytest.raises(WeightsError, match="tensor data 'data/1' has .* bytes, not"):
        W.load(path)


def test_extra_member_is_refused(exported):
    path, meta = exported
    _republish(path, [*_members(path), ("archive/extra/notes.txt", b"hello")], meta)
    with pytest.raises(WeightsError, match="unexpected members .extra/notes.txt."):
        W.load(path)


def test_archive_with_too_many_members_is_refused(exported):
    path, meta = exported
    junk = [(f"archive/junk/{i}", b"") for i in range(500)]
    _republish(path, [*_members(path), *junk], meta)
    with pytest.raises(WeightsError, match=r"has \d+ members; .* has at most \d+"):
        W.load(path)


def test_zip_bomb_is_refused_before_it_is_unpacked(exported):
    path, meta = exported
    bomb = ("archive/data/1", bytes(16 << 20))  # 16 MiB of zeros, deflated to ~16 KiB
    _republish(path, [bomb if name.endswith("/data/1") else (name, body)
                      for name, body in _members(path)], meta)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(WeightsError, match=r"unpacks to \d+ bytes; .* at most \d+"):
        W.load(path)


def test_oversized_file_is_refused_before_it_is_read(exported):
    path, meta = exported
    _publish(path, path.read_bytes() + bytes(4 << 20), meta)
    with pytest.raises(WeightsError, match="has more than the .* bytes an archive of its architecture"):
        W.load(path)


def test_not_a_zip_is_refused(exported):
    path, meta = exported
    _publish(path, b"not a zip archive at all", meta)
    with pytest.raises(WeightsError, match="not a readable zip archive"):
        W.load(path)


def test_network_too_wide_to_check_needs_trust(exported):
    path, meta = exported
    _publish(path, path.read_bytes(), {**meta, "network": {**meta["network"], "hidden": 4096}})
    with pytest.raises(WeightsError, match="network.hidden=4096 is wider than .* trust=True"):
        W.load(path)


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


def test_the_minimizer_passes_trust_through(monkeypatch):
    import learnedmin.weights as weights_io
    from learnedmin import LearnedMinimizer

    seen = []
    real = weights_io.load

    def spy(weights, trust=False):
        seen.append(trust)
        return real("default")

    monkeypatch.setattr(weights_io, "load", spy)
    LearnedMinimizer(weights="default").policy
    LearnedMinimizer(weights="default", trust_weights=True).policy
    assert seen == [False, True]
    assert "trust_weights=True" in repr(LearnedMinimizer(trust_weights=True))
    with pytest.raises(TypeError, match="'trust_weights' must be a bool"):
        LearnedMinimizer(trust_weights="yes")
