"""The grade report of one assignment: score histogram, pass rate per test, and one HTML page.

It reads the gradebook (the scores, including any grades an instructor gave by hand) and the grading
records (problems with files, flags for review, the message of every failed test).
"""
import html
import json
import re
import textwrap
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


def diagnoses(message):
    """[(function, diagnosis)] of the failed checks in a test cell's message: the named mistake where there is
    one, else the first line that says where the error is, with its numbers and case label left out, so
    that the same diagnosis of different students' numbers reads the same."""
    out = []
    for block in re.split(r"\n(?=[a-z_][a-z0-9_]*(?: is wrong on |: ))", message or ""):
        first, *rest = block.splitlines() or [""]
        m = re.match(r"([a-z_][a-z0-9_]*)(?: is wrong on |: (?!correct on all))", first)
        if not m:
            continue
        if " is wrong on " not in first:  # no result, or results the grader could not read
            out.append((m.group(1), re.sub(r"\d+", "#", first[len(m.group(0)):].split(" (")[0])))
            continue
        cause = next((line[len("Likely cause: "):] for line in rest if line.startswith("Likely cause: ")), None)
        where = next((line for line in rest if line.startswith(("Where", "By block:")) or " step" in line), None)
        raised = re.search(r"raised (\w+)", first)
        if cause:  # a named mistake reads the same for everyone already
            out.append((m.group(1), cause))
            continue
        text = where or (f"raises {raised.group(1)}" if raised else "wrong values, not located")
        text = re.sub(r"^Where \([^)]*\):", "Where:", text)
        out.append((m.group(1), re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "#", text)))
    return out


def reteach(rows):
    """[(diagnosis, function, students)] over the class, most common first."""
    groups = {}
    for student, scores, record in rows:
        for cell, message in ((record or {}).get("messages") or {}).items():
            if scores.get(cell, (1, 1))[0] == scores.get(cell, (1, 1))[1]:
                continue
            for function, text in dict.fromkeys(diagnoses(message)):
                groups.setdefault((text, function), []).append(student)
    return sorted(((t, f, sorted(set(st))) for (t, f), st in groups.items()), key=lambda g: (-len(g[2]), g[1], g[0]))


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

    groups = reteach(rows)
    if groups:
        top = groups[:12]
        fig, ax = plt.subplots(figsize=(9, 0.42 * len(top) + 1.3))
        ax.barh(range(len(top)), [len(st) for _, _, st in top], color="#c44e52")
        ax.set_yticks(range(len(top)), [textwrap.shorten(f"{f}: {t}", 70, placeholder="...") for t, f, _ in top],
                      fontsize=8)
        ax.invert_yaxis()
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("students")
        ax.set_title(f"{name}: the most common diagnoses (what to re-teach)")
        fig.tight_layout()
        fig.savefig(out / "diagnoses.png", dpi=110)
        plt.close(fig)

    def esc(x):
        return html.escape(str(x))

    def listed(students, limit=15):
        more = len(students) - limit
        return esc(", ".join(students[:limit])) + (f" and {more} more" if more > 0 else "")

    reteach_rows = "".join(f"<tr><td>{len(st)}</td><td>{100 * len(st) / len(rows):.0f}%</td><td><b>{esc(f)}</b>: "
                           f"{esc(t)}</td><td>{listed(st)}</td></tr>" for t, f, st in groups)
    reteach_html = (f"<h2>What to re-teach</h2><p>The class's failed checks grouped by diagnosis (a named mistake, "
                    f"or where the error lies), most common first.</p>"
                    f'<img class=wide src="diagnoses.png" alt="the most common diagnoses">'
                    f"<table class=reteach><tr><th class=n>students</th><th class=n>share</th><th>diagnosis</th>"
                    f"<th>who</th></tr>{reteach_rows}</table>") if groups else ""

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
p.unsafe{{background:#b00020;color:white;padding:8px}} img.wide{{max-width:100%}} table.reteach{{margin-bottom:2em}}
th.n{{width:6em}}</style>
</head><body>
<h1>{esc(name)}: grade report</h1>
{warning}
<p>{len(rows)} submissions; mean {sum(totals) / len(totals):.2f} of {maximum:g};
{sum(1 for r in rows if r[2] and r[2].get('problems'))} with problems in the file;
{sum(1 for r in rows if r[2] and r[2].get('flags'))} flagged for review.</p>
<img src="scores.png" alt="histogram of total scores"> <img src="pass_rates.png" alt="pass rate per test">
{reteach_html}
<h2>Every student</h2>
<table><tr><th>student</th><th>total</th>{headers}<th class=notes>notes</th></tr>
{''.join(body)}
</table></body></html>
"""
    (out / "index.html").write_text(page)
    return out / "index.html"
