"""Grading on a Dask cluster (`grade --scheduler`): a real dask.distributed LocalCluster with two worker
processes, the real sandboxed grading jobs and nbgrader's gradebook.

Asserted: the same grades as local grading on the same submissions; a worker killed mid-batch loses and
doubles no grade (its jobs run again elsewhere); a job lost on every try is a flagged zero for its student
alone; a regrade changes nothing; a scheduler that does not answer is a clear error with nothing written;
a second grade on a course being graded is refused.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from autograder import commands
from autograder import course as C
from autograder.coordinator import grade_all, read_record
from autograder.notebooks import ROOT

distributed = pytest.importorskip("distributed")
NAME = "rnn"


def grades(course, students):
    return {s: C.scores(course, NAME, s) for s in students}


@pytest.fixture(scope="module")
def graded_here(tmp_path_factory):
    """A class of 12 graded locally: the grades every cluster run must reproduce."""
    course = tmp_path_factory.mktemp("cluster") / "course"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    students = C.synthetic_class(course, NAME, 12, prefix="s")
    grade_all(course, NAME, workers=2, progress=False)
    return course, students, grades(course, students)


@pytest.fixture()
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def kill_a_worker_once_grading_started(course, address, done):
    """In a thread: once the first result is stored, kill a worker process that is grading a job (SIGKILL:
    no goodbye)."""
    client = distributed.Client(address, set_as_default=False)
    pids = client.run(os.getpid)  # {worker address: pid}

    def run():
        try:
            while not done.is_set():
                if list((course / "grading" / NAME).glob("*.json")):
                    busy = [w for w, keys in client.processing().items() if keys and w in pids]
                    if busy:
                        os.kill(pids[busy[0]], signal.SIGKILL)
                        return
                time.sleep(0.01)
        finally:
            client.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_cluster_grades_as_the_local_pool_does(graded_here, cluster):
    course, students, want = graded_here
    summary = grade_all(course, NAME, force=True, progress=False, scheduler=cluster.scheduler_address)
    assert sorted(r.student for r in summary.graded) == students and summary.problems == {}
    assert grades(course, students) == want
    totals = {s: sum(score for score, _ in g.values()) for s, g in want.items()}
    full = max(totals.values())
    assert [totals[s] == full for s in students] == [int(s[1:]) % 3 == 0 for s in students]
    assert [totals[s] == 0 for s in students] == [int(s[1:]) % 3 == 2 for s in students]
    again = grade_all(course, NAME, progress=False, scheduler=cluster.scheduler_address)  # nothing changed
    assert again.graded == [] and sorted(again.skipped) == students
    assert grades(course, students) == want


def test_a_worker_killed_mid_batch_loses_and_doubles_no_grade(graded_here, cluster):
    course, students, want = graded_here
    done = threading.Event()
    killer = kill_a_worker_once_grading_started(course, cluster.scheduler_address, done)
    for record in (course / "grading" / NAME).glob("*.json"):
        record.unlink()  # so that the killer waits for this run's first result
    try:
        summary = grade_all(course, NAME, force=True, progress=False, scheduler=cluster.scheduler_address)
    finally:
        done.set()
        killer.join()
    assert sorted(r.student for r in summary.graded) == students, "each student graded exactly once"
    assert summary.problems == {} and not any(r.flags for r in summary.graded)
    assert grades(course, students) == want
    assert all(read_record(course, NAME, s)["scores"] for s in students)


def test_a_job_lost_on_every_try_is_a_flagged_zero_for_its_student_alone(graded_here, tmp_path):
    import dask

    course, students, want = graded_here
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        for record in (course / "grading" / NAME).glob("*.json"):
            record.unlink()
        done = threading.Event()
        killer = kill_a_worker_once_grading_started(course, cluster.scheduler_address, done)
        try:
            summary = grade_all(course, NAME, force=True, progress=False, scheduler=cluster.scheduler_address)
        finally:
            done.set()
            killer.join()
    lost = {s for s, lines in summary.problems.items() if any("failed on every try" in line for line in lines)}
    assert lost, summary.problems
    assert sorted(r.student for r in summary.graded) == students
    got = grades(course, students)
    for s in students:
        if s in lost:
            assert all(score == 0 for score, _ in got[s].values())
            assert any("grading failed" in f for f in read_record(course, NAME, s)["flags"])
        else:
            assert got[s] == want[s], s
    grade_all(course, NAME, force=True, progress=False)  # leave the class as graded_here has it
    assert grades(course, students) == want


def test_a_scheduler_that_does_not_answer_is_a_clear_error_and_nothing_is_written(tmp_path, monkeypatch):
    from autograder import cluster as K

    course = tmp_path / "course"
    commands.release(course=course, names=[NAME], log=lambda *_: None)
    C.synthetic_class(course, NAME, 3)
    before = sorted((p, p.stat().st_mtime_ns) for p in course.rglob("*"))
    monkeypatch.setattr(K, "CONNECT_SECONDS", 2)
    monkeypatch.setattr(K.connect, "__defaults__", (2,))
    monkeypatch.setenv("RNN_SCHEDULER", "tcp://127.0.0.1:9")  # the discard port: nobody listens
    with pytest.raises(commands.CommandError, match=r"no Dask scheduler answers at tcp://127\.0\.0\.1:9"):
        commands.grade(course=course, name=NAME, progress=False, log=lambda *_: None)
    assert sorted((p, p.stat().st_mtime_ns) for p in course.rglob("*")) == before


def test_a_second_grade_on_the_same_course_is_refused(tmp_path):
    course = tmp_path / "course"
    commands.release(course=course, names=["bptt"], log=lambda *_: None)
    source = nbformat.read(course / "source" / "bptt" / "bptt.ipynb", as_version=4)
    for i in range(8):
        C.submit(course, f"b{i}", "bptt", source)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "bptt", "--course", str(course),
                              "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lock = course / ".grade.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = subprocess.run([sys.executable, "-m", "autograder", "grade", "bptt", "--course", str(course)],
                            capture_output=True, text=True, env=env)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert f"another `grade` is running on {course.resolve()} (pid {first.pid}" in second.stderr, second.stderr
    assert "graded 8 submission(s)" in out
    third = subprocess.run([sys.executable, "-m", "autograder", "grade", "bptt", "--course", str(course)],
                           capture_output=True, text=True, env=env)
    assert third.returncode == 0 and "skipped 8 already graded" in third.stdout, third.stderr
    assert not lock.exists()
