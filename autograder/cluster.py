"""The grading jobs of `grade --scheduler ADDRESS` on a Dask cluster (dask.distributed).

A grading job is a function from a submission's bytes to scores, messages and flags; here Dask's
workers run it, and the coordinator (autograder.coordinator.grade_all) stays the only writer of the
gradebook, storing each result as it arrives. A worker needs this package with its pinned requirements
(the reference `solutions` included: it judges on the trusted side, never inside the box) and
bubblewrap; the source notebook and the files shipped beside the notebook travel with the jobs, sent
once to every worker. On a worker each job runs as it does locally: in a forked process of its own with
the trusted side's memory and time limits, the student's code in a box.

Dask runs again elsewhere a job whose worker was lost (killed, its machine gone); a job that fails on
every try (Dask's `allowed-failures`) becomes a flagged zero for its student alone.
"""
import multiprocessing
import os

SCHEDULER_ENV = "RNN_SCHEDULER"
CONNECT_SECONDS = 10


class SchedulerError(RuntimeError):
    """No Dask scheduler answers at the address given."""


def scheduler_address(given=None):
    """The address to use: the one given, else $RNN_SCHEDULER, else None (grade locally)."""
    return given or os.environ.get(SCHEDULER_ENV) or None


def connect(address, timeout=CONNECT_SECONDS):
    """A dask.distributed Client of the scheduler at `address`; SchedulerError when none answers."""
    from distributed import Client

    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerError(f"no Dask scheduler answers at {address} within {timeout} s ({exc}); nothing was "
                             "graded. Start one with `dask scheduler` and workers with `dask worker ADDRESS "
                             "--nthreads 1`, or grade here without --scheduler") from None
    if not client.scheduler_info().get("workers"):
        client.wait_for_workers(1, timeout=timeout * 6)
    return client


def run_jobs_on(client, course, jobs, limits, prints, on_result):
    """Run each job ({"submission", "timestamp", "kwargs"}, as grade_all makes them) on the cluster and call
    `on_result(submission, timestamp, JobResult or None, why)` once per job, in this process, as results
    arrive. Raises IsolationError, with nothing graded, when a worker cannot box student code."""
    from distributed import as_completed

    from autograder.sandbox import IsolationError

    if not jobs:
        return
    shared = {key: jobs[0]["kwargs"][key] for key in ("source_json", "assignment", "files", "limits", "unsafe",
                                                      "forbidden", "others")}
    shared.update(course=str(course), prints=[list(p) for p in prints])
    if not shared["unsafe"]:
        refusals = [why for why in client.run(prove_worker, shared).values() if why]
        if refusals:
            raise IsolationError(refusals[0])
    [common] = client.scatter([shared], broadcast=True)
    futures = {}
    for job in jobs:
        own = {key: job["kwargs"][key] for key in ("data", "student", "filename")}
        future = client.submit(grade_job, common, own, pure=False,
                               key=f"grade-{shared['assignment']}-{own['student']}-{os.urandom(4).hex()}")
        futures[future] = job
    for future in as_completed(list(futures), loop=client.loop):
        job = futures.pop(future)
        try:
            status, payload = future.result()
        except Exception as exc:  # noqa: BLE001  lost on every try (KilledWorker) or failed outside the job
            status, payload = "failed", f"failed on every try: {type(exc).__name__}: {str(exc)[:300]}"
        future.release()
        if status == "isolation":
            for rest in futures:
                rest.cancel()
            raise IsolationError(payload)
        on_result(job["submission"], job["timestamp"], payload if status == "ok" else None, payload)


_PROVEN = {}


def prove_worker(shared):
    """On a worker: why this machine cannot box student code ('' when it can), proved once per process."""
    from autograder.coordinator import prove_isolation
    from autograder.sandbox import IsolationError

    key = (shared["course"], repr(shared["prints"]), repr(sorted(shared["files"])))
    if key not in _PROVEN:
        try:
            prove_isolation(shared["course"], shared["files"], shared["limits"], _forbidden(shared),
                            prints=shared["prints"])
            _PROVEN[key] = ""
        except IsolationError as exc:
            _PROVEN[key] = f"worker {os.uname().nodename} (pid {os.getpid()}): {exc}"
    return _PROVEN[key]


def _forbidden(shared):
    """The paths the box must not see: the coordinator's, and this worker's own copy of the reference."""
    from autograder.coordinator import forbidden_paths

    return sorted(set(shared["forbidden"]) | set(forbidden_paths(shared["course"])))


def grade_job(shared, own):
    """On a worker: grade one submission as the local pool does, in a forked process with its limits.
    Returns ("ok", JobResult), ("failed", why) or ("isolation", why)."""
    from autograder.coordinator import run_jobs
    from autograder.judge import load_specs
    from autograder.sandbox import IsolationError

    if not shared["unsafe"]:
        refusal = prove_worker(shared)
        if refusal:
            return "isolation", refusal
    load_specs()  # before the fork, so that the job starts with the reference loaded
    kwargs = {key: shared[key] for key in ("source_json", "assignment", "files", "limits", "unsafe", "others")}
    kwargs.update(own, forbidden=_forbidden(shared))
    out = []
    me = multiprocessing.current_process()
    daemon, me.daemon = me.daemon, False  # Dask's worker processes are daemons, which multiprocessing lets
    try:                                  # fork nothing; the job's process dies with the worker all the same
        run_jobs([{"submission": None, "timestamp": None, "kwargs": kwargs}], 1, shared["limits"],
                 lambda submission, timestamp, result, why: out.append((result, why)))
    except IsolationError as exc:
        return "isolation", f"worker {os.uname().nodename} (pid {os.getpid()}): {exc}"
    finally:
        me.daemon = daemon
    result, why = out[0]
    return ("ok", result) if result is not None else ("failed", why)
