"""What the hidden checks tell a student whose code is wrong, and that each mistake is charged once.

The wrong programs here are written independently of the catalogue's variants (each as a student might
write it), and judged through the same functions the grader uses: judge.cases_for, harness.run_case,
judge.evaluate.
"""
import re
from functools import partial

import numpy as np
import pytest

from autograder.harness import run_case
from autograder.judge import cases_for, evaluate, get_spec, make_cases
from solutions import search as ref_search
from solutions.search import Hypothesis, length_normalized


def verdict(name, fn, student="feedback-student", earlier=None, helpers=None):
    s = get_spec(name)
    cases = cases_for(name, student, earlier)
    results = [run_case(c, fn, {**s.helpers, **(helpers or {})}) for c in cases]
    return evaluate(name, results, student, earlier)


def where(message):
    return [line for line in message.splitlines() if line.startswith("Where")]


# ------------------------------------------------------------------------------------------ searches


def beam(next_logprobs, eos, max_len, beam_width, n_best=1, length_penalty=0.0, *, refill=True,
         expand_finished=False, save_before_full=False):
    """A beam search written from the course's rules, with three ways to get them wrong."""
    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        cands = sorted(((lp + float(x), t + (v,)) for t, lp in alive for v, x in enumerate(next_logprobs(t))),
                       key=lambda c: (-c[0], c[1]))
        room = beam_width if refill else beam_width - sum(1 for _, t in cands[:beam_width] if t[-1] == eos)
        alive = []
        for rank, (lp, t) in enumerate(cands):
            if t[-1] == eos:
                if rank < beam_width or (save_before_full and len(alive) < beam_width):
                    finished.append(Hypothesis(t, lp, length_normalized(lp, len(t), length_penalty), True))
                    if expand_finished and len(alive) < room:
                        alive.append((t, lp))
            elif len(alive) < room:
                alive.append((t, lp))
        if len(finished) >= n_best or not alive:
            pool = finished
            break
    else:
        pool = finished + [Hypothesis(t, lp, length_normalized(lp, len(t), length_penalty), False) for t, lp in alive]
    return sorted(pool, key=lambda h: (-h.score, h.tokens))[:n_best]


def as_check(search, **bugs):
    return lambda *args, **kwargs: (search(*args, **kwargs, **bugs),)


@pytest.mark.parametrize("bugs,rule", [
    ({"refill": False}, "Rule: a beam is refilled"),
    ({"expand_finished": True}, "set aside, never expanded"),
    ({"save_before_full": True}, "counts only when its rank is below beam_width"),
])
def test_a_wrong_beam_search_is_told_the_step_and_the_rule(bugs, rule):
    v = verdict("beam_search_n_best", as_check(beam, **bugs))
    assert not v.passed
    lines = where(v.message)
    assert lines and "step" in lines[0] and rule in lines[0], v.message


def test_the_reference_written_again_passes_every_beam_check():
    for name in ("beam_search_basic", "beam_search_n_best", "beam_search_length_penalty", "beam_search_max_len"):
        assert verdict(name, as_check(beam)).passed, name


def test_a_bug_that_shows_on_few_inputs_fails_for_every_student():
    """Saving an eos ranked at beam_width while the beam is not full changes the result on few random
    inputs; the shared core holds a case where it shows, so no student passes with it."""
    failed = [not verdict("beam_search_n_best", as_check(beam, save_before_full=True), f"s{i}").passed
              for i in range(12)]
    assert all(failed)


def test_a_greedy_search_that_breaks_ties_upwards_is_told_so():
    def greedy(next_logprobs, eos, max_len):
        tokens, lp = (), 0.0
        while len(tokens) < max_len:
            out = np.asarray(next_logprobs(tokens))
            v = int(len(out) - 1 - np.argmax(out[::-1]))  # the highest id among the best
            tokens, lp = tokens + (v,), lp + out[v]
            if v == eos:
                break
        return Hypothesis(tokens, lp, lp, tokens[-1] == eos)

    v = verdict("greedy_search", lambda *a, **k: (greedy(*a, **k),))
    assert not v.passed and any("a tie goes to" in line for line in where(v.message)), v.message


