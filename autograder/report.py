"""The grade report of one assignment: score histogram, pass rate per test, and one HTML page.

It reads the gradebook (the scores, including any grades an instructor gave by hand) and the grading
records (problems with files, flags for review, the message of every failed test).
"""
import html
import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def collect_rows(course, name):
    """[(student, {cell: (score, max)}, record or None)] of every student with a submission."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = []
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        warnings.simplefilter("ignore")
        for student in sorted(s.id for s in gb.students):
            try:
                nb = gb.find_submission_notebook(name, name, student)
            except MissingEntry:
                continue
            cells = {g.name: (g.score, g.max_score) for g in nb.grades}
            path = Path(course) / "grading" / name / f"{student}.json"
            record = json.loads(path.read_text()) if path.exists() else None
            rows.append((student, cells, record))
    return rows


def write_report(course, name, out):
    """Write index.html, scores.png and pass_rates.png into `out`; return the HTML page's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = collect_rows(course, name)
    if not rows:
        raise ValueError(f"no graded submission of {name} in {course}: run `grade {name}` first")
    cells = list(rows[0][1])
    maximum = sum(m for _, m in rows[0][1].values())
    totals = [sum(s for s, _ in c.values()) for _, c, _ in rows]

    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.hist(totals, bins=min(20, max(5, len(set(totals)))), range=(0, maximum), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"total score (out of {maximum:g})")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count of students has no fractions
    ax.set_title(f"{name}: scores of {len(rows)} submissions")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=110)
    plt.close(fig)

    rates = [sum(1 for _, c, _ in rows if c[cell][0] == c[cell][1]) / len(rows) for cell in cells]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(cells) + 1.2))
    ax.barh(range(len(cells)), rates, color="#55a868")
    ax.set_yticks(range(len(cells)), cells)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of students with full marks")
    ax.set_title(f"{name}: pass rate per test")
    fig.tight_layout()
    fig.savefig(out / "pass_rates.png", dpi=110)
    plt.close(fig)

    def esc(x):
        return html.escape(str(x))

    body = []
    for (student, scores, record), total in zip(rows, totals):
        record = record or {}
        notes = [f"<li class=problem>{esc(p)}</li>" for p in record.get("problems", [])]
        notes += [f"<li class=flag>flag: {esc(f)}</li>" for f in record.get("flags", [])]
        failed = [f"<li><b>{esc(cell)}</b>: {esc(msg)}</li>" for cell, msg in record.get("messages", {}).items()
                  if scores.get(cell, (1, 1))[0] != scores.get(cell, (1, 1))[1]]
        cols = "".join(f"<td class={'ok' if s == m else 'no'}>{'' if s is None else f'{s:g}'}</td>"
                       for s, m in scores.values())
        body.append(f"<tr><td>{esc(student)}</td><td><b>{total:g}</b></td>{cols}"
                    f"<td><ul>{''.join(notes)}</ul><details><summary>{len(failed)} failed</summary><ul>"
                    f"{''.join(failed)}</ul></details></td></tr>")
    unsafe = sum(1 for r in rows if r[2] and str(r[2].get("protections", {}).get("sandbox", "")).startswith("none"))
    warning = (f'<p class=unsafe><b>Graded without a sandbox</b> ({unsafe} of {len(rows)} submissions, '
               "with --unsafe-no-sandbox): their code ran with the grader's own rights and could have read the "
               "reference or changed grades. Trust these grades only for trusted notebooks.</p>") if unsafe else ""
    headers = "".join(f"<th>{esc(c).replace('_', '_<wbr>')}</th>" for c in cells)  # long ids break at "_"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(name)}: grade report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;width:100%;table-layout:fixed}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top;overflow-wrap:break-word}} th.notes{{width:40%}}
td.ok{{background:#e6f4ea}}
td.no{{background:#fce8e6}} li.problem{{color:#b00020}} li.flag{{color:#8a5a00}} img{{max-width:48%}}
p.unsafe{{background:#b00020;color:white;padding:8px}}</style>
</head><body>
<h1>{esc(name)}: grade report</h1>
{warning}
<p>{len(rows)} submissions; mean {sum(totals) / len(totals):.2f} of {maximum:g};
{sum(1 for r in rows if r[2] and r[2].get('problems'))} with problems in the file;
{sum(1 for r in rows if r[2] and r[2].get('flags'))} flagged for review.</p>
<img src="scores.png" alt="histogram of total scores"> <img src="pass_rates.png" alt="pass rate per test">
<table><tr><th>student</th><th>total</th>{headers}<th class=notes>notes</th></tr>
{''.join(body)}
</table></body></html>
"""
    (out / "index.html").write_text(page)
    return out / "index.html"
