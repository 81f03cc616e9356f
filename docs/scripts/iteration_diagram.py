"""Figure: one iteration of the learned method (candidates, statistics, network, safeguard).

Regenerate with::

    python docs/scripts/iteration_diagram.py
"""

import argparse

from _common import STATIC, save

BOXES = {
    # key: (x, y, width, height, title, body, colour)
    "state": (0.2, 2.2, 2.3, 1.5, "state $k$",
              "$x_k,\\ f_k,\\ g_k$\n$s_{k-1},\\ y_{k-1}$, L-BFGS memory\n"
              "$a_{k-1}$, hidden state $h_{k-1}$", "#eeeeee"),
    "cand": (3.2, 3.1, 2.6, 1.5, "candidates (directions.py)",
             "$\\tilde d_{gd} = -\\alpha_{BB}\\, g_k$\n$\\tilde d_{mom} = s_{k-1}$\n"
             "$\\tilde d_{2nd}$ = L-BFGS or Newton-CG", "#dbe9f6"),
    "stats": (3.2, 1.2, 2.6, 1.5, "statistics (statistics.py)",
              "cosines, log norm ratios,\ndecrease and curvature ratios,\n"
              "last step: fraction, overridden", "#dbe9f6"),
    "net": (6.5, 2.2, 2.4, 1.5, "network (network.py)",
            "$(a_k, h_k) = \\mathrm{GRU}(s_k, a_{k-1}, h_{k-1})$\n"
            "$p_k = \\sum_i a_{k,i}\\, \\tilde d_i$", "#fde2c8"),
    "safe": (9.6, 2.2, 2.9, 1.5, "safeguard (safeguard.py)",
             "1. backtrack along $p_k$ (learned_maxls)\n2. fall back to $\\tilde d_{2nd}$ (maxls)\n"
             "3. reset, scaled $-g_k$\naccept: nonmonotone Armijo", "#d9f0d3"),
}


def main(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(12.5, 4.4))
    ax.set_xlim(0, 12.7)
    ax.set_ylim(0, 5.2)
    ax.axis("off")
    for x, y, w, h, title, body, colour in BOXES.values():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour,
                                    ec="#444444", lw=1))
        ax.text(x + w / 2, y + h - 0.2, title, ha="center", va="top", fontsize=9,
                fontweight="bold")
        ax.text(x + w / 2, y + h / 2 - 0.2, body, ha="center", va="center", fontsize=8)

    def arrow(p, q, text=None, rad=0.0, text_at=None):
        ax.add_patch(FancyArrowPatch(p, q, arrowstyle="-|>", mutation_scale=12, lw=1.2,
                                     color="#333333", connectionstyle=f"arc3,rad={rad}"))
        if text:
            tx, ty = text_at or ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2 + 0.15)
            ax.text(tx, ty, text, ha="center", va="bottom", fontsize=8, color="#333333")

    arrow((2.55, 3.3), (3.15, 3.8))
    arrow((2.55, 2.6), (3.15, 2.0))
    arrow((4.5, 3.05), (4.5, 2.75), None)
    arrow((5.85, 3.8), (6.45, 3.3), r"$\tilde d_i$")
    arrow((5.85, 2.0), (6.45, 2.6), r"$s_k$", text_at=(6.05, 2.35))
    arrow((8.95, 2.95), (9.55, 2.95), r"$p_k$")
    arrow((11.05, 2.15), (1.35, 2.15), r"$x_{k+1} = x_k + \alpha_k d$;  memory, $a_k^{eff}$, "
          r"$h_k$ (reset after repeated overrides)", rad=-0.25, text_at=(6.2, 0.35))
    ax.text(6.35, 4.85, "one iteration of learnedmin: the network chooses the direction, "
            "the safeguard decides how far", ha="center", fontsize=10)
    save(fig, out)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=STATIC / "iteration.png")
    main(parser.parse_args().out)
