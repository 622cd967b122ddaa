"""The trusted side of grading: hidden cases per student, comparison with the reference, diagnosis.

A check is registered with `@spec(name, ...)` by the modules in autograder/specs/; its case maker
draws hidden inputs from a seed derived from the student's id and the check's name, so two students
never face identical numbers while a regrade faces the same ones. `evaluate` compares what the
student's function returned (plain data from autograder.harness.run_case) with what the reference
returns on the same cases, and, where the numbers match a catalogued mistake, names that mistake.
"""
import copy
import functools
import hashlib
import importlib
import inspect
import pickle
import pkgutil
from dataclasses import dataclass, field

import numpy as np

from autograder.harness import Case, call_arguments, run_case

TOLERANCE = 1e-6
SPECS = {}
CORE = "\0core"  # the id whose seed draws the cases every student faces (no student id holds a NUL)


@dataclass
class Mistake:
    """A known wrong implementation: its id, the message a student gets, and the buggy function.

    `submission` is (assignment, solution cell id, code): the mistake written as a student would
    write it, pasted into that solution cell of the reference notebook by the tests.
    """

    id: str
    message: str
    fn: object
    helpers: dict = field(default_factory=dict)
    submission: tuple = None
    where: str = ""  # e.g. "(in rnn_backward) " when seen through a larger function
    charged: bool = True  # False where the larger function is judged with stand-ins for the smaller one


def variant_mistake(id, message, variant, bug, assignment, cell, function, params, helpers=None):
    """A Mistake from a variant implementation `variant(..., bug=None)`, with its submission code.

    `function` and `params` give the student's function as a student would define it, e.g.
    "rnn_backward" and "dh, cache"; the submission is the variant's source plus that function.
    """
    call = ", ".join(p.split("=")[0].strip() + ("=" + p.split("=")[0].strip() if "=" in p else "")
                     for p in params.split(","))
    code = (inspect.getsource(variant) + f"\n\ndef {function}({params}):\n"
            f"    return {variant.__name__}({call}, bug={bug!r})\n")

    def buggy(*args, **kwargs):
        return variant(*args, bug=bug, **kwargs)

    buggy.__name__ = f"{function}[{id}]"
    return Mistake(id, message, buggy, dict(helpers or {}), (assignment, cell, code))


def lifted(mistake, wrap, message_prefix="", charged=True):
    """The same mistake seen through a larger function: wrap(fn) builds the larger function around it.

    `charged=False` where the larger check stands in the reference's values for the function that holds the
    mistake (see Spec.parts): a student who makes it there keeps the larger check's points, and the mistake
    is recognised here only when the student writes it into the larger function itself."""
    return Mistake(mistake.id, mistake.message, wrap(mistake.fn), mistake.helpers, mistake.submission, message_prefix,
                   charged)


def uncharged(mistakes):
    """The mistakes, marked as recognised but not charged to the check that lists them (see lifted)."""
    return [Mistake(m.id, m.message, m.fn, m.helpers, m.submission, m.where, False) for m in mistakes]


def catalogue(assignment=None):
    """{mistake id: (message, [check names], submission)} over every registered check."""
    load_specs()
    out = {}
    for s in SPECS.values():
        for m in s.mistakes:
            entry = out.setdefault(m.id, [m.message, [], None])
            if m.charged:
                entry[1].append(s.name)
            if m.submission:
                entry[0], entry[2] = m.message, m.submission
    return {k: tuple(v) for k, v in out.items() if assignment is None or (v[2] and v[2][0] == assignment)}


@dataclass
class Spec:
    name: str
    function: str  # the student's function, for messages
    protocol: str
    make_cases: object  # rng -> list of Case
    reference: object  # the reference function, run through the same protocol
    outputs: tuple = ()  # names of the returned values, in order
    helpers: dict = field(default_factory=dict)  # e.g. {"forward": reference forward}
    mistakes: list = field(default_factory=list)
    tolerance: float = TOLERANCE
    blocks: tuple = ()  # (labels, outputs): equal column blocks of those outputs' last axis, e.g. the gates
    explain: object = None  # (cases, results, reference results) -> lines saying where a failing result goes wrong
    rounds: int = 2  # how many times the case maker runs on the student's seed, after once on the shared seed
    parts: tuple = ()  # the student's functions it calls, which the reference's values may stand in for
    given: tuple = ()  # those of its parts that an earlier assignment grades: the reference's values always stand in
    build: object = None  # build(record) -> (reference, helpers) assembled from parts wrapped by record(name, fn)
    core: bool = True  # whether every student also faces one round drawn from a seed shared by all
    probes: bool = True  # whether the first case comes again with each input array set to zero in turn
    stock: object = None  # the reference with the notebook's own API (see autograder.checks.judge)


