"""Time the book's clean build and its no-change rebuild, against the targets for two cores.

Run: .venv/bin/python bench/book_build.py [--strict]
Removes _build (the HTML and the notebook execution cache), builds the book with the command of
`make book`, then builds it again with nothing changed. Prints both wall-clock times, the targets
(clean build under 240 s, no-change rebuild under 15 s, on two cores) and how long each chapter's
notebook took to execute. Exits 1 if a build fails; with --strict, also 2 if a target is missed.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"clean build": 240.0, "no-change rebuild": 15.0}
BUILD_ARGS = ["build", ".", "--warningiserror", "--nitpick", "--keep-going"]


def jupyter_book():
    """The jupyter-book next to this Python (the project's venv), else the one on PATH."""
    here = Path(sys.executable).parent / "jupyter-book"
    found = str(here) if here.exists() else shutil.which("jupyter-book")
    if not found:
        sys.exit("jupyter-book not found: run `make venv` and use .venv/bin/python")
    return found


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build(root, label, log_dir):
    """Run one build; return (wall, cpu) seconds, or None if it failed (the log is kept).

    The CPU time (the build and the kernels it ran) shows how much of the wall-clock time was
    work: on a machine shared with other jobs the wall-clock time can be several times larger.
    """
    log = log_dir / f"{label.replace(' ', '_')}.log"
    cpu = _children_cpu()
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.run([jupyter_book(), *BUILD_ARGS], cwd=root, stdout=out,
                              stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print(f"{label}: FAILED after {seconds:.1f} s (exit {proc.returncode}); log {log}:")
        print("\n".join("    " + line for line in tail))
        return None
    return seconds, _children_cpu() - cpu


def execution_times(root):
    """(notebook, seconds) for each notebook in the execution cache, slowest first."""
    try:
        from jupyter_cache import get_cache
    except ImportError:
        return []
    cache_dir = root / "_build" / ".jupyter_cache"
    if not cache_dir.is_dir():
        return []
    rows = []
    for record in get_cache(cache_dir).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        if seconds is not None:
            rows.append((Path(record.uri).relative_to(root).as_posix()
                         if Path(record.uri).is_relative_to(root) else record.uri, seconds))
    return sorted(rows, key=lambda r: -r[1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 2 when a target is missed")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's root (default: the repo)")
    args = parser.parse_args()
    root = args.root.resolve()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "book_build_bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"book at {root}, {cores} CPU core(s) available, load average {load:.1f}; "
          "targets are for two cores")

    shutil.rmtree(root / "_build", ignore_errors=True)
    times, cpu = {}, {}
    for label in TARGETS:
        result = build(root, label, log_dir)
        if result is None:
            return 1
        times[label], cpu[label] = result

    missed = []
    for label, target in TARGETS.items():
        ok = times[label] < target
        missed += [] if ok else [label]
        print(f"{label:>18}: {times[label]:7.1f} s   target < {target:5.0f} s   "
              f"{'ok' if ok else 'MISSED':6}   (CPU time {cpu[label]:.1f} s)")
    rows = execution_times(root)
    if rows:
        print("notebook execution in the clean build (from the cache):")
        for uri, seconds in rows:
            print(f"    {seconds:7.1f} s  {uri}")
        print(f"    {sum(s for _, s in rows):7.1f} s  in all")
    return 2 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
