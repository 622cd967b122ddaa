"""Each chapter's executed notebook in the page's download menu, beside its source and the PDF print.

sphinx-book-theme offers the notebook myst-nb executed (build/jupyter_execute/<page>.ipynb) only when a
launch service is configured; the book has none (it must work offline), so this copies the notebook into
the HTML's _sources/ folder itself and tells the theme, before the theme builds its header buttons.
"""
from pathlib import Path
from shutil import copy2


def offer_notebook(app, pagename, templatename, context, doctree):
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.exists():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app):
    app.connect("html-page-context", offer_notebook, priority=400)  # the theme's buttons come at 501
    return {"parallel_read_safe": True, "parallel_write_safe": True}