@dataclass
class Verdict:
    passed: bool
    message: str
    mistake: str = None  # id of the diagnosed mistake, if any


def spec(name, function, protocol, reference, outputs=(), helpers=None, mistakes=(), tolerance=TOLERANCE,
         blocks=(), explain=None, rounds=2, core=True, parts=None, build=None, probes=True, stock=None, given=()):
    """Decorator registering a case maker as the check `name`. `blocks` is (labels, output names): the last
    axis of those outputs is made of equal blocks, one per label (the gates of an LSTM or GRU, the two
    directions of a BRNN), which the diagnosis judges one by one. `explain(cases, results, references)` gives
    lines of its own on where a failing result goes wrong (a search's steps, from its log of model calls).

    A student's cases are the maker's cases on a seed all students share (`core`: its fixed cases and one
    draw of its random ones, so that the same code meets the same cases whoever submits it), then `rounds`
    draws from the student's own seed; a case met twice is kept once.

    `parts` names the student's own functions that the checked one calls (a backward's forward helper among
    them); `build(record)` returns the reference and its helpers assembled from the reference's versions of
    those parts, each wrapped as record(name, part). When one of the parts failed its own check, each case
    carries what the reference's part returned on the way to the reference's result (`standins`), and the
    harness lets those values stand in for the student's part wherever it is called with the same
    arguments: a right function keeps its points although a function it calls is wrong, and the mistake is
    charged once, where it is made. The parts named in `given` are functions an earlier assignment grades,
    which the student pastes into this notebook: their values always stand in, so that a mistake made in an
    earlier assignment (or a function not pasted at all) costs nothing here."""
    def register(make_cases):
        if name in SPECS:
            raise ValueError(f"check {name!r} is registered twice")
        SPECS[name] = Spec(name, function, protocol, make_cases, reference, tuple(outputs), dict(helpers or {}),
                           list(mistakes), tolerance, tuple(blocks), explain=explain, rounds=rounds, core=core,
                           parts=tuple(dict.fromkeys((*(parts or ()), *given))), build=build, probes=probes,
                           stock=stock, given=tuple(given))
        return make_cases
    return register


def load_specs():
    """Import every module of autograder.specs so that its checks are registered."""
    from autograder import specs

    for info in pkgutil.iter_modules(specs.__path__):
        importlib.import_module(f"autograder.specs.{info.name}")
    return SPECS


def get_spec(name):
    load_specs()
    if name not in SPECS:
        raise KeyError(f"no check named {name!r}; known: {sorted(SPECS)}")
    return SPECS[name]


def seed_for(student, name):
    """A seed from the student's id and the check's name: stable across regrades, distinct across students."""
    return int(hashlib.sha256(f"{student}\0{name}".encode()).hexdigest()[:15], 16)


def make_cases(name, student):
    s = get_spec(name)
    seeds = [seed_for(CORE, name)] if s.core else []
    seeds += [seed_for(student, name if r == 0 else f"{name}#{r}") for r in range(s.rounds)]
    cases, seen = [], set()
    for seed in seeds:
        for c in s.make_cases(np.random.default_rng(seed)):
            key = hashlib.sha256(pickle.dumps(sorted(dict(c).items(), key=lambda kv: kv[0]))).digest()
            if key not in seen:
                seen.add(key)
                cases.append(Case(c))
    for c in cases:
        c.setdefault("protocol", s.protocol)
    if s.probes and s.protocol in ("call", "forward") and cases:
        cases += probes_of(s, cases[0])
    return cases


