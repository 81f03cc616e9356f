"""Sphinx helpers for the learnedmin documentation: tables generated from the code.

Directives
----------
``learnedmin-options``
    The solver options table, built from :data:`learnedmin._options.RULES` (names, defaults,
    rules) and the *Options* section of :class:`learnedmin.LearnedMinimizer`'s docstring (types
    and meanings). An option in one but not the other is a build warning (an error under ``-W``).
``learnedmin-status``
    The status table, built from :data:`learnedmin._status.MESSAGES`; every code needs an
    explanation in :data:`STATUS_CAUSES`, or the build warns.
``learnedmin-result``
    The fields of the result returned by ``minimize(..., method=learned)``, checked against a
    real run: a field the method returns but this table does not describe is a build warning.
``learnedmin-features``
    The network's input features, from :data:`learnedmin.statistics.FEATURE_NAMES` and the
    comments beside them.
``learnedmin-train-config``
    The training configuration keys from ``learnedmin.training.config.SCHEMA`` (when importable).
``automodule-if-importable``
    ``.. automodule::`` for a module that may not exist yet (work in progress); when it cannot
    be imported a short note replaces it instead of a failing build.
``optional-toctree``
    A ``toctree`` that silently leaves out entries whose documents do not exist (pages written by
    other tools, such as the generated benchmark report).
``optional-figure``
    A figure whose image may not have been generated yet; a note with the regenerating command
    stands in for it.

It also lets numpydoc render the SciPy-style *Options* section of a docstring, which numpydoc
does not know, by parsing it as *Other Parameters* and renaming the heading afterwards.
"""

import importlib
import re
import warnings
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.directives.other import TocTree
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

# Why a run ends with each status: one line per code of learnedmin._status.
STATUS_CAUSES = {
    "SUCCESS": "The (projected) gradient test ``max|g| <= gtol`` passed, or a step was shorter "
               "than ``xrtol * (xrtol + |x|)``. ``success`` is ``True`` only for this status.",
    "MAXITER": "``maxiter`` steps were taken without meeting a stopping test.",
    "BUDGET": "The run spent the ``budget`` of evaluations it was given (points at which ``fun`` "
              "was computed); it ends at the last point it accepted.",
    "PRECISION_LOSS": "No acceptable step was found along the network's proposal, the "
                      "second-order direction and, after a reset, the scaled negative gradient: "
                      "rounding errors dominate the decrease (or ``fun`` and ``jac`` disagree).",
    "NONFINITE": "``fun`` or ``jac`` returned NaN or an infinity at the starting point (trial "
                 "points with non-finite values are rejected by the line search instead).",
    "CALLBACK_STOP": "The callback raised ``StopIteration``; ``x`` is the last accepted iterate.",
}

# The result fields and what they mean (type, meaning). Checked against a real run.
RESULT_FIELDS = {
    "x": ("ndarray (n,)", "The solution (last accepted iterate), float64."),
    "fun": ("float", "``fun(x)``."),
    "jac": ("ndarray (n,)", "Gradient at ``x`` (finite differences when ``jac`` was not given)."),
    "nit": ("int", "Iterations, i.e. accepted steps."),
    "nfev": ("int", "Calls of ``fun`` actually made, finite-difference calls included."),
    "njev": ("int", "Gradients: calls of ``jac``, or finite-difference gradients (one each)."),
    "nhev": ("int", "Calls of ``hess`` (one per iteration) or of ``hessp`` (one per product)."),
    "status": ("int", "Why the run stopped; see the status table."),
    "success": ("bool", "``status == 0``."),
    "message": ("str", "The message of ``status``."),
    "step_weights": ("ndarray (nit, 3)", "The weights the network chose per iteration for the "
                     "slots gradient, momentum and second order (before backtracking)."),
    "overridden": ("ndarray (nit,) of bool", "``True`` where the safeguard replaced the "
                   "network's proposal by a fallback direction, or the stall watch ran the "
                   "classical rule."),
    "trace": ("dict of ndarray", "Per-iteration record: ``source`` (0 proposal accepted, 1 "
              "proposal backtracked, 2 fallback, 3 reset, 4 classical rule during a stall), "
              "``alpha`` (accepted step), ``f_ref`` (nonmonotone reference value), ``slope`` "
              "(``g'(x_new - x)``), ``approximate`` (accepted by the rounding-level rule) and "
              "``fun`` (``nit + 1`` values, starting at ``f(x0)``)."),
    "allvecs": ("list of ndarray", "Every iterate, ``x0`` first; only with "
                "``return_all=True``."),
}


def _options_section(doc):
    """``{name: (type, description)}`` from the *Options* section of a numpydoc docstring."""
    from numpydoc.docscrape import NumpyDocString

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a malformed docstring should fail, not go quiet
        parsed = NumpyDocString(_rename_options(doc))
    return {p.name: (p.type, " ".join(p.desc)) for p in parsed["Other Parameters"]}


_OPTIONS_HEADING = re.compile(r"^(\s*)Options\n\1-------\n", re.MULTILINE)


