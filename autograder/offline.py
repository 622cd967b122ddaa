"""Feedback pages that render without the network: their formulas as MathML instead of MathJax from a CDN.

nbgrader's feedback template loads MathJax 2 from cdnjs; offline (and on a student's machine behind a
firewall) its formulas stay raw TeX. Browsers render MathML themselves, so each `$...$` and `$$...$$` of
the notebook's text cells is converted once, here, by latex2mathml, and the CDN script is dropped.
"""
import html
import re

from latex2mathml.converter import convert

MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
TEXT_CELL = re.compile(r'(<div class="text_cell_render[^"]*">)(.*?)(</div>)', re.S)
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
INLINE = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$")


def _mathml(tex, display):
    try:
        return convert(html.unescape(tex).strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001  a formula latex2mathml cannot read stays as its TeX, in code style
        return f"<code>{tex}</code>"


def math_to_mathml(text):
    """The text of a rendered markdown cell with its TeX formulas as MathML."""
    text = DISPLAY.sub(lambda m: _mathml(m.group(1), True), text)
    return INLINE.sub(lambda m: _mathml(m.group(1), False), text)


def offline_feedback(page):
    """An nbgrader feedback page (HTML text) that needs no network: MathML formulas, no MathJax script."""
    page = MATHJAX.sub("<!-- formulas are MathML, rendered by the browser: no MathJax -->\n"
                       "<style>math { font-size: 1.15em; }</style>", page)
    return TEXT_CELL.sub(lambda m: m.group(1) + math_to_mathml(m.group(2)) + m.group(3), page)