def probes_of(s, case):
    """The case again with each of its float input arrays (at the top level or in a dict) set to zero in turn:
    which of them makes a wrong function right says which term of its formula holds the error."""
    try:
        names = [p.name for p in inspect.signature(s.reference).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    out = []
    for k, arg in enumerate(case.get("args") or ()):
        slots = ([(None, arg)] if isinstance(arg, np.ndarray) else list(arg.items()) if isinstance(arg, dict)
                 else list(enumerate(arg)) if isinstance(arg, tuple) else [])
        whole = names[k] if k < len(names) else f"argument {k + 1}"
        for key, value in slots:
            if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.any(value)):
                continue
            name = whole if key is None else f"{whole}[{key}]" if isinstance(arg, tuple) else key
            zeroed = np.zeros_like(value)
            new = list(case["args"])
            new[k] = (zeroed if key is None else {**arg, key: zeroed} if isinstance(arg, dict)
                      else tuple(zeroed if i == key else v for i, v in enumerate(arg)))
            label = f"{case['label']}, with {name} = 0" if case.get("label") else f"with {name} = 0"
            out.append(Case(case, args=tuple(new), label=label, probe=name))
    return out


@functools.lru_cache(maxsize=64)
def expected_results(name, student):
    """(cases, the reference's results on them) of the check `name` for `student`."""
    s = get_spec(name)
    cases = make_cases(name, student)
    return cases, [run_case(case, s.reference, s.helpers) for case in cases]


def failed_functions(earlier):
    """The student's functions that failed a check judged so far ({check name: passed} -> names)."""
    return {SPECS[n].function for n, ok in earlier.items() if not ok and n in SPECS}


def cases_for(name, student, earlier=None):
    """The hidden cases of `name` as the student's kernel gets them: with stand-ins for the parts that
    failed their own checks and for the parts an earlier assignment grades (see spec's `parts`, `given`)."""
    s = get_spec(name)
    cases = expected_results(name, student)[0]
    failed = failed_functions(earlier or {})
    wanted = [part for part in s.parts if part in failed or part in s.given]
    if not wanted:
        return cases
    records = _records(name, student)
    return [Case(case, standins={part: record[part] for part in wanted}) for case, record in zip(cases, records)]


def given_references(name):
    """{part: the reference's function} for the parts of check `name` that an earlier assignment grades (see
    spec's `given`), as its `build` assembles the reference from them."""
    s = get_spec(name)
    found = {}

    def record(part, fn, gradients=False):
        found.setdefault(part, fn)
        return fn

    if s.given:
        s.build(record)
    return {part: found[part] for part in s.given}


@functools.lru_cache(maxsize=16)
def _records(name, student):
    """For each case of `name`, {part: [[arguments, what the reference's part returned], ...]} along the
    reference's own computation, as plain data."""
    s = get_spec(name)
    out = []
    for case in expected_results(name, student)[0]:
        logs = {part: [] for part in s.parts}
        reference, helpers = s.build(lambda part, fn, gradients=False: _recording(fn, logs[part], gradients))
        run_case(case, reference, helpers)
        out.append(logs)
    return out


def forward_part(name, reference, forward):
    """The `build` of a backward check whose only part is its forward, the student's function `name`."""
    return lambda record: (reference, {"forward": record(name, forward)})


def _recording(fn, log, gradients=False):
    """fn, logging each call's arguments and result; with `gradients`, for a tensor result, also what the
    backward pass later sends it and on to the call's tensors and its module's weights (harness._carrying)."""
    def recorded(*args, **kwargs):
        result = fn(*args, **kwargs)
        log.append([call_arguments(args, kwargs), copy.deepcopy(_as_numpy(result))])
        if gradients:
            log[-1].append(_gradients_to_come(fn, args, kwargs, result))
        return result
    return recorded


def _gradients_to_come(fn, args, kwargs, result):
    """A dict that the backward pass through `result` fills: the upstream gradient it receives, and the
    vector-Jacobian products with the call's tensors and the weights of its module, computed on a second run
    of fn on detached copies of the tensors (so the first graph is left to the caller)."""
    import torch

    inputs = {i: a.detach().clone().requires_grad_() for i, a in enumerate(args)
              if torch.is_tensor(a) and a.requires_grad}
    module = next((a for a in args if hasattr(a, "named_parameters")), None)
    named = (module.parameter_names() if hasattr(module, "parameter_names")
             else dict(module.named_parameters()) if module is not None else {})
    again = fn(*[inputs.get(i, a) for i, a in enumerate(args)], **kwargs)
    slot = {}

    def hook(g):
        tensors = list(inputs.values()) + list(named.values())
        vjps = torch.autograd.grad(again, tensors, g, allow_unused=True)
        vjps = [np.zeros(tuple(t.shape)) if v is None else v.detach().numpy().copy() for t, v in zip(tensors, vjps)]
        slot.update(upstream=g.detach().numpy().copy(), inputs=dict(zip(inputs, vjps)),
                    weights=dict(zip(named, vjps[len(inputs):])))

    result.register_hook(hook)
    return slot


