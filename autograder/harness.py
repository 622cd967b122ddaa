"""The harness that hidden test cells call: `check(name, fn, **helpers)`.

This file is the kernel's side of grading and holds nothing secret: it asks a grading backend for the
hidden cases of `name`, runs the student's function on each under one calling protocol, turns what it
returns into plain data, and hands that to the backend's judge. In the kernel of a course's own
machine the backend is `autograder.checks`, which compares against the reference in the same process;
the sandboxed grader replaces it with one that only writes the plain data out for a trusted process.
"""
import copy
import warnings

import numpy as np

# How a case is run: "call" returns what fn returns; "forward" drops the trailing cache; "backward"
# runs helpers["forward"] on the case's forward_args first and passes its cache after the douts;
# "search" builds the model from its description and passes it first.
PROTOCOLS = ("call", "forward", "backward", "search")


class Case(dict):
    """One hidden case: protocol, args, kwargs, forward_args, douts, model, label (plain data)."""

    __getattr__ = dict.get


def make_model(spec):
    """A next-token model from its plain description {"kind": ..., ...}; returns prefix -> (V,) log-probs."""
    if spec["kind"] == "random":
        V, seed, temperature = spec["V"], spec["seed"], spec.get("temperature", 1.0)
        eos, eos_shift = spec.get("eos", 0), spec.get("eos_shift", 0.0)

        def next_logprobs(prefix):
            logits = np.random.default_rng([seed, len(prefix), *prefix]).standard_normal(V) / temperature
            logits[eos] += eos_shift
            return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()

        return next_logprobs
    if spec["kind"] == "table":
        table = {tuple(k): np.asarray(v, dtype=np.float64) for k, v in spec["table"]}
        default = np.asarray(spec["default"], dtype=np.float64)

        def next_logprobs(prefix):
            with np.errstate(divide="ignore"):
                return np.log(table.get(tuple(prefix), default))

        return next_logprobs
    raise ValueError(f"unknown model kind {spec['kind']!r}")


def to_plain(obj, depth=0):
    """Plain data (numbers, numpy arrays, lists, dicts, strings) from what a student's function returned."""
    if depth > 6:
        return {"__unreadable__": "nested too deeply"}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return np.array(obj, copy=True)
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        return obj.detach().cpu().double().numpy().copy() if obj.is_floating_point() else obj.detach().cpu().numpy().copy()
    if isinstance(obj, dict):
        return {str(k): to_plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, depth + 1) for v in obj]
    if all(hasattr(obj, a) for a in ("tokens", "logprob", "score", "finished")):
        return {"tokens": [int(v) for v in obj.tokens], "logprob": float(obj.logprob),
                "score": float(obj.score), "finished": bool(obj.finished)}
    return {"__unreadable__": f"an object of type {type(obj).__name__}"}


def run_case(case, fn, helpers):
    """Run fn on one case; return {"outputs": ..., "inputs_changed": [...]} or {"error": "..."}."""
    args = copy.deepcopy(list(case.get("args", ())))
    kwargs = copy.deepcopy(case.get("kwargs", {}) or {})
    before = copy.deepcopy(args)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a warning on stderr would fail the cell for the wrong reason
            protocol = case["protocol"]
            if protocol == "backward":
                forward = helpers.get("forward")
                if forward is None:
                    return {"error": "the grader needs the matching forward function (harness misuse)"}
                out = forward(*copy.deepcopy(list(case["forward_args"])))
                if not isinstance(out, tuple) or len(out) < 2:
                    return {"error": f"{getattr(forward, '__name__', 'the forward')} must return (out, cache)"}
                result = fn(*copy.deepcopy(list(case["douts"])), out[-1])
            elif protocol == "search":
                result = fn(make_model(case["model"]), *args, **kwargs)
            else:
                result = fn(*args, **kwargs)
            if protocol == "forward":
                if not isinstance(result, tuple) or len(result) < 2:
                    return {"error": f"{getattr(fn, '__name__', 'the function')} must return a tuple ending with the cache"}
                result = result[:-1]
    except Exception as exc:  # the student's code failed: report it, never pass
        return {"error": f"{type(exc).__name__}: {str(exc)[:1500]}{_line_of(exc)}"}
    changed = [i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)]
    return {"outputs": to_plain(result), "inputs_changed": changed}


def _line_of(exc):
    """' [in f, line n: code]' for the innermost frame of the student's own code that the exception left
    (libraries, the standard library and this harness aside); '' when there is none."""
    import os
    import traceback

    libraries = tuple(os.path.dirname(os.path.dirname(m.__file__)) for m in (os, np)) + (__file__,)
    mine = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(libraries)]
    if not mine:
        return ""
    frame = mine[-1]
    code = f": {frame.line.strip()[:80]}" if frame.line else ""
    return f" [in {frame.name}, line {frame.lineno}{code}]"


def _same(a, b):
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if type(a).__module__.startswith("torch") and hasattr(a, "detach") and type(b) is type(a):
        return a.shape == b.shape and a.dtype == b.dtype and bool(a.detach().eq(b.detach()).logical_or(
            a.detach().ne(a.detach()) & b.detach().ne(b.detach())).all())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:
        return False


def _backend():
    """The grading backend: the sandbox's channel where the sandboxed grader runs this kernel (it ships
    that module beside a copy of this file), else the in-process judge of a course's own machine."""
    try:
        from autograder import _sandbox_channel
    except ImportError:
        from autograder import checks

        return checks
    return _sandbox_channel


def check(name, fn, **helpers):
    """Grade `fn` on the hidden cases named `name`; fails (AssertionError) with a diagnosis when wrong."""
    backend = _backend()
    results = [run_case(case, fn, helpers) for case in backend.cases(name)]
    backend.judge(name, results)
