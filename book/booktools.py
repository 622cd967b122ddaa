"""Presentation helpers the chapters share: the boxes and arrows of their diagrams, Markdown tables.

The chapters run with book/ as their working directory, so they import this module by name.
Nothing here computes anything a chapter checks.
"""
from IPython.display import Markdown
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# fill colours of the diagrams' boxes, by kind: inputs, hidden states, outputs, losses,
# the context vector and decoder states
COLORS = {"x": "#f4c7c3", "h": "#b7e1cd", "o": "#c9daf8", "L": "#fce8b2", "c": "#fce8b2",
          "d": "#d9d2e9"}


def box(ax, x, y, text, kind, w=0.8, h=0.55, fontsize=11, color="black"):
    """A rounded box centred at (x, y), filled with the colour of its kind (a key of COLORS)."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor=COLORS[kind], edgecolor="0.25", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=color)


def arrow(ax, start, end, text=None, color="0.2", offset=(0.0, 0.0), style="-|>", rad=0.0,
          fontsize=9, ls="-"):
    """An arrow from start to end, with an optional label next to its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, color=color,
                                 linewidth=1.1, linestyle=ls,
                                 connectionstyle=f"arc3,rad={rad}"))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize, color=color)


def md_table(header, rows):
    """A Markdown table (shown as a table in the page) from a header row and rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return Markdown("\n".join(lines))