def _as_numpy(value):
    """A part's result with tensors as numpy arrays, tuples kept as tuples (a cache is read by position)."""
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_as_numpy(v) for v in value)
    if isinstance(value, dict):
        return {k: _as_numpy(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------- comparison


def compare(got, want, path, tol):
    """Return a list of (path, problem) where got differs from want; both are plain data."""
    if isinstance(got, dict) and "__unreadable__" in got:
        return [(path, f"returned {got['__unreadable__']}")]
    if isinstance(want, np.ndarray):
        if not isinstance(got, (np.ndarray, int, float)) or isinstance(got, bool):
            return [(path, f"should be an array of shape {want.shape}, got {_describe(got)}")]
        got = np.asarray(got)
        if got.shape != want.shape:
            return [(path, f"has shape {got.shape}, expected {want.shape}")]
        if want.dtype.kind in "biu":
            return [] if np.array_equal(got, want) else [(path, "holds the wrong integers")]
        if not np.all(np.isfinite(got)) and np.all(np.isfinite(want)):
            return [(path, "contains NaN or inf")]
        err = _rel_error(got.astype(np.float64), want)
        return [] if err < tol else [(path, f"relative error {err:.3g}")]
    if isinstance(want, bool) or want is None or isinstance(want, str):
        return [] if got == want else [(path, f"is {got!r}, expected {want!r}")]
    if isinstance(want, (int, float)):
        if isinstance(got, np.ndarray) and got.size == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return [(path, f"should be a number, got {_describe(got)}")]
        if isinstance(want, int) and isinstance(got, int):
            return [] if got == want else [(path, f"is {got}, expected {want}")]
        err = _rel_error(np.float64(got), np.float64(want))
        return [] if err < tol else [(path, f"is {got:.6g}, expected {want:.6g} (relative error {err:.3g})")]
    if isinstance(want, list):
        if not isinstance(got, list):
            return [(path, f"should be a sequence of {len(want)} values, got {_describe(got)}")]
        if len(got) != len(want):
            return [(path, f"has {len(got)} values, expected {len(want)}")]
        out = []
        for i, (g, w) in enumerate(zip(got, want)):
            out += compare(g, w, f"{path}[{i}]", tol)
        return out
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [(path, f"should be a dict with keys {sorted(want)}, got {_describe(got)}")]
        if set(got) != set(want):
            return [(path, f"has keys {sorted(got)}, expected {sorted(want)}")]
        out = []
        for k in want:
            out += compare(got[k], want[k], f"{path}[{k!r}]", tol)
        return out
    raise TypeError(f"cannot compare with {type(want).__name__}")


def _rel_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size == 0:
        return 0.0
    with np.errstate(invalid="ignore"):
        err = np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))
    same = (np.isinf(a) & np.isinf(b) & (np.sign(a) == np.sign(b))) | (np.isnan(a) & np.isnan(b))
    err = np.where(same, 0.0, err)
    return float(np.nanmax(np.where(np.isnan(err), np.inf, err)))


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, list):
        return f"a sequence of {len(x)} values"
    return f"a {type(x).__name__}"


def _name_outputs(problems, names):
    """Replace the leading [i] of a path by the output's name where the spec names its outputs."""
    named = []
    for path, problem in problems:
        if names and path.startswith("out[") and path[4:path.index("]")].isdigit():
            i = int(path[4:path.index("]")])
            rest = path[path.index("]") + 1:]
            label = names[i] if i < len(names) else f"output {i}"
            path = label + rest
        elif path == "out":
            path = names[0] if len(names) == 1 else "the result"
        elif names and len(names) == 1:
            path = names[0] + path[3:]
        named.append((path, problem))
    return named


def _outputs(spec_, result):
    out = result["outputs"]
    if len(spec_.outputs) > 1 and not isinstance(out, list):
        return None
    if len(spec_.outputs) == 1 and isinstance(out, list) and spec_.protocol == "forward":
        out = out[0] if len(out) == 1 else out
    return out


