"""The documentation builds offline with warnings as errors, and its tables match the code.

The option and status tables of the usage page are generated from ``learnedmin._options`` and
``learnedmin._status`` by ``docs/_ext/learnedmin_docs.py``; these tests read them back from the
built HTML, so a page that lost its table, or a table that drifted from the code, fails here.
"""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")

from learnedmin import _options, _status  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _sphinx(builder, out, doctrees):
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
           "-d", str(doctrees), str(DOCS), str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return out


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    return _sphinx("html", tmp / "html", tmp / "doctrees")


class _Tables(HTMLParser):
    """Rows (lists of cell texts) of every ``<table>`` whose class list has ``cls``."""

    def __init__(self, cls):
        super().__init__()
        self.cls, self.tables, self._depth, self._row, self._cell = cls, [], 0, None, None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "table" and (self._depth or self.cls in classes):
            if not self._depth:
                self.tables.append([])
            self._depth += 1
        elif self._depth and tag == "tr":
            self._row = []
        elif self._depth and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table" and self._depth:
            self._depth -= 1
        elif self._depth and tag in ("td", "th") and self._cell is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif self._depth and tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _table(page, cls):
    parser = _Tables(cls)
    parser.feed(page.read_text(encoding="utf-8"))
    assert len(parser.tables) == 1, f"{page.name}: expected one table of class {cls!r}, " \
                                    f"found {len(parser.tables)}"
    header, *rows = parser.tables[0]
    return header, rows


def test_site_builds_offline_with_warnings_as_errors(html):
    for page in ("index", "install", "usage", "how-it-works", "api", "retraining",
                 "channel-estimation", "figures"):
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"


def test_options_page_lists_exactly_the_solver_options(html):
    header, rows = _table(html / "usage.html", "learnedmin-options")
    assert header[:4] == ["option", "type", "default", "allowed values"]
    names = [row[0] for row in rows]
    assert names == list(_options.RULES), (
        f"options on the page {names} != learnedmin._options.RULES {list(_options.RULES)}"
    )
    for name, typ, default, rule, meaning in rows:
        assert default == repr(_options.DEFAULTS[name]), (name, default)
        assert rule == "must " + _options.RULES[name][1], (name, rule)
        assert typ and meaning, f"option {name!r} has no type or meaning on the page"


def test_status_page_lists_exactly_the_status_messages(html):
    header, rows = _table(html / "usage.html", "learnedmin-status")
    assert header[:3] == ["status", "name", "message"]
    listed = {int(row[0]): row[2] for row in rows}
    assert listed == _status.MESSAGES
    assert all(row[3] for row in rows), "every status needs an explanation"


def test_every_option_is_documented_in_the_docstring():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        from learnedmin_docs import _options_section
    finally:
        sys.path.remove(str(DOCS / "_ext"))
    from learnedmin import LearnedMinimizer

    documented = _options_section(LearnedMinimizer.__doc__)
    assert sorted(documented) == sorted(_options.RULES)


def test_every_figure_is_made_by_a_script_the_page_names():
    scripts = {p.name: p.read_text(encoding="utf-8") for p in (DOCS / "scripts").glob("*.py")}
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for figure in sorted(set(re.findall(r"_static/([\w-]+\.png)", text))):
            makers = [name for name, src in scripts.items() if f'"{figure}"' in src]
            assert makers, f"{page.name}: no script in docs/scripts writes {figure}"
            assert f"python docs/scripts/{makers[0]}" in text, (
                f"{page.name} shows {figure} but does not say that "
                f"`python docs/scripts/{makers[0]}` regenerates it"
            )


def test_page_examples_pass_the_doctest_builder(tmp_path):
    _sphinx("doctest", tmp_path / "doctest", tmp_path / "doctrees")
