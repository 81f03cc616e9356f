"""`import learnedmin` stays light: no torch, no training subpackage, until first use; and its
modules import one another without cycles."""

import ast
import subprocess
import sys
from pathlib import Path

import learnedmin


def _run(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_import_does_not_load_torch_or_training():
    code = (
        "import sys, learnedmin\n"
        "print('torch' in sys.modules, 'learnedmin.training' in sys.modules,"
        " 'learnedmin.network' in sys.modules, 'scipy.optimize' in sys.modules)"
    )
    assert _run(code) == "False False False False"


def test_torch_is_loaded_on_first_call():
    code = (
        "import sys\n"
        "from scipy.optimize import minimize\n"
        "from learnedmin import learned\n"
        "before = 'torch' in sys.modules\n"
        "minimize(lambda x: (x ** 2).sum(), [1.0, 2.0], method=learned)\n"
        "print(before, 'torch' in sys.modules, 'learnedmin.training' in sys.modules)"
    )
    assert _run(code) == "False True False"

PACKAGE = Path(learnedmin.__file__).parent


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _module_level(tree):
    """The import statements run when the module is imported: not those inside functions."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _anywhere(tree):
    """Every import statement, deferred ones inside functions included."""
    return (node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


def _imported(node, package, modules):
    """The module names an import statement names (a relative one resolved from ``package``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    # ``from package import name`` imports the module ``package.name`` where there is one
    return [f"{base}.{alias.name}" for alias in node.names
            if f"{base}.{alias.name}" in modules] or [base]


def import_graph(statements=_module_level):
    """``{module: set of learnedmin modules it imports}`` through the import ``statements``
    (by default those at module level)."""
    paths = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in statements(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported(node, package, paths):
                while target and target not in paths:  # an attribute of a module: its module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle ``[a, b, ..., a]`` of ``graph``, or None."""
    colour = dict.fromkeys(graph, 0)  # 0 unseen, 1 on the current path, 2 done
    path = []

    def visit(node):
        colour[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == 0:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        colour[node] = 2
        return None

    for node in sorted(graph):
        if colour[node] == 0:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = import_graph()
    assert "learnedmin.step" in graph and "learnedmin.training.train" in graph
    assert "learnedmin.directions" in graph["learnedmin.policy"]  # relative imports resolved
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle at module level: " + " -> ".join(cycle)


def test_no_import_cycles_through_deferred_imports():
    # an import moved into a function only postpones a cycle (training.train and
    # training.evaluate once needed each other this way)
    cycle = find_cycle(import_graph(_anywhere))
    assert cycle is None, "import cycle through a deferred import: " + " -> ".join(cycle)


def test_a_cycle_is_found_and_printed():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