def evaluate(name, results, student, earlier=None):
    """Judge a student's results on the hidden cases of `name`. Returns a Verdict.

    `earlier` ({check name: passed}, the student's checks judged before this one) keeps a mistake from being
    charged to a function that passed its own check: the student made it here, not there."""
    s = get_spec(name)
    cases, references = expected_results(name, student)
    if len(results) != len(cases):
        return Verdict(False, f"{s.function}: expected results for {len(cases)} hidden cases, got {len(results)}")
    wants = [_outputs(s, w) for w in references]
    failures, gots, in_place, returned = [], [], False, None
    for i, (case, result, want) in enumerate(zip(cases, results, wants)):
        where = f"hidden case {i + 1} of {len(cases)}" + (f" ({case['label']})" if case.get("label") else "")
        gots.append(None)
        if not isinstance(result, dict) or ("error" not in result and "outputs" not in result):
            failures.append((where, "no result was recorded"))
            continue
        if "error" in result:
            failures.append((where, f"raised {result['error']}"))
            gots[-1] = _Raised(str(result["error"]).split(":")[0])
            continue
        if result.get("inputs_changed"):
            failures.append((where, f"modified its input(s) {result['inputs_changed']} in place"))
            in_place = True
            continue
        got = gots[-1] = _outputs(s, result)
        if got is None:
            failures.append((where, f"should return {len(s.outputs)} value{'s' if len(s.outputs) > 1 else ''} "
                                    f"({', '.join(s.outputs)}); it returns {_describe(result['outputs'])}"))
            returned = _describe(result["outputs"])
            continue
        problems = _name_outputs(compare(got, want, "out", s.tolerance), s.outputs)
        if problems:
            failures.append((where, "; ".join(f"{p}: {q}" for p, q in problems[:4])))
    if not failures:
        return Verdict(True, f"{s.function}: correct on all {len(cases)} hidden cases")
    where, what = failures[0]
    msg = f"{s.function} is wrong on {len(failures)} of {len(cases)} hidden cases. First, {where}: {what}."
    mistake = None if in_place else _diagnose(s, cases, gots)
    if mistake is not None:
        msg += f"\nLikely cause: {_where(mistake, s, earlier or {})}{mistake.message}"
    elif in_place:
        msg += ("\nLikely cause: the function changes an array it was given (an in-place operation such as "
                "`x += ...` or `x[...] = ...` on an input); work on a copy instead.")
    if returned:
        msg += (f"\nWhere: the function returns {returned} where {', '.join(s.outputs)} "
                f"{'is' if len(s.outputs) == 1 else 'are'} expected: check its return statement, and the order of "
                "the values it returns.")
    for line in _located(s, cases, results, references, wants, gots):
        msg += "\n" + line
    return Verdict(False, msg, mistake.id if mistake else None)


def _located(s, cases, results, references, wants, gots):
    """The lines that say where the error is. They are help, not the verdict: whatever a submission returned,
    working them out never stops the grading (a result that defeats them just gets fewer lines)."""
    lines = []
    for find in ((lambda: s.explain(cases, results, references)) if s.explain else (lambda: []),
                 lambda: localise(s, cases, wants, gots)):
        try:
            lines += find()
        except Exception:  # noqa: BLE001  an odd result (unhashable tokens, text for numbers, ...)
            pass
    return lines


def _where(mistake, s, earlier):
    """Where a lifted mistake was made: in the smaller function it names, unless that function passed its
    own check; then in this one (the student wrote the same mistake here)."""
    inner = mistake.where[len("(in "):-len(") ")] if mistake.where.startswith("(in ") else None
    if inner is None:
        return ""
    own = [n for n, other in SPECS.items() if other.function == inner and n in earlier]
    if own and all(earlier[n] for n in own):
        return f"(in {s.function} itself: {inner} passed its check) "
    return mistake.where


# ---------------------------------------------------------------------------- localisation


def _named(s, value):
    """[(name, value)] of a result's outputs, one level into dicts (e.g. grads['Whh'])."""
    names = s.outputs or ("the result",)
    values = value if len(names) > 1 and isinstance(value, list) else [value]
    out = []
    for name, v in zip(names, values):
        if isinstance(v, dict):
            out += [(f"{name}[{k!r}]", v[k]) for k in v]
        else:
            out.append((name, v))
    return out


def _input_arrays(case):
    """The arrays a case gives the function (for a backward, those its forward was run on)."""
    args = case.get("forward_args") if case.get("protocol") == "backward" else case.get("args")
    return [a for a in args or () if isinstance(a, np.ndarray)]


