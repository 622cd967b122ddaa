"""Data and drawing helpers for the character-level language model of the chapter on RNNs (rnn.md).

The readable features of the text that the chapter looks for in the hidden units, and the figure of
characters coloured by a unit's activation. Nothing here trains or evaluates a model.
"""
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle


def lightened(cmap, white=0.5):
    """`cmap` mixed with a share `white` of white, so that black text stays legible on every colour."""
    colours = cmap(np.linspace(0, 1, 256))
    colours[:, :3] = (1 - white) * colours[:, :3] + white
    return ListedColormap(colours)


def readable_features(text):
    """Indicators (0 or 1) of three readable properties of the text, one value per character.

    The value at a character describes the state right after reading it, so an opening quote is
    already inside the quotes and a closing one is outside again.
    - "inside double quotes": an odd number of straight double quotes since the start of the line
      (the text quotes names and keywords within a line; the count restarts at every newline);
    - "inside parentheses": more "(" than ")" since the start of the paragraph (blank line);
    - "indented line": on a line that starts with at least three spaces, past its indentation.
    Returns a dict from the three names to float arrays of shape (len(text),).
    """
    quote, paren, indent = (np.zeros(len(text)) for _ in range(3))
    inside, depth, leading, prev = 0, 0, 0, "\n"
    at_line_start = True
    for i, ch in enumerate(text):
        if ch == "\n":
            inside, leading, at_line_start = 0, 0, True
            if prev == "\n":
                depth = 0  # a blank line ends the paragraph
        elif at_line_start and ch == " ":
            leading += 1
        else:
            at_line_start = False
        inside ^= ch == '"'
        depth = depth + (ch == "(") - (ch == ")" and depth > 0)
        quote[i], paren[i] = inside, depth > 0
        indent[i] = leading >= 3 and not at_line_start
        prev = ch
    return {"inside double quotes": quote, "inside parentheses": paren,
            "indented line": indent}


def draw_coloured_text(ax, text, values, cmap, vmax, marks=None, fontsize=10):
    """Write `text` line by line in a monospaced font, each character on a background whose colour
    is its value in `values` (same length as `text`) under `cmap`, scaled to [-vmax, vmax].
    Characters whose entry in `marks` (optional, same length) is nonzero are underlined.

    A newline is drawn as a small return sign so that its value can be seen too. The axes are
    sized to the text: one unit per character across, one per line down.
    """
    lines = text.split("\n")
    width = max(len(line) for line in lines) + 1
    k = 0
    for row, line in enumerate(lines):
        shown = line + ("\u21b5" if k + len(line) < len(text) else "")
        for col, ch in enumerate(shown):
            colour = cmap(0.5 + 0.5 * float(np.clip(values[k] / vmax, -1, 1)))
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=colour, edgecolor="none"))
            ax.text(col + 0.5, row + 0.55, ch, ha="center", va="center",
                    family="DejaVu Sans Mono", fontsize=fontsize,
                    color="0.45" if ch == "\u21b5" else "black")
            if marks is not None and marks[k]:
                ax.plot([col + 0.1, col + 0.9], [row + 0.95, row + 0.95], color="black", lw=1)
            k += 1
    ax.set_xlim(0, width)
    ax.set_ylim(len(lines), 0)
    ax.axis("off")