def test_a_hypothesis_with_a_wrong_score_is_named_with_the_rule():
    def search(*args, **kwargs):
        return [Hypothesis(h.tokens, h.logprob, h.logprob, h.finished) for h in ref_search.beam_search(*args, **kwargs)]

    v = verdict("beam_search_length_penalty", as_check(search))
    assert any("the length penalty is ignored" in line for line in where(v.message)), v.message


# ------------------------------------------------------------------------------------------ arrays


def test_a_wrong_term_of_a_forward_step_is_found_by_zeroing_inputs():
    def rnn_step_forward(x, h_prev, Wxh, Whh, bh):
        h = np.tanh(x @ Wxh + h_prev @ Whh.T + bh)  # Whh transposed
        return h, None

    v = verdict("rnn_step_forward", rnn_step_forward)
    line = next(line for line in where(v.message) if "= 0" in line)
    assert "h_prev = 0" in line and "Whh = 0" in line and "x = 0" not in line, v.message


def test_a_gradient_off_by_a_constant_is_named_with_the_constant():
    from solutions.rnn import temporal_affine_backward

    def averaged(dout, cache):
        dh, dW, db = temporal_affine_backward(dout, cache)
        return dh, dW, db / dout.shape[0]

    v = verdict("temporal_affine_backward", averaged)
    assert any("db is 1/N times the right value" in line for line in where(v.message)), v.message


def test_a_backward_says_from_which_step_the_error_enters():
    from solutions.rnn import rnn_step_backward

    def rnn_backward(dh, cache):  # the gradient carried to step t-1 is dropped after one step
        x, h0, Wxh, Whh, h = cache
        T = x.shape[1]
        dx, dWxh, dWhh, dbh = np.zeros(x.shape), np.zeros(Wxh.shape), np.zeros(Whh.shape), np.zeros(Whh.shape[0])
        carry = np.zeros(h0.shape)
        for t in reversed(range(T)):
            h_prev = h0 if t == 0 else h[:, t - 1]
            dx[:, t], dh_prev, a, b, c = rnn_step_backward(dh[:, t] + carry, (x[:, t], h_prev, Wxh, Whh, h[:, t]))
            carry = dh_prev if t == T - 1 else 0 * dh_prev
            dWxh, dWhh, dbh = dWxh + a, dWhh + b, dbh + c
        return dx, dh_prev, dWxh, dWhh, dbh

    v = verdict("rnn_backward", rnn_backward)
    assert "wrong from step" in v.message and "carried from step" in v.message, v.message


# ------------------------------------------------------------------------------------------ charged once


SEQ2SEQ = '''
import torch
from autograder.specs.common import as_tensors

def on_tensors(fn):
    def wrapper(*args, **kwargs):
        return fn(*as_tensors(args), **as_tensors(kwargs))
    return wrapper

def gru_cell(x, h_prev, Wx, Wh, bx, bh):  # z and 1 - z swapped
    H = h_prev.shape[1]
    gx, gh = x @ Wx + bx, h_prev @ Wh + bh
    r = torch.sigmoid(gx[:, :H] + gh[:, :H])
    z = torch.sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
    return z * n + (1 - z) * h_prev

def encode(params, src, src_mask):
    emb = params["src_emb"][src]
    h = torch.zeros(src.shape[0], params["enc_Wh"].shape[0], dtype=emb.dtype)
    for t in range(src.shape[1]):
        new = gru_cell(emb[:, t], h, params["enc_Wx"], params["enc_Wh"], params["enc_bx"], params["enc_bh"])
        h = torch.where(src_mask[:, t, None], new, h)
    return h
'''