def _steps(case, length=None):
    """T, the number of time steps of the case's input sequence: the first (N, T, D) array among its inputs,
    else the first (N, T) array of token ids; with `length`, the first sequence of that many steps (a case
    may hold a source and a target of different lengths). None when there is none."""
    arrays = _input_arrays(case)
    found = [a.shape[1] for a in arrays if a.ndim == 3] + [a.shape[1] for a in arrays
                                                             if a.ndim == 2 and a.dtype.kind in "iu"]
    if length is not None:
        return length if length in found else None
    return found[0] if found else None


def _span(steps):
    return f"step {steps[0]}" if len(steps) == 1 else f"steps {steps[0]}..{steps[-1]}"


def step_pattern(name, wrong, T, backward):
    """One sentence on where in time an output goes wrong, for a (N, T, ...) output."""
    right = [t for t in range(T) if t not in wrong]
    if backward:
        if wrong == list(range(T)):
            return (f"{name} is wrong at every step, the last (t = {T - 1}) included: the gradient of a single "
                    "step is wrong, not only the gradient carried between steps.")
        k = wrong[-1]
        if wrong == list(range(k + 1)):
            return (f"{name} is right at {_span(right[::-1])} and wrong from step {k} down: the error enters "
                    f"through the gradient carried from step {k + 1} to step {k}.")
    else:
        if wrong == list(range(T)):
            return f"{name} is wrong from the first step (t = 0): the step itself is wrong."
        k = wrong[0]
        if wrong == list(range(k, T)):
            return (f"{name} is right at {_span(right)} and wrong from step {k} on: what is carried from step "
                    f"{k - 1} to step {k} is wrong.")
    return f"{name} is wrong at steps {', '.join(map(str, wrong[:12]))} and right at the others."


def localise(s, cases, wants, gots):
    """Lines that say where the student's results go wrong: which outputs, from which time step, and the
    smallest failing case in full."""
    def differ(got, want):
        return bool(compare(got, want, "out", s.tolerance))

    failing = [(c, w, g) for c, w, g in zip(cases, wants, gots)
               if g is not None and (isinstance(g, _Raised) or differ(g, w))]
    judged = [(c, w, g) for c, w, g in failing if not isinstance(g, _Raised)]
    lines = []
    if judged:
        case, want, got = judged[0]
        pairs = list(zip(_named(s, got), _named(s, want)))
        wrong = {n for (n, g), (_, w) in pairs if differ(g, w)}
        if isinstance(want, np.ndarray) and isinstance(got, list) and any(not differ(g, want) for g in got):
            lines.append(f"Where: the expected {s.outputs[0] if s.outputs else 'result'} is inside what the function "
                         "returned first: it returns its values in the wrong order (a forward returns (out, cache), "
                         "the cache last).")
        for i, ((ni, gi), (_, wi)) in enumerate(pairs):
            for (nj, gj), (_, wj) in pairs[i + 1:]:
                if ni in wrong and not differ(gi, wj) and not differ(gj, wi):
                    lines.append(f"Where: {ni} and {nj} are returned in each other's place; the order is "
                                 f"{', '.join(s.outputs)}.")
        if s.protocol == "backward" and len(pairs) >= 3 and len(wrong) == len(pairs):
            lines.append("Where: every gradient is wrong: the error is in what they all share, the gradient at the "
                         "pre-activation (the backward of the nonlinearity, or what comes into it), before it is "
                         "multiplied out into each of them.")
        if len(pairs) == len(_named(s, want)) and 0 < len(wrong) < len(pairs):
            bad = [n for (n, _), _ in pairs if n in wrong]
            right = [n for (n, _), _ in pairs if n not in wrong]
            lines.append(f"Where: {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} wrong; "
                         f"{', '.join(right)} {'is' if len(right) == 1 else 'are'} right.")
        for (n, g), (_, w) in pairs:
            line = (_shaped(n, g, w, case) or _scaled(n, g, w, case)) if n in wrong else None
            if line:
                lines.append(line)
        probed = _probed(s, cases, wants, gots, differ) if "probe" not in case else None
        if probed:
            lines.append(probed)
        split = _blocks(s, pairs) if s.blocks else None
        if split:
            lines.append(split)
        for (n, g), (_, w) in pairs:
            if split and n in s.blocks[1]:
                continue  # a wrong block says more than the time steps of the whole output
            if not (n in wrong and isinstance(w, np.ndarray) and isinstance(g, np.ndarray) and g.shape == w.shape
                    and w.ndim):
                continue
            T = _steps(case, w.shape[1] if w.ndim >= 3 else w.shape[0])
            if not (T and T > 1):
                continue
            axis = 1 if w.ndim >= 3 and w.shape[1] == T else 0 if w.ndim == 1 and w.shape[0] == T else None
            if axis is not None:
                steps = [t for t in range(T) if differ(np.take(g, t, axis), np.take(w, t, axis))]
                lines.append(step_pattern(n, steps, T, s.protocol == "backward"))
    smallest = _smallest_failing(s, failing, differ)
    if smallest:
        lines.append(smallest)
    return lines


