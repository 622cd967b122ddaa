"""The harness that hidden test cells call: `check(name, fn, **helpers)`.

This file is the kernel's side of grading and holds nothing secret: it asks a grading backend for the
hidden cases of `name`, runs the student's function on each under one calling protocol, turns what it
returns into plain data, and hands that to the backend's judge. In the kernel of a course's own
machine the backend is `autograder.checks`, which compares against the reference in the same process;
the sandboxed grader replaces it with one that only writes the plain data out for a trusted process.
"""
import copy
import sys
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
        return (obj.detach().cpu().double().numpy().copy() if obj.is_floating_point()
                else obj.detach().cpu().numpy().copy())
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
    calls, undo = None, []
    kwargs = copy.deepcopy(case.get("kwargs", {}) or {})
    before = copy.deepcopy(args)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # a warning on stderr would fail the cell for the wrong reason
            helpers, undo = _stand_in(fn, helpers, case.get("standins") or {})
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
                model, calls = logged(make_model(case["model"]))
                result = fn(model, *args, **kwargs)
            else:
                result = fn(*args, **kwargs)
            if protocol == "forward":
                if not isinstance(result, tuple) or len(result) < 2:
                    return {"error": f"{getattr(fn, '__name__', 'the function')} "
                                     "must return a tuple ending with the cache"}
                result = result[:-1]
    except Exception as exc:  # the student's code failed: report it, never pass
        return {"error": f"{type(exc).__name__}: {str(exc)[:1500]}{_line_of(exc)}"}
    finally:
        for namespace, name, value in reversed(undo):
            if value is _ABSENT:
                namespace.pop(name, None)
            else:
                namespace[name] = value
    changed = [i for i, (a, b) in enumerate(zip(args, before)) if not _same(a, b)]
    out = {"outputs": to_plain(result), "inputs_changed": changed}
    if calls is not None:
        out["calls"] = calls
    return out


def call_arguments(args, kwargs):
    """A call's arguments as plain data: the positional ones, then the keyword ones in the order of their names;
    a torch module as its weights (named as in the notebook's model)."""
    return to_plain([_weights(a) for a in list(args) + [kwargs[k] for k in sorted(kwargs)]])


def _weights(obj):
    if hasattr(obj, "notebook_state"):
        return obj.notebook_state()
    if hasattr(obj, "named_parameters") and hasattr(obj, "state_dict"):
        return dict(obj.state_dict())
    return obj


def _stand_in(fn, helpers, standins):
    """Helpers and the names fn's module sees, with the reference's values standing in for the parts named in
    `standins` ({function name: [[arguments, result], ...]}); returns (helpers, [(namespace, name, old value)])
    to put back afterwards. A helper given by its name is the function of that name in fn's module."""
    namespace = getattr(fn, "__globals__", None)

    def helper(value):
        name = value if isinstance(value, str) else getattr(value, "__name__", None)
        value = _function(namespace, value) if isinstance(value, str) else value
        return standing_in(value, standins[name]) if name in standins else value

    helpers = {k: helper(v) for k, v in helpers.items()}
    undo = []
    for name, entries in standins.items():
        if isinstance(namespace, dict):
            undo.append((namespace, name, namespace.get(name, _ABSENT)))
            namespace[name] = standing_in(_function(namespace, name), entries)
    return helpers, undo


_ABSENT = object()


def _function(namespace, name):
    """The function `name` of the notebook's namespace; where the notebook has none (a function from an
    earlier assignment that was not pasted in), one that says so when it is called."""
    found = namespace.get(name) if isinstance(namespace, dict) else None
    if callable(found):
        return found

    def missing(*args, **kwargs):
        raise NameError(f"name {name!r} is not defined: paste your {name} into this notebook")

    missing.__name__ = name
    return missing