def test_a_right_encoder_keeps_its_points_when_its_cell_is_wrong():
    pytest.importorskip("torch")
    notebook = {}
    exec(compile(SEQ2SEQ, "<notebook>", "exec"), notebook)
    assert not verdict("gru_cell", notebook["on_tensors"](notebook["gru_cell"])).passed
    encode = notebook["on_tensors"](notebook["encode"])
    alone = verdict("encode", encode)  # judged before anyone knew the cell was wrong: the cell's error shows
    assert not alone.passed
    after = verdict("encode", encode, earlier={"gru_cell": False})
    assert after.passed, after.message
    assert notebook["gru_cell"].__name__ == "gru_cell"  # the student's own cell is back in place afterwards


def test_stand_ins_travel_only_for_a_part_that_failed():
    assert all("standins" not in c for c in cases_for("encode", "s", {"gru_cell": True}))
    assert all("standins" not in c for c in cases_for("gru_cell", "s", {"gru_cell": False}))
    cases = cases_for("seq2seq_forward", "s", {"encode": False, "decode_step": True})
    assert all(set(c["standins"]) == {"encode"} for c in cases)


def test_a_lifted_mistake_is_placed_in_the_function_that_makes_it():
    from autograder.specs.bptt import STEP_MISTAKES, rnn_backward_from_steps

    swapped = next(m for m in STEP_MISTAKES if m.id == "step_states_swapped")
    rnn_backward = rnn_backward_from_steps(swapped.fn)
    told = verdict("rnn_backward", rnn_backward, earlier={"rnn_step_backward": False}).message
    assert "(in rnn_step_backward)" in told
    own = verdict("rnn_backward", rnn_backward, earlier={"rnn_step_backward": True}).message
    assert "(in rnn_backward itself" in own


def test_every_check_has_a_shared_core_and_cases_of_the_students_own():
    for name in ("rnn_forward", "beam_search_basic", "masked_cross_entropy"):
        a, b = make_cases(name, "alice"), make_cases(name, "bob")
        assert len(a) > 12 and a[0]["label"] == b[0]["label"]


@pytest.mark.parametrize("odd", [
    [{"tokens": [[1], {"a": 2}], "logprob": "x", "score": None, "finished": "yes"}],
    [{"tokens": [99, -5], "logprob": -1.0, "score": -1.0, "finished": False}],
    [{"tokens": list(range(10_000)), "logprob": 0.0, "score": 0.0, "finished": True}],
    {"__unreadable__": "an object of type Thing"},
])
def test_an_odd_result_gets_a_verdict_not_a_crash(odd):
    """Whatever a search returns, the judge answers with a failing verdict (the diagnosis is best effort)."""
    cases = make_cases("beam_search_n_best", "odd")
    results = [{"outputs": [odd], "inputs_changed": [], "calls": [[], [0], [1, 1]]} for _ in cases]
    v = evaluate("beam_search_n_best", results, "odd")
    assert not v.passed and v.message.startswith("beam_search is wrong on")


# ------------------------------------------------------------------------------ functions of earlier assignments

PASTED = {"bptt": "forward_passes_of_assignment_1", "vanishing_gradients": "functions_of_assignments_1_and_2",
          "brnn": "rnn_of_assignments_1_and_2", "teacher_forcing": "loss_of_assignment_6"}

# after the right functions: every one of them gives a first output 1.5 times too large
WRONG = """
def _wrong(fn):
    def wrong(*args, **kwargs):
        out = fn(*args, **kwargs)
        return (out[0] * 1.5, *out[1:]) if isinstance(out, tuple) else out * 1.5
    return wrong

for _name in PASTED_NAMES:
    globals()[_name] = _wrong(globals()[_name])
"""