def _sizes(case):
    """(N, T) of a case: the batch size (first axis of its first input of two axes or more) and the steps."""
    N = next((a.shape[0] for a in _input_arrays(case) if a.ndim >= 2), None)
    return N, _steps(case)


def _shaped(name, got, want, case):
    """A line on a wrong shape or kind of value: which axis, and what it should count."""
    if isinstance(want, np.ndarray) and isinstance(got, np.ndarray) and got.shape != want.shape:
        N, T = _sizes(case)

        def meaning(size, axis):
            said = [f"T = {T}, one per time step" if size == T else None,
                    f"N = {N}, one per example" if size == N and axis == 0 else None]
            return next((m for m in said if m), str(size))

        if got.ndim != want.ndim:
            return (f"Where: {name} has {got.ndim} axes (shape {got.shape}), expected {want.ndim}: shape {want.shape}"
                    f" ({', '.join(meaning(n, a) for a, n in enumerate(want.shape))}).")
        axis = next(a for a in range(want.ndim) if got.shape[a] != want.shape[a])
        return (f"Where: {name} has shape {got.shape}, expected {want.shape}: axis {axis} should count "
                f"{meaning(want.shape[axis], axis)}, not {got.shape[axis]}.")
    kinds = (isinstance(want, np.ndarray), isinstance(got, np.ndarray))
    if isinstance(want, (np.ndarray, int, float)) and isinstance(got, (np.ndarray, int, float, list)) \
            and kinds[0] != kinds[1] and not isinstance(got, bool):
        return (f"Where: {name} should be {_describe(want) if kinds[0] else 'a number'}; the function returns "
                f"{_describe(got)} in its place: check what is returned, and in which order.")
    return None


def _probed(s, cases, wants, gots, differ):
    """What the probe cases (one input set to zero at a time) say about where the error lies."""
    probes = [(c["probe"], differ(g, w)) for c, w, g in zip(cases, wants, gots)
              if c.get("probe") and g is not None and not isinstance(g, _Raised)]
    if not probes:
        return None
    name = s.outputs[0] if len(s.outputs) == 1 else "the result"
    right = [p for p, wrong in probes if not wrong]
    if not right:
        return (f"Where: {name} stays wrong with each of {', '.join(p for p, _ in probes)} set to zero in turn: the "
                "error lies in no single term but where they meet (the nonlinearity, or how the terms are added).")
    if len(right) == len(probes):
        return (f"Where: {name} is right whenever one of {', '.join(right)} is zero: the error is in how the terms "
                "combine (a product taken in the wrong order, or one term counted twice).")
    return (f"Where: {name} is right when {' or '.join(p + ' = 0' for p in right)} and wrong otherwise: look at the "
            f"term{'s' if len(right) > 1 else ''} with {', '.join(right)}.")


def _scaled(name, got, want, case):
    """A line when a wrong value is the right one times a constant (zero, a sign, 1/N, 1/T, ...), else None.
    For a single number only the named constants count."""
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool) and want:
        got, want = np.array([float(got)]), np.array([want])
        single = True
    else:
        single = isinstance(want, np.ndarray) and want.size == 1
    if not (isinstance(got, np.ndarray) and isinstance(want, np.ndarray) and got.shape == want.shape
            and got.dtype.kind == "f" and np.all(np.isfinite(got)) and np.any(want)):
        return None
    if not np.any(got) and not single:
        return f"Where: {name} is all zeros: it is never computed, or a zero array is returned in its place."
    c = float(np.vdot(got, want) / np.vdot(want, want))
    if abs(c - 1) < 1e-9 or _rel_error(got, c * want) > 1e-6:
        return None
    N, T = _sizes(case)
    meanings = [(-1, "the right value with the sign flipped")]
    if N and N > 1:
        meanings += [(1 / N, f"1/N times the right value (N = {N}): it is averaged over the batch where it is a sum"),
                     (N, f"N times the right value (N = {N}): a division by N is missing, or one too many")]
    if T and T > 1:
        meanings += [(1 / T, f"1/T times the right value (T = {T}): it is averaged over time where it is a sum"),
                     (T, f"T times the right value (T = {T}): it is counted once per step, or a division by T "
                         "is missing")]
    if N and T and N > 1 and T > 1:
        meanings.append((1 / (N * T), f"1/(N T) times the right value (N = {N}, T = {T}): it is averaged over the "
                                      "batch and time where it is a sum"))
    for value, text in meanings:
        if abs(c - value) <= 1e-6 * abs(value):
            return f"Where: {name} is {text}."
    if single:
        return None
    return f"Where: {name} is {c:.4g} times the right value: a constant factor is wrong or missing."