def _rename_options(doc):
    return _OPTIONS_HEADING.sub(r"\1Other Parameters\n\1----------------\n", doc)


def _fmt(value):
    return "``" + repr(value) + "``"


def _table(headers, rows, classes, widths=None):
    """A docutils table node (cells are parsed as inline reST by the caller)."""
    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths or [1] * len(headers):
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    head += _row(headers)
    body = nodes.tbody()
    group += body
    for r in rows:
        body += _row(r)
    return table


def _row(cells):
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.Node) else nodes.paragraph(text=str(cell))
        row += entry
    return row


class _TableDirective(SphinxDirective):
    has_content = False

    def inline(self, text):
        """Parse ``text`` as inline reST into a paragraph."""
        container = nodes.paragraph()
        parsed, messages = self.state.inline_text(text, self.lineno)
        container += parsed
        container += messages
        return container


class OptionsTable(_TableDirective):
    """The solver options: name, type, default, allowed values, meaning."""

    def run(self):
        from learnedmin import LearnedMinimizer, _options

        documented = _options_section(LearnedMinimizer.__doc__)
        for name in sorted(set(_options.RULES) - set(documented)):
            logger.warning(f"option {name!r} is in learnedmin._options.RULES but not in the "
                           "Options section of LearnedMinimizer's docstring",
                           location=self.get_location())
        for name in sorted(set(documented) - set(_options.RULES)):
            logger.warning(f"option {name!r} is documented in LearnedMinimizer's docstring but "
                           "is not in learnedmin._options.RULES", location=self.get_location())
        rows = []
        for name, (default, rule, _) in _options.RULES.items():
            typ, desc = documented.get(name, ("", ""))
            rows.append([self.inline(f"``{name}``"), self.inline(typ), self.inline(_fmt(default)),
                         self.inline("must " + rule), self.inline(desc)])
        return [_table(["option", "type", "default", "allowed values", "meaning"], rows,
                       ["learnedmin-options"], [12, 10, 8, 20, 50])]


class StatusTable(_TableDirective):
    """The status codes, their messages and causes."""

    def run(self):
        from learnedmin import _status

        names = {getattr(_status, n): n for n in dir(_status)
                 if n.isupper() and isinstance(getattr(_status, n), int)}
        rows = []
        for code, message in _status.MESSAGES.items():
            name = names.get(code)
            cause = STATUS_CAUSES.get(name)
            if cause is None:
                logger.warning(f"status {code} ({name}) has no explanation in "
                               "docs/_ext/learnedmin_docs.py STATUS_CAUSES",
                               location=self.get_location())
            rows.append([self.inline(f"``{code}``"), self.inline(f"``{name}``"),
                         nodes.paragraph(text=message), self.inline(cause or "")])
        for name in sorted(set(STATUS_CAUSES) - set(names.values())):
            logger.warning(f"STATUS_CAUSES describes {name!r}, which learnedmin._status lacks",
                           location=self.get_location())
        return [_table(["status", "name", "message", "when"], rows, ["learnedmin-status"],
                       [6, 14, 35, 45])]


class ResultTable(_TableDirective):
    """The result fields, checked against the fields of a real (tiny) run."""

    def run(self):
        import numpy as np
        from scipy.optimize import minimize

        from learnedmin import FixedWeights, LearnedMinimizer
        from learnedmin.policy import CLASSICAL_WEIGHTS

        res = minimize(lambda x: float(x @ x), np.ones(2), jac=lambda x: 2 * x,
                       method=LearnedMinimizer(FixedWeights(CLASSICAL_WEIGHTS), return_all=True))
        for name in sorted(set(res) - set(RESULT_FIELDS)):
            logger.warning(f"the result has a field {name!r} that the result table in "
                           "docs/_ext/learnedmin_docs.py does not describe",
                           location=self.get_location())
        rows = [[self.inline(f"``{n}``"), self.inline(t), self.inline(d)]
                for n, (t, d) in RESULT_FIELDS.items()]
        return [_table(["field", "type", "meaning"], rows, ["learnedmin-result"], [12, 18, 70])]


_FEATURE_LINE = re.compile(r'^\s*"(\w+)",\s*(?:#\s*(.*))?$', re.MULTILINE)


class FeaturesTable(_TableDirective):
    """The network's input features, in order, with the comment each has in statistics.py."""

    def run(self):
        import inspect

        from learnedmin import statistics

        comments = dict(_FEATURE_LINE.findall(inspect.getsource(statistics)))
        rows = []
        for i, name in enumerate(statistics.FEATURE_NAMES):
            text = comments.get(name) or ""
            if name.startswith("valid_"):
                text = text or f"1 when the {name[6:].replace('_', ' ')} slot is available"
            rows.append([nodes.paragraph(text=str(i)), self.inline(f"``{name}``"),
                         nodes.paragraph(text=text)])
        return [_table(["#", "feature", "definition"], rows, ["learnedmin-features"],
                       [4, 22, 60])]


