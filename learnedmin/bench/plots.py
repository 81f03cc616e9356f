"""PNG plots of a benchmark: performance profiles and convergence curves (needs matplotlib).

matplotlib is an optional dependency (the ``bench`` extra) and is imported only here, through its
object-oriented API (no pyplot state, no backend switching).
"""

import numpy as np

from .analysis import cost_matrix

__all__ = ["have_matplotlib", "plot_profile", "plot_convergence"]


def have_matplotlib():
    """Whether matplotlib can be imported."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


_STYLES = ["-", "--", "-.", ":"]


def _style(j, method):
    """Line style of the ``j``-th method: colours cycle, dashes tell overlapping curves apart, and
    the learned method is drawn thicker."""
    return {"linestyle": _STYLES[j % len(_STYLES)],
            "linewidth": 2.4 if method.startswith("learned") else 1.4,
            "color": f"C{j % 10}"}


def plot_profile(path, records, methods, title):
    """Dolan-Moré profile ``rho_s(tau)`` against ``log2 tau`` for every method, saved as PNG."""
    problems, costs = cost_matrix(records, methods)
    fig = _figure(7.0, 4.5)
    ax = fig.add_subplot()
    best = costs.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = np.where(np.isfinite(best), costs / best, np.inf)
    finite = ratios[np.isfinite(ratios)]
    top = max(2.0, float(finite.max()) * 1.5) if finite.size else 2.0
    taus = np.geomspace(1.0, top, 400)
    n = max(len(problems), 1)
    for j, m in enumerate(methods):
        rho = (ratios[:, j][:, None] <= taus[None, :]).sum(axis=0) / n
        ax.step(taus, rho, where="post", label=m, **_style(j, m))
    ax.set_xscale("log", base=2)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlim(1.0, top)
    ax.set_xlabel("τ (calls to solve / best method's calls)")
    ax.set_ylabel("ρ(τ): fraction of problems")
    ax.set_title(f"{title} ({len(problems)} problems)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path)


def _pick(names, k):
    """``k`` names spread evenly over ``names``."""
    if len(names) <= k:
        return list(names)
    return [names[int(i)] for i in np.linspace(0, len(names) - 1, k).round()]


def plot_convergence(path, records, methods, title, k=4):
    """``f - f_ref`` (best so far) against calls on ``k`` problems of the suite, saved as PNG."""
    names = list(dict.fromkeys(r["problem"] for r in records if r.get("f_ref") is not None))
    chosen = _pick(names, k)
    if not chosen:
        return False
    cols = 2 if len(chosen) > 1 else 1
    rows = (len(chosen) + cols - 1) // cols
    fig = _figure(5.0 * cols, 3.6 * rows)
    for i, name in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, i + 1)
        for j, m in enumerate(methods):
            run = next((r for r in records if r["problem"] == name and r["method"] == m), None)
            if run is None or not run["trace"]:
                continue
            f_ref = run["f_ref"]
            floor = 1e-16 * max(1.0, abs(f_ref))
            calls = [c for c, _ in run["trace"]] + [max(run["calls"], 1)]
            gaps = [max(f - f_ref, floor) for _, f in run["trace"]]
            gaps.append(gaps[-1])
            ax.step(np.maximum(calls, 1), gaps, where="post", label=m, **_style(j, m))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("calls")
        ax.set_ylabel("best f − f_ref")
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.savefig(path)
    return True