def _blocks(s, pairs):
    """Which blocks (gates, directions) of the outputs' last axis are wrong, where the others are right."""
    labels, names = s.blocks
    k = len(labels)
    wrong, checked = {}, set()
    for (name, got), (_, want) in pairs:
        if not (name in names and isinstance(want, np.ndarray) and isinstance(got, np.ndarray)
                and got.shape == want.shape and want.ndim and want.shape[-1] % k == 0):
            continue
        size = want.shape[-1] // k
        for b, label in enumerate(labels):
            part = (Ellipsis, slice(b * size, (b + 1) * size))
            checked.add(label)
            if compare(got[part], want[part], "out", s.tolerance):
                wrong.setdefault(label, []).append(name)
    if not wrong or len(wrong) == len(checked):
        return None
    right = [label for label in labels if label in checked and label not in wrong]
    parts = "; ".join(f"{label} is wrong (in {', '.join(names)})" for label, names in wrong.items())
    return f"By block: {parts}; {', '.join(right)} {'is' if len(right) == 1 else 'are'} right."


def _size(case):
    arrays = [a for key in ("args", "forward_args", "douts") for a in (case.get(key) or ())
              if isinstance(a, np.ndarray)]
    return sum(a.size for a in arrays) if arrays else None


def _show(v):
    """A value as Python that can be pasted into a cell (floats to four decimals)."""
    if isinstance(v, np.ndarray):
        return f"np.array({np.round(v, 4).tolist() if v.dtype.kind == 'f' else v.tolist()})"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_show(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_show(x) for x in v)
        return f"({inner}{',' if len(v) == 1 else ''})" if isinstance(v, tuple) else f"[{inner}]"
    return repr(round(float(v), 6) if isinstance(v, float) else v)


def _smallest_failing(s, failing, differ, max_numbers=40):
    """The smallest of the failing (case, want, got) in full, when it is small enough to paste into a cell."""
    sized = [(size, c, w, g) for c, w, g in failing if (size := _size(c)) is not None]
    if not sized:
        return None
    size, case, want, got = min(sized, key=lambda t: t[0])
    if size > max_numbers:
        return None
    inputs = "; ".join(f"{k} = [{', '.join(_show(a) for a in case[k])}]" for k in ("forward_args", "douts", "args")
                       if case.get(k))
    if isinstance(got, _Raised):
        received = f"it raised {got}"
    else:
        received = "; ".join(f"{n} = {_show(g)}" for (n, g), (_, w) in zip(_named(s, got), _named(s, want))
                             if differ(g, w))
    expected = "; ".join(f"{n} = {_show(w)}" for (n, w) in _named(s, want))
    label = f" ({case['label']})" if case.get("label") else ""
    return f"Smallest failing case{label}: {inputs}.\nExpected {expected}.\nReceived {received}."


class _Raised(str):
    """The type of exception a student's function raised on a case."""


def _diagnose(s, cases, gots):
    """The first catalogued mistake that behaves as the student's code on every judged case: the same
    outputs, or the same type of exception (a mistake may crash a larger function that calls it)."""
    judged = [(case, got) for case, got in zip(cases, gots) if got is not None]
    if not judged:
        return None
    for m in s.mistakes:
        for case, got in judged:
            result = run_case(case, m.fn, {**s.helpers, **m.helpers})
            if isinstance(got, _Raised):
                if "error" not in result or str(result["error"]).split(":")[0] != got:
                    break
            elif "outputs" not in result or compare(got, _outputs(s, result), "out", s.tolerance):
                break
        else:
            return m
    return None