def run_hidden_checks(assignment, paste):
    """Run the instructor's notebook of `assignment` in this process as stock nbgrader would, with the cell of
    pasted functions replaced by `paste` code, and return {check: its failure message, or None}."""
    import nbformat

    from autograder import checks
    from autograder.grading import HIDDEN, checks_of
    from autograder.notebooks import notebook_path

    nb = nbformat.read(notebook_path(assignment), as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    last = max(i for i, c in enumerate(cells) if c.metadata["nbgrader"].get("solution"))
    namespace, outcome = {"__name__": "__notebook__"}, {}
    checks.EARLIER.clear()
    for cell in cells[:last + 1]:
        meta = cell.metadata["nbgrader"]
        if meta.get("grade_id") == PASTED[assignment]:
            names = re.findall(r"^def (\w+)", cell.source, re.M)
            wrong = cell.source + WRONG.replace("PASTED_NAMES", repr(names))
            exec(compile({"missing": "", "wrong": wrong}[paste], "<pasted>", "exec"), namespace)
        elif not meta.get("grade"):
            exec(compile(cell.source, "<cell>", "exec"), namespace)
    for cell in cells:
        if cell.metadata["nbgrader"].get("grade"):
            names = checks_of(cell.source)
            try:
                exec(compile("".join(HIDDEN.findall(cell.source)), "<hidden>", "exec"), namespace)
                outcome.update({name: None for name in names})
            except AssertionError as exc:
                outcome.update({name: str(exc) for name in names})
    return outcome, namespace


@pytest.mark.parametrize("assignment", sorted(PASTED))
@pytest.mark.parametrize("paste", ["wrong", "missing"])
def test_functions_of_an_earlier_assignment_cost_nothing_here(assignment, paste, monkeypatch, tmp_path):
    """A later assignment takes the student's own functions of earlier ones, pasted into one cell. Whether
    they are wrong or were never pasted, the new functions written right keep every point: the reference's
    values stand in for the earlier functions wherever the new ones call them as the reference does. Graded
    in-process (stock nbgrader), the notebook then holds the reference's earlier functions, so that its
    visible tests judge this assignment's functions alone."""
    from autograder.notebooks import ROOT

    monkeypatch.setenv("AUTOGRADER_STUDENT", f"paster-{paste}")
    monkeypatch.syspath_prepend(str(ROOT / "solutions"))  # gradcheck.py, as shipped beside the notebook
    monkeypatch.chdir(tmp_path)
    outcome, namespace = run_hidden_checks(assignment, paste)
    assert len(outcome) >= 2 and all(message is None for message in outcome.values()), outcome
    from autograder.judge import given_references

    earlier = {"teacher_forcing": "masked_cross_entropy"}.get(assignment, "rnn_forward")
    references = {part: fn for check in outcome for part, fn in given_references(check).items()}
    assert namespace[earlier] is references[earlier]


def test_a_stand_in_for_a_function_never_pasted_leaves_no_trace():
    """In the box the stand-ins live only while a case runs: a name the notebook never defined is gone again
    afterwards, and one it defined is the student's own again."""
    from autograder.harness import run_case

    namespace = {}
    exec(compile("def uses(x):\n    return rnn_forward(x) + 1\n", "<notebook>", "exec"), namespace)
    case = {"protocol": "call", "args": (1.0,), "standins": {"rnn_forward": [[[1.0], 41.0]]}}
    assert run_case(case, namespace["uses"], {})["outputs"] == 42.0
    assert "rnn_forward" not in namespace
    namespace["rnn_forward"] = own = lambda x: 0.0
    assert run_case(case, namespace["uses"], {})["outputs"] == 42.0
    assert namespace["rnn_forward"] is own
    del namespace["rnn_forward"]
    other = run_case({**case, "args": (2.0,)}, namespace["uses"], {})  # a call the reference never made
    assert "name 'rnn_forward' is not defined: paste your rnn_forward" in other["error"], other


def test_the_same_functions_written_wrong_here_still_fail():
    """The stand-ins lift only the earlier functions: this assignment's own mistakes are still charged."""
    from autograder.specs.vanishing_gradients import truncated_loss_and_grads_variant

    for bug in ("state_reset", "gradient_carried", "last_window_only"):
        assert not verdict("truncated_loss_and_grads", partial(truncated_loss_and_grads_variant, bug=bug)).passed
    assert verdict("truncated_loss_and_grads", truncated_loss_and_grads_variant).passed