def standing_in(part, entries):
    """`part`, except that a call with the arguments of a recorded call returns the recorded result (as tensors
    where the arguments are tensors); any other call goes to `part` itself."""
    def part_or_record(*args, **kwargs):
        arguments = call_arguments(args, kwargs)
        for recorded, result, *gradients in entries:
            if _close(arguments, recorded):
                value = _like(copy.deepcopy(result), [args, kwargs])
                return _carrying(value, gradients[0], args) if gradients and gradients[0] else value
        return part(*args, **kwargs)

    part_or_record.__name__ = getattr(part, "__name__", "part")
    return part_or_record


def _carrying(value, gradients, args):
    """A recorded tensor result that also carries the recorded gradients back to the call's tensors and to the
    weights of its module: value + g / |g|^2 * sum over tensors t of <vjp_t, t - t.detach()>, where g is the
    upstream gradient the reference's loss sent the result and vjp_t what went on to t. Its value is the
    recorded one; when the student's loss sends back g, each t receives exactly the reference's vjp_t."""
    torch = sys.modules["torch"]
    g = torch.as_tensor(gradients["upstream"], dtype=value.dtype)
    norm = (g * g).sum()
    if not float(norm) > 0:
        return value
    total = value.new_zeros(())
    for i, vjp in gradients["inputs"].items():
        t = args[int(i)]
        if torch.is_tensor(t) and t.requires_grad:
            total = total + ((t - t.detach()) * torch.as_tensor(vjp, dtype=t.dtype)).sum()
    module = next((a for a in args if hasattr(a, "named_parameters")), None)
    for name, weight in module.named_parameters() if module is not None else ():
        if name in gradients["weights"]:
            vjp = torch.as_tensor(gradients["weights"][name], dtype=weight.dtype)
            total = total + ((weight - weight.detach()) * vjp).sum()
    return value + g / norm * total


def _close(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape):
            return False
        if a.dtype.kind in "biu" or b.dtype.kind in "biu":
            return np.array_equal(a, b)
        return bool(np.allclose(a, b, rtol=1e-8, atol=1e-10, equal_nan=True))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _like(value, arguments):
    """value with its arrays as torch tensors when the arguments hold tensors (torch's own functions then
    take it), else as it is."""
    torch = sys.modules.get("torch")
    if torch is None or not _holds_tensor(arguments):
        return value

    def convert(v):
        if isinstance(v, np.ndarray):
            return torch.as_tensor(v)
        if isinstance(v, (tuple, list)):
            return type(v)(convert(x) for x in v)
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return convert(value)


def _holds_tensor(value, depth=0):
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return True
    if depth < 4 and isinstance(value, (tuple, list)):
        return any(_holds_tensor(v, depth + 1) for v in value)
    if depth < 4 and isinstance(value, dict):
        return any(_holds_tensor(v, depth + 1) for v in value.values())
    return False


CALLS_KEPT, PREFIX_KEPT = 120, 16  # how much of a search's model calls `logged` keeps


def logged(model, limit=CALLS_KEPT, longest=PREFIX_KEPT):
    """The model, and the list of prefixes it is asked for, in order (the first `limit` calls, each cut to
    `longest` tokens): what a search did, as plain data, for the judge to compare with the reference's."""
    calls = []

    def next_logprobs(prefix):
        if len(calls) < limit:
            try:
                calls.append([int(v) for v in list(prefix)[:longest]])
            except Exception:  # a prefix that is not a sequence of token ids: the model will say so
                calls.append([])
        return model(prefix)

    return next_logprobs, calls


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
    name = next((f.name for f in reversed(mine) if f.name.isidentifier()), frame.name)  # not <listcomp>
    return f" [in {name}, line {frame.lineno}{code}]"


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
    """Grade `fn` on the hidden cases named `name`; fails (AssertionError) with a diagnosis when wrong. A helper
    given by name (forward="rnn_forward") is looked up in fn's module when the check runs."""
    backend = _backend()
    results = [run_case(case, fn, helpers) for case in backend.cases(name)]
    backend.judge(name, results, getattr(fn, "__globals__", None))