class TrainConfigTable(_TableDirective):
    """The training config keys (``learnedmin.training.config.SCHEMA``), when it is importable."""

    def run(self):
        error = _importable("learnedmin.training.config")
        if error is not None:
            logger.info(f"[learnedmin_docs] no training config table: {error!r}")
            para = self.inline("The configuration keys are listed by ``learnedmin-train --help``.")
            return [para]
        from learnedmin.training import config

        rows = [[self.inline(f"``{key}``"), self.inline(_fmt(default)),
                 nodes.paragraph(text=help_)] for key, (default, help_) in config.SCHEMA.items()]
        return [_table(["key", "default", "meaning"], rows, ["learnedmin-train-config"],
                       [20, 20, 60])]


def _importable(name):
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - any failure means "not documented in this build"
        return exc
    return None


class AutomoduleIfImportable(SphinxDirective):
    """``automodule`` with the given options when the module imports, else a short note."""

    required_arguments = 1
    has_content = False
    option_spec = {"members": directives.unchanged, "inherited-members": directives.unchanged,
                   "note": directives.unchanged}

    def run(self):
        name = self.arguments[0]
        error = _importable(name)
        if error is not None:
            logger.info(f"[learnedmin_docs] {name} is not importable ({error!r}); "
                        "its API page is left out")
            if "note" not in self.options:
                return []
            note = self.options["note"]
            para = nodes.paragraph()
            parsed, messages = self.state.inline_text(note, self.lineno)
            para += parsed
            return [nodes.note("", para), *messages]
        lines = [f".. automodule:: {name}"]
        if "members" in self.options:
            members = self.options["members"]
            lines.append("   :members:" + (f" {members}" if members else ""))
        if "inherited-members" in self.options:
            lines.append("   :inherited-members: " + self.options["inherited-members"])
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=self.get_source_info()[0]),
                                 container)
        return container.children


_EXPLICIT = re.compile(r"^(.*?)\s*<(.+)>$")


class OptionalTocTree(TocTree):
    """A toctree whose entries are dropped when their document does not exist."""

    def run(self):
        kept = []
        docname = self.env.current_document.docname
        base = docname.rsplit("/", 1)[0] + "/" if "/" in docname else ""
        for line in self.content:
            entry = line.strip()
            if not entry:
                continue
            m = _EXPLICIT.match(entry)
            target = (m.group(2) if m else entry).removesuffix(".md").removesuffix(".rst")
            if (base + target) in self.env.found_docs:
                kept.append(line)
            else:
                logger.info(f"[learnedmin_docs] optional page {target!r} does not exist; "
                            "left out of the toctree")
        self.content = StringList(kept, source=self.content.source(0) if self.content else "")
        return super().run()


class OptionalFigure(SphinxDirective):
    """``figure`` when the image exists; otherwise a note saying which command makes it."""

    required_arguments = 1
    has_content = True
    option_spec = {"alt": directives.unchanged, "width": directives.unchanged,
                   "command": directives.unchanged}

    def run(self):
        path = self.arguments[0]
        source_dir = Path(self.env.doc2path(self.env.current_document.docname)).parent
        file = (Path(self.env.srcdir) / path.lstrip("/")) if path.startswith("/") \
            else source_dir / path
        if file.is_file():
            lines = [f".. figure:: {path}"]
            for opt in ("alt", "width"):
                if opt in self.options:
                    lines.append(f"   :{opt}: {self.options[opt]}")
            lines.append("")
            lines += ["   " + line for line in self.content]
        else:
            command = self.options.get("command", "")
            lines = [".. note::", "",
                     f"   The figure ``{path}`` has not been generated in this checkout"
                     + (f"; ``{command}`` makes it." if command else ".")]
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source=self.get_source_info()[0]),
                                 container)
        return container.children


_RENAMED = set()


def _before_numpydoc(app, what, name, obj, options, lines):
    """Let numpydoc parse a SciPy-style *Options* section as *Other Parameters*."""
    text = "\n".join(lines) + "\n"
    renamed = _rename_options(text)
    if renamed != text:
        _RENAMED.add(name)
        lines[:] = renamed.splitlines()


def _after_numpydoc(app, what, name, obj, options, lines):
    """Give the section parsed by :func:`_before_numpydoc` its heading back."""
    if name in _RENAMED:
        lines[:] = [line.replace(":Other Parameters:", ":Options:") for line in lines]


def setup(app):
    app.add_directive("learnedmin-options", OptionsTable)
    app.add_directive("learnedmin-status", StatusTable)
    app.add_directive("learnedmin-result", ResultTable)
    app.add_directive("learnedmin-features", FeaturesTable)
    app.add_directive("learnedmin-train-config", TrainConfigTable)
    app.add_directive("automodule-if-importable", AutomoduleIfImportable)
    app.add_directive("optional-toctree", OptionalTocTree)
    app.add_directive("optional-figure", OptionalFigure)
    # numpydoc's handler runs at the default priority 500
    app.connect("autodoc-process-docstring", _before_numpydoc, priority=400)
    app.connect("autodoc-process-docstring", _after_numpydoc, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
