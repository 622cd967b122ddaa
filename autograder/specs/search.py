"""Hidden checks of assignment 8 (search): greedy, exhaustive and beam search on models given as data.

A case describes its model as plain data (see autograder.harness.make_model): "random" models, whose
seed comes from the student's rng, and "table" models written out here, which hold exact ties (every
tied candidate adds the same log-probabilities in the same order, so any implementation ties them).
Random draws are kept only when no near-tie decides them (every gap that matters is above 1e-9, since
implementations may add log-probabilities in a different order) and when they lie in the check's
domain: the catalogued mistakes a check does not list leave them unchanged.

The beam-search mistakes are one variant implementation with a `bug` switch. Each beam check covers
one part of the rules: the ranking with n_best = 1 (`beam_search_basic`), n_best and the stopping
rule (`beam_search_n_best`), the length penalty (`beam_search_length_penalty`) and the end at max_len
(`beam_search_max_len`); each lists the mistakes that change its results, with fixed cases that make
sure every listed mistake shows on every student's cases.
"""
import numpy as np

from autograder.harness import CALLS_KEPT, Case, make_model, run_case
from autograder.judge import compare, lifted, spec, variant_mistake
from solutions import search as ref
from solutions.search import Hypothesis  # noqa: F401  (the variants build Hypothesis objects)

MARGIN = 1e-9  # a random case is redrawn when a decision of the search rests on a gap below this


# ---------------------------------------------------------------------------- the mistakes


def greedy_search_variant(next_logprobs, eos, max_len, bug=None):
    """greedy_search with one of the catalogued mistakes switched on."""
    tokens, logprob = (), 0.0
    while len(tokens) < max_len:
        lp = np.asarray(next_logprobs(tokens), dtype=np.float64)
        v = int(np.argmax(lp))
        if v == eos and bug == "eos_not_appended":
            return Hypothesis(tokens, float(logprob), float(logprob), True)
        tokens, logprob = tokens + (v,), logprob + lp[v]
        if v == eos:
            return Hypothesis(tokens, float(logprob), float(logprob), True)
    return Hypothesis(tokens, float(logprob), float(logprob), False)


def exhaustive_search_variant(next_logprobs, vocab_size, eos, max_len, length_penalty=0.0, bug=None):
    """exhaustive_search with one of the catalogued mistakes switched on."""
    alpha = 0.0 if bug == "length_penalty_ignored" else length_penalty
    best, stack = None, [((), 0.0)]
    while stack:
        prefix, logprob = stack.pop()
        lp = np.asarray(next_logprobs(prefix), dtype=np.float64)
        for v in range(vocab_size):
            tokens, total = prefix + (v,), logprob + lp[v]
            if v == eos or len(tokens) == max_len:
                if v != eos and bug == "unfinished_excluded":
                    continue
                h = Hypothesis(tokens, float(total), float(total) / len(tokens) ** alpha, v == eos)
                if best is None or (-h.score, h.tokens) < (-best.score, best.tokens):
                    best = h
            else:
                stack.append((tokens, total))
    return best


def beam_search_variant(next_logprobs, eos, max_len, beam_width, n_best=1, length_penalty=0.0, bug=None):
    """beam_search with one of the catalogued mistakes switched on."""
    def score(tokens, logprob):
        length = len(tokens) - (1 if bug == "eos_not_counted" and tokens[-1] == eos else 0)
        if bug == "length_penalty_ignored" or length == 0 or length_penalty == 0:
            return float(logprob)
        return float(logprob) / length**length_penalty

    def tie_key(tokens):
        return tuple(-v for v in tokens) if bug == "ties_reversed" else tuple(tokens)

    alive, finished = [((), 0.0)], []
    for _ in range(max_len):
        candidates = []  # (ranking value, logprob, tokens)
        for tokens, logprob in alive:
            lp = np.asarray(next_logprobs(tokens), dtype=np.float64)
            for v in range(lp.size):
                total = logprob + lp[v]
                candidates.append((lp[v] if bug == "last_token_ranking" else total, total, tokens + (v,)))
        candidates.sort(key=lambda c: (-c[0], tie_key(c[2])))
        alive = []
        for rank, (_, logprob, tokens) in enumerate(candidates):
            if tokens[-1] == eos:
                if rank < beam_width or bug == "eos_saved_at_any_rank":
                    finished.append(Hypothesis(tokens, float(logprob), score(tokens, logprob), True))
                    if bug == "eos_expanded" and len(alive) < beam_width:
                        alive.append((tokens, logprob))
            elif len(alive) < beam_width:
                alive.append((tokens, logprob))
        if len(finished) >= (1 if bug == "stop_at_first_finished" else n_best) or not alive:
            break
    else:
        if bug != "unfinished_dropped":
            finished += [Hypothesis(t, float(lp), score(t, lp), False) for t, lp in alive]
    finished.sort(key=lambda h: (-h.score, tie_key(h.tokens)))
    return finished[:n_best]


def _beam_mistake(id, bug, message):
    return variant_mistake(id, message, beam_search_variant, bug, "search", "beam_search", "beam_search",
                           "next_logprobs, eos, max_len, beam_width, n_best=1, length_penalty=0.0")


GREEDY_EOS_NOT_APPENDED = variant_mistake(
    "greedy_eos_not_appended", "the search stops at eos without adding it: a finished hypothesis ends with the eos "
    "token, and its log-probability includes log P(eos | prefix).", greedy_search_variant, "eos_not_appended",
    "search", "greedy_search", "greedy_search", "next_logprobs, eos, max_len")
EXHAUSTIVE_LENGTH_PENALTY_IGNORED = variant_mistake(
    "exhaustive_length_penalty_ignored", "length_penalty is ignored: sequences must be compared by "
    "score = logprob / len(tokens) ** length_penalty, and the Hypothesis must carry that score.",
    exhaustive_search_variant, "length_penalty_ignored", "search", "exhaustive_search", "exhaustive_search",
    "next_logprobs, vocab_size, eos, max_len, length_penalty=0.0")
EXHAUSTIVE_UNFINISHED_EXCLUDED = variant_mistake(
    "exhaustive_unfinished_excluded", "only sequences ending with eos are considered: a sequence that reaches "
    "max_len tokens without eos is a candidate too (finished=False), and it can be the best.",
    exhaustive_search_variant, "unfinished_excluded", "search", "exhaustive_search", "exhaustive_search",
    "next_logprobs, vocab_size, eos, max_len, length_penalty=0.0")

EOS_AT_ANY_RANK = _beam_mistake(
    "beam_eos_saved_at_any_rank", "eos_saved_at_any_rank", "every candidate ending with eos is saved as finished, "
    "whatever its rank: one counts only when its rank among all candidates of the step is below beam_width; "
    "a lower-ranked one is dropped.")
LAST_TOKEN_RANKING = _beam_mistake(
    "beam_last_token_ranking", "last_token_ranking", "the candidates are ranked by the log-probability of their "
    "last token alone: rank them by the cumulative log-probability of the whole prefix (the parent's "
    "log-probability plus the new token's).")
TIES_REVERSED = _beam_mistake(
    "beam_ties_reversed", "ties_reversed", "ties are broken the wrong way: between equal log-probabilities (or "
    "scores) the candidate whose tokens come first lexicographically (smaller ids) ranks first.")
EOS_EXPANDED = _beam_mistake(
    "beam_eos_expanded", "eos_expanded", "a hypothesis that ends with eos stays in the beam and is expanded "
    "further: once finished, it is set aside and takes no place among the beam_width alive hypotheses.")
STOP_AT_FIRST_FINISHED = _beam_mistake(
    "beam_stop_at_first_finished", "stop_at_first_finished", "the search stops at the first step that finishes "
    "a hypothesis: it must go on until n_best hypotheses have finished (or max_len is reached).")
UNFINISHED_DROPPED = _beam_mistake(
    "beam_unfinished_dropped", "unfinished_dropped", "the hypotheses still alive at max_len are dropped: when "
    "the search ends at max_len without n_best finished ones, the alive hypotheses join the pool, marked "
    "finished=False.")
LENGTH_PENALTY_IGNORED = _beam_mistake(
    "beam_length_penalty_ignored", "length_penalty_ignored", "length_penalty is ignored: every hypothesis's "
    "score is logprob / len(tokens) ** length_penalty, and the final ranking is by that score.")
EOS_NOT_COUNTED = _beam_mistake(
    "beam_eos_not_counted", "eos_not_counted", "the length in the score leaves out the eos token: len(tokens) "
    "counts every token of the hypothesis, eos included.")


def _one(fn):
    """The search's result as the single output of the check (so that messages name it)."""
    def wrapped(*args, **kwargs):
        return (fn(*args, **kwargs),)
    return wrapped


def _lift(mistakes):
    return [lifted(m, _one) for m in mistakes]


# ---------------------------------------------------------------------------- models as data


def _table(name, rows, default, names=None):
    """A table model: the distribution after each listed prefix, `default` after every other one; `names`
    are the tokens' names in the notebook, where it has them."""
    model = {"kind": "table", "name": name, "table": [[list(prefix), list(p)] for prefix, p in rows],
             "default": list(default)}
    return {**model, "names": list(names)} if names else model


SLIDES = _table("the lectures' example",
                [((), [0.5, 0.2, 0.2, 0.1]), ((0,), [0.1, 0.4, 0.3, 0.2]), ((0, 1), [0.2, 0.2, 0.4, 0.2]),
                 ((0, 1, 2), [0.0, 0.2, 0.2, 0.6]), ((0, 2), [0.1, 0.6, 0.2, 0.1]),
                 ((0, 2, 1), [0.1, 0.2, 0.1, 0.6])], [0.25] * 4, names=("A", "B", "C", "<eos>"))  # eos = 3


def uniform(V):
    """Every token equally likely after every prefix: every candidate of a step ties with every other."""
    return _table(f"uniform over {V} tokens (all ties)", [], [1.0 / V] * V)


# Two equally likely first tokens, then eos likely after token 1 only: K = 1 must take token 0, so that
# the search goes on through ties; eos = 2.
TIE_THEN_EOS = _table("a model with ties", [((), [0.4, 0.4, 0.2]), ((1,), [0.1, 0.1, 0.8]), ((0,), [0.3, 0.3, 0.4])],
                      [0.3, 0.3, 0.4])
# Eos is the most probable continuation of a weak prefix: at step 2 it ranks below beam_width among all
# candidates and must be dropped; the search then finishes at step 3 (eos = 3).
WEAK_EOS = _table("a model whose likely eos follows a weak prefix",
                  [((), [0.6, 0.3, 0.08, 0.02]), ((2,), [0.05, 0.05, 0.05, 0.85]), ((1,), [0.5, 0.3, 0.1, 0.1]),
                   ((0,), [0.5, 0.3, 0.1, 0.1])], [0.3, 0.2, 0.1, 0.4])
# The best path goes through a token that is less likely than others at its step (0, then 1): ranked by
# cumulative log-probability it stays in a beam of two, ranked by its own probability it does not (eos = 2).
DETOUR = _table("a model whose best path takes a less likely token",
                [((), [0.85, 0.1, 0.05]), ((0,), [0.4, 0.35, 0.25]), ((1,), [0.95, 0.04, 0.01]),
                 ((0, 1), [0.98, 0.01, 0.01]), ((0, 1, 0), [0.05, 0.05, 0.9])], [0.5, 0.45, 0.05])
# Finished hypotheses arrive one by one, at different steps, with eos = 0.
STAGGERED = _table("a model that finishes hypotheses one at a time",
                   [((), [0.3, 0.5, 0.2]), ((1,), [0.1, 0.6, 0.3]), ((2,), [0.5, 0.25, 0.25]),
                    ((1, 1), [0.4, 0.3, 0.3]), ((1, 2), [0.2, 0.4, 0.4])], [0.3, 0.4, 0.3])
# At step 2 the ranking is eos, a token, eos: the second eos ranks at beam_width = 2 while the beam holds
# one hypothesis, and must be dropped all the same (eos = 2).
EOS_BEFORE_FULL = _table("a model whose second eos comes before the beam is full",
                         [((), [0.45, 0.45, 0.1]), ((0,), [0.05, 0.5, 0.45]), ((1,), [0.2, 0.2, 0.6])],
                         [0.4, 0.35, 0.25])
# A long sequence of likely tokens beats eos, which is never likely (eos = 2).
RARE_EOS = _table("a model where eos is rare", [], [0.8, 0.15, 0.05])


def _random_model(rng, V, eos_shift):
    """A random model (temperature below 1 spreads its log-probabilities apart); eos_shift < 0 makes eos rarer."""
    return {"kind": "random", "V": int(V), "seed": int(rng.integers(2**31)),
            "temperature": float(rng.uniform(0.4, 0.8)), "eos": int(rng.integers(V)), "eos_shift": float(eos_shift)}


# ---------------------------------------------------------------------------- near-ties and domains


def _gaps(values):
    """Differences between consecutive values of a decreasing list (equal infinities differ by 0)."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(np.diff(values))
    return np.where(values[1:] == values[:-1], 0.0, d)


def _near_tie(gaps):
    """Whether a gap is too small to be decided the same way by every implementation (random models have
    no exact ties, so a zero gap counts as one too)."""
    gaps = np.asarray(gaps, dtype=np.float64)
    return bool(np.any(np.isnan(gaps)) or np.any((gaps > 0) & (gaps < MARGIN)) or np.any(gaps == 0))


def beam_trace(model, eos, max_len, beam_width, n_best=1, length_penalty=0.0):
    """The course's beam search step by step, on the trusted side: ([(ranked candidates [(logprob, tokens)],
    the alive [(tokens, logprob)], the saved finished [(tokens, logprob, rank)]) for each step], the pool
    ranked [(score, tokens, logprob, finished)]). Greedy search is the case beam_width = n_best = 1."""
    alive, finished, steps = [((), 0.0)], [], []
    for _ in range(max_len):
        cands = sorted(((lp + x, tokens + (v,)) for tokens, lp in alive for v, x in enumerate(model(tokens))),
                       key=lambda c: (-c[0], c[1]))
        alive, saved = [], []
        for rank, (lp, tokens) in enumerate(cands):
            if tokens[-1] == eos:
                if rank < beam_width:
                    saved.append((tokens, lp, rank))
            elif len(alive) < beam_width:
                alive.append((tokens, lp))
        finished += saved
        steps.append((cands, alive, saved))
        if len(finished) >= n_best or not alive:
            break
    pool = [(ref.length_normalized(lp, len(t), length_penalty), t, lp, True) for t, lp, _ in finished]
    if len(finished) < n_best:
        pool += [(ref.length_normalized(lp, len(t), length_penalty), t, lp, False) for t, lp in alive]
    return steps, sorted(pool, key=lambda p: (-p[0], p[1]))


def beam_gaps(model, eos, max_len, beam_width, n_best=1, length_penalty=0.0):
    """The gaps a beam search's decisions rest on: between the first 2K+1 candidates of every step
    (which enter the beam, which eos rank below K) and between the first n_best+1 scores of the pool."""
    steps, pool = beam_trace(model, eos, max_len, beam_width, n_best, length_penalty)
    gaps = [g for cands, _, _ in steps for g in _gaps([c[0] for c in cands[: 2 * beam_width + 1]])]
    return gaps + list(_gaps([p[0] for p in pool[: n_best + 1]]))


def exhaustive_gaps(model, V, eos, max_len, length_penalty=0.0):
    """The gap between the best and the second-best score of all complete sequences."""
    scores, stack = [], [((), 0.0)]
    while stack:
        prefix, lp = stack.pop()
        out = model(prefix)
        for v in range(V):
            tokens, total = prefix + (v,), lp + out[v]
            if v == eos or len(tokens) == max_len:
                scores.append(ref.length_normalized(total, len(tokens), length_penalty))
            else:
                stack.append((tokens, total))
    return list(_gaps(sorted(scores, reverse=True)[:2]))


def _outputs(fn, case):
    return run_case(Case(case, protocol="search"), fn, {}).get("outputs")


def _unchanged_by(case, mistakes, reference):
    """Whether every one of the mistakes returns what the reference returns on the case."""
    want = _outputs(reference, case)
    return all(not compare(_outputs(m.fn, case), want, "out", 1e-9) for m in mistakes)


def _draw(rng, make, gaps, unchanged_by=(), reference=None, keep=lambda case: True, tries=500):
    """A random case from make(rng), redrawn until no near-tie decides it, it lies in the check's domain
    (the `unchanged_by` mistakes return what the reference returns) and keep(case) holds."""
    for _ in range(tries):
        case = make(rng)
        if _near_tie(gaps(case)) or not keep(case):
            continue
        if unchanged_by and not _unchanged_by(case, unchanged_by, reference):
            continue
        return case
    raise RuntimeError("no random case found in the check's domain")  # pragma: no cover


def _label_model(model):
    if model["kind"] == "random":
        return f"random model, V={model['V']}, eos={model['eos']}"
    return model["name"]


# ---------------------------------------------------------------------------- where a search goes wrong
#
# The harness logs the prefixes a search asks its model for (harness.logged); the prefixes of L tokens
# are the hypotheses kept alive after step L. Comparing them with the reference's, step by step, finds the
# first step at which the student's search keeps other hypotheses, and the candidates' log-probabilities
# there say which rule was broken; where every step agrees, the returned hypotheses are checked field by
# field and against the pool.

CLOSE = 1e-9


def _words(tokens, model, eos):
    names = model.get("names")
    return "(" + " ".join(names[v] if names and 0 <= v < len(names) else "<eos>" if v == eos else str(v)
                          for v in tokens) + ")"


def _by_length(calls):
    """{L: the distinct prefixes of L tokens asked for, in order of first asking}."""
    out = {}
    for c in calls or ():
        prefixes = out.setdefault(len(c), [])
        if tuple(c) not in prefixes:
            prefixes.append(tuple(c))
    return out


def _settings(name, case):
    """(eos, max_len, beam_width, n_best, length_penalty) of a case of the check `name`."""
    args, kwargs = case["args"], case.get("kwargs") or {}
    if name == "greedy_search":
        return args[0], args[1], 1, 1, 0.0
    if name == "exhaustive_search":
        return args[1], args[2], None, 1, kwargs.get("length_penalty", 0.0)
    return args[0], args[1], args[2], kwargs.get("n_best", 1), kwargs.get("length_penalty", 0.0)


def explain(name):
    """The `explain` of a search check: lines on the first failing case whose search ran."""
    def lines(cases, results, references):
        for case, got, want in zip(cases, results, references):
            if "outputs" in got and "outputs" in want and compare(got["outputs"], want["outputs"], "out", 1e-6):
                label = f" ({case['label']})" if case.get("label") else ""
                why = explain_case(name, case, got, want)
                return [f"Where{label}: {why}"] if why else []
        return []
    return lines


def explain_case(name, case, got, want):
    eos, max_len, K, n_best, alpha = _settings(name, case)
    model = make_model(case["model"])

    def w(tokens):
        return _words(tokens, case["model"], eos)

    if K is None:
        return _explain_exhaustive(case, got, want, model, eos, max_len, alpha, w)
    steps, pool = beam_trace(model, eos, max_len, K, n_best, alpha)
    complete = len(got.get("calls") or ()) < CALLS_KEPT  # a full log may have been cut short
    mine, theirs = _by_length(got.get("calls")), _by_length(want.get("calls"))
    what = "beam_width = 1 (greedy)" if name == "greedy_search" else f"beam_width = {K}"
    for L in range(max_len + 1):
        a, b = mine.get(L, []), theirs.get(L, [])
        ended = [t for t in a if eos in t]
        if ended:
            return (f"after step {L} your search asks the model to continue {w(ended[0])}, which has ended with "
                    "eos. Rule: a hypothesis ending with eos is finished; it is set aside, never expanded.")
        if set(a) == set(b):
            continue
        kept = ", ".join(map(w, b)) or "nothing"
        ranked, _, saved = steps[L - 1] if 0 < L <= len(steps) else ([], [], [])  # the reference's step L
        done = sum(len(step[2]) for step in steps[:L])  # finished by the reference after step L
        refill = f"Rule: a beam is refilled: the next-ranked candidates without eos take the free places, up to {what}."
        if not a and complete:
            low = _low_eos(_hypotheses(got["outputs"]), steps, K, w)
            if low:
                return f"your search stops after step {L}, too early: {low}"
            if len(saved) >= K:
                return (f"after step {L} your search keeps nothing alive, so it stops; the reference keeps {kept}: "
                        f"{', '.join(w(t) for t, _, _ in saved)} finished at this step and were set aside. {refill}")
            return (f"your search stops after step {L}; the reference goes on, keeping {kept} alive, since it "
                    f"has {done} finished of n_best = {n_best}. Rule: stop once n_best hypotheses have finished, "
                    "or after step max_len.")
        if not b:
            why = (f"it has {done} finished of n_best = {n_best}" if done >= n_best else "no candidate is left")
            return (f"your search goes on to step {L + 1} with {', '.join(map(w, a))}, but the reference stops "
                    f"after step {L}: {why}. Rule: stop once n_best hypotheses have finished.")
        if len(a) > K:
            return (f"after step {L} your search keeps {len(a)} hypotheses alive, more than {what}: "
                    f"{', '.join(map(w, a))}; the reference keeps {kept}.")
        cands = {tokens: lp for lp, tokens in ranked}
        if set(a) < set(b):
            if saved:
                return (f"after step {L} your search keeps only {', '.join(map(w, a))} alive; the reference keeps "
                        f"{kept}. {w(saved[0][0])} finished at this step and was set aside. {refill}")
            return (f"after step {L} your search keeps only {', '.join(map(w, a))} alive; the reference keeps "
                    f"{kept}: the {what} best candidates without eos stay alive.")
        extra = next(t for t in a if t not in b)
        missing = next((t for t in b if t not in a), None)
        if missing is None or extra not in cands or missing not in cands:
            return (f"after step {L} your search keeps {', '.join(map(w, a))} alive; the reference keeps {kept}. "
                    "Rule: candidates are the alive hypotheses each extended by every token, ranked by cumulative "
                    "log-probability.")
        mine_lp, ref_lp = cands[extra], cands[missing]
        if abs(mine_lp - ref_lp) <= CLOSE:
            return (f"after step {L} your search keeps {w(extra)} where the reference keeps {w(missing)}; both have "
                    f"log-probability {ref_lp:.4f}. Rule: a tie goes to the tokens that come first "
                    f"lexicographically ({w(min(extra, missing))}).")
        last = model(extra[:-1])[extra[-1]], model(missing[:-1])[missing[-1]]
        if last[0] > last[1] and mine_lp < ref_lp:
            return (f"after step {L} your search keeps {w(extra)} (cumulative log-probability {mine_lp:.4f}, its "
                    f"last token {last[0]:.4f}) over {w(missing)} ({ref_lp:.4f}, last token {last[1]:.4f}). Rule: "
                    "rank candidates by the log-probability of the whole prefix, not of the last token.")
        return (f"after step {L} your search keeps {w(extra)} (cumulative log-probability {mine_lp:.4f}) where the "
                f"reference keeps {w(missing)} ({ref_lp:.4f}). Rule: the alive beam holds the {what} candidates "
                "of highest cumulative log-probability that do not end with eos.")
    return _explain_pool(got, want, model, eos, max_len, K, n_best, alpha, steps, w)


def _hypotheses(outputs):
    """The well-formed hypotheses a search returned, as records (the check wraps the result in a 1-tuple):
    tokens a list of token ids, logprob and score numbers, finished a bool."""
    out = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs
    out = out if isinstance(out, list) else [out]
    return [h for h in out if isinstance(h, dict) and {"tokens", "logprob", "score", "finished"} <= set(h)
            and isinstance(h["tokens"], list) and all(type(v) is int for v in h["tokens"])
            and all(isinstance(h[k], (int, float)) and not isinstance(h[k], bool) for k in ("logprob", "score"))
            and isinstance(h["finished"], bool)]


def _field_problem(h, model, eos, max_len, alpha, w):
    """What is wrong with one returned hypothesis taken alone (its log-probability, score, flag), or None."""
    tokens = tuple(h["tokens"])
    if eos in tokens[:-1]:
        return f"{w(tokens)} goes on after eos. Rule: eos ends a hypothesis."
    if len(tokens) > max_len:
        return f"{w(tokens)} has {len(tokens)} tokens, more than max_len = {max_len}."
    if not tokens:
        return "a returned hypothesis has no tokens."
    V = len(model(()))
    if any(not 0 <= v < V for v in tokens):
        return f"{w(tokens)} holds token ids outside 0..{V - 1}: every token is an index into the model's output."
    true = float(sum(model(tokens[:i])[v] for i, v in enumerate(tokens)))
    if not np.isclose(h["logprob"], true, rtol=1e-6, atol=1e-9):
        return (f"{w(tokens)} has logprob {h['logprob']:.4f}; the sum of its tokens' log-probabilities is "
                f"{true:.4f}. Rule: logprob adds log P(token | prefix) over every token, eos included.")
    if bool(h["finished"]) != (tokens[-1] == eos):
        return (f"{w(tokens)} has finished={h['finished']}. Rule: a hypothesis is finished exactly when it ends "
                "with eos.")
    score = ref.length_normalized(h["logprob"], len(tokens), alpha)
    if np.isclose(h["score"], score, rtol=1e-6, atol=1e-9):
        return None
    if alpha and np.isclose(h["score"], h["logprob"], rtol=1e-6, atol=1e-9):
        why = "the length penalty is ignored"
    elif tokens[-1] == eos and np.isclose(h["score"], ref.length_normalized(h["logprob"], len(tokens) - 1, alpha)):
        why = "the length leaves out eos; len(tokens) counts every token, eos included"
    else:
        why = "score = logprob / len(tokens) ** length_penalty"
    return f"{w(tokens)} has score {h['score']:.4f}, expected {score:.4f}. Rule: {why}."


def _low_eos(mine, steps, K, w):
    """A returned finished hypothesis whose eos candidate the course's rules drop at its step, or None."""
    saved = {t for _, _, s in steps for t, _, _ in s}
    for h in mine:
        tokens = tuple(h["tokens"])
        L = len(tokens)
        if not (h["finished"] and tokens not in saved and 0 < L <= len(steps)):
            continue
        cands = steps[L - 1][0]
        rank = next((r for r, (_, t) in enumerate(cands) if t == tokens), None)
        if rank is None:
            continue
        if rank >= K and abs(cands[rank][0] - cands[K - 1][0]) <= CLOSE:
            return (f"{w(tokens)} is returned as finished, but at step {L} it ties with {w(cands[K - 1][1])}, "
                    f"which comes first lexicographically, and so ranks {rank + 1}, outside beam_width = {K}. "
                    "Rule: a tie goes to the tokens that come first lexicographically.")
        return (f"{w(tokens)} is returned as finished, but at step {L} it ranked {rank + 1} among the "
                f"candidates, outside beam_width = {K}. Rule: a candidate ending with eos counts only when its "
                "rank is below beam_width; a lower-ranked one is dropped.")
    return None


def _explain_pool(got, want, model, eos, max_len, K, n_best, alpha, steps, w):
    """Where every step's beam agrees with the reference's: what differs among the returned hypotheses."""
    mine, theirs = _hypotheses(got["outputs"]), _hypotheses(want["outputs"])
    if theirs and not mine:
        return ("every step keeps the right hypotheses, but the search returns no hypothesis: return the pool's "
                "best n_best as Hypothesis objects (a list for beam search).")
    for h in mine:
        problem = _field_problem(h, model, eos, max_len, alpha, w)
        if problem:
            return problem
    low = _low_eos(mine, steps, K, w)
    if low:
        return low
    got_t, want_t = [tuple(h["tokens"]) for h in mine], [tuple(h["tokens"]) for h in theirs]
    unfinished = [t for t, h in zip(want_t, theirs) if not h["finished"] and t not in got_t]
    if unfinished:
        return (f"{w(unfinished[0])} is missing: the search reached max_len = {max_len} with it alive. Rule: when "
                "fewer than n_best have finished by max_len, the alive hypotheses join the pool, unfinished.")
    if sorted(got_t) == sorted(want_t):
        return (f"the right hypotheses in the wrong order: {', '.join(map(w, got_t))}; expected "
                f"{', '.join(map(w, want_t))}. Rule: rank the pool by score, best first, ties by tokens.")
    if len(got_t) != len(want_t):
        return (f"{len(got_t)} hypotheses returned, expected {len(want_t)}: {', '.join(map(w, want_t))}. Rule: "
                f"return the first n_best = {n_best} of the pool.")
    return (f"every step keeps the right beam, yet the result is {', '.join(map(w, got_t))}, expected "
            f"{', '.join(map(w, want_t))}. Rule: the pool is the finished hypotheses (and, at max_len, the alive "
            "ones), ranked by score.")


def _explain_exhaustive(case, got, want, model, eos, max_len, alpha, w):
    mine, theirs = _by_length(got.get("calls")), _by_length(want.get("calls"))
    for L in sorted(set(mine) | set(theirs)):
        a, b = mine.get(L, []), theirs.get(L, [])
        ended = [t for t in a if eos in t]
        if ended:
            return (f"your search asks the model to continue {w(ended[0])}, which has ended with eos. Rule: a "
                    "sequence ends at eos.")
        if a and not b:
            return (f"your search extends prefixes of {L} tokens, such as {w(a[0])}: a sequence holds at most "
                    f"max_len = {max_len} tokens, eos included.")
        if b and not a and len(got.get("calls") or ()) < CALLS_KEPT:
            return (f"your search never extends a prefix of {L} tokens, such as {w(b[0])}: every sequence of up to "
                    f"max_len = {max_len} tokens is a candidate.")
    mine_h, theirs_h = _hypotheses(got["outputs"]), _hypotheses(want["outputs"])
    for h in mine_h:
        problem = _field_problem(h, model, eos, max_len, alpha, w)
        if problem:
            return problem
    if theirs_h and not mine_h:
        return ("your search asks the model for the same prefixes as the reference, but returns no hypothesis: "
                "keep the best-scoring complete sequence as you go, and return it as a Hypothesis.")
    if not (mine_h and theirs_h):
        return None
    g, t = mine_h[0], theirs_h[0]
    rule = "the best score over every sequence that ends with eos or reaches max_len, ties by tokens"
    if alpha and g["logprob"] > t["logprob"]:
        rule = "compare sequences by score = logprob / len(tokens) ** length_penalty, not by logprob"
    elif t["finished"] is False and g["finished"]:
        rule = "a sequence that reaches max_len without eos is a candidate too (finished=False)"
    return (f"the best is {w(t['tokens'])} with score {t['score']:.4f}; yours, {w(g['tokens'])}, scores "
            f"{g['score']:.4f}. Rule: {rule}.")


# ---------------------------------------------------------------------------- greedy and exhaustive


def greedy_case(model, eos, max_len):
    return {"model": model, "args": (eos, max_len), "label": f"{_label_model(model)}, max_len={max_len}"}


@spec("greedy_search", "greedy_search", "search", _one(ref.greedy_search), outputs=("hypothesis",),
      explain=explain("greedy_search"), rounds=6,
      mistakes=_lift([GREEDY_EOS_NOT_APPENDED]))
def _(rng):
    cases = [greedy_case(SLIDES, 3, 10), greedy_case(SLIDES, 3, 2), greedy_case(uniform(3), 2, 3),
             greedy_case(uniform(3), 0, 4), greedy_case(TIE_THEN_EOS, 2, 5)]

    def make(rng):
        V = int(rng.integers(2, 8))
        model = _random_model(rng, V, rng.uniform(-2.0, 1.5))
        return greedy_case(model, model["eos"], int(rng.integers(1, 9)))

    def gaps(case):
        return beam_gaps(make_model(case["model"]), *case["args"], 1)

    return cases + [_draw(rng, make, gaps) for _ in range(5)]


def exhaustive_case(model, V, eos, max_len, length_penalty):
    return {"model": model, "args": (V, eos, max_len), "kwargs": {"length_penalty": length_penalty},
            "label": f"{_label_model(model)}, max_len={max_len}, length_penalty={length_penalty:g}"}


# (0.45, 0.45, 0.1) after every prefix, eos = 2: the four two-token sequences without eos tie.
TWO_TIED = _table("a model with tied sequences", [], [0.45, 0.45, 0.1])


@spec("exhaustive_search", "exhaustive_search", "search", _one(ref.exhaustive_search), outputs=("hypothesis",),
      explain=explain("exhaustive_search"), rounds=6,
      mistakes=_lift([EXHAUSTIVE_LENGTH_PENALTY_IGNORED, EXHAUSTIVE_UNFINISHED_EXCLUDED]))
def _(rng):
    cases = [exhaustive_case(SLIDES, 4, 3, 4, 0.0), exhaustive_case(SLIDES, 4, 3, 5, 1.0),
             exhaustive_case(SLIDES, 4, 3, 4, 0.5), exhaustive_case(RARE_EOS, 3, 2, 4, 0.0),
             exhaustive_case(TWO_TIED, 3, 2, 2, 0.0), exhaustive_case(SLIDES, 4, 3, 1, 0.0)]

    def make(rng):
        V = int(rng.integers(2, 6))
        model = _random_model(rng, V, rng.uniform(-2.0, 1.5))
        max_len = int(rng.integers(1, 5 if V <= 4 else 4))
        alpha = float(np.round(rng.uniform(0.3, 1.5), 2)) if rng.random() < 0.6 else 0.0
        return exhaustive_case(model, V, model["eos"], max_len, alpha)

    def gaps(case):
        return exhaustive_gaps(make_model(case["model"]), *case["args"], **case["kwargs"])

    return cases + [_draw(rng, make, gaps) for _ in range(5)]


# ---------------------------------------------------------------------------- beam search


def beam_case(model, eos, max_len, beam_width, n_best=1, length_penalty=0.0):
    label = f"{_label_model(model)}, max_len={max_len}, beam_width={beam_width}"
    if n_best != 1:
        label += f", n_best={n_best}"
    if length_penalty:
        label += f", length_penalty={length_penalty:g}"
    return {"model": model, "args": (eos, max_len, beam_width),
            "kwargs": {"n_best": n_best, "length_penalty": length_penalty}, "label": label}


def _beam_gaps_of(case):
    return beam_gaps(make_model(case["model"]), *case["args"], **case["kwargs"])


def _random_beam(rng, eos_shift, max_len, beam_width, n_best=1, length_penalty=0.0):
    V = int(rng.integers(3, 7))
    model = _random_model(rng, V, rng.uniform(*eos_shift))
    return beam_case(model, model["eos"], int(rng.integers(*max_len)), int(rng.integers(*beam_width)),
                     int(rng.integers(*n_best)) if isinstance(n_best, tuple) else n_best,
                     float(np.round(rng.uniform(*length_penalty), 2)) if isinstance(length_penalty, tuple) else 0.0)


ALL_BEAM = [EOS_AT_ANY_RANK, LAST_TOKEN_RANKING, TIES_REVERSED, EOS_EXPANDED, STOP_AT_FIRST_FINISHED,
            UNFINISHED_DROPPED, LENGTH_PENALTY_IGNORED, EOS_NOT_COUNTED]
REF_BEAM = _one(ref.beam_search)


def _others(listed):
    return [lifted(m, _one) for m in ALL_BEAM if m not in listed]


BASIC = [EOS_AT_ANY_RANK, LAST_TOKEN_RANKING, TIES_REVERSED]


@spec("beam_search_basic", "beam_search", "search", REF_BEAM, outputs=("hypotheses",),
      explain=explain("beam_search_basic"), rounds=6, mistakes=_lift(BASIC))
def _(rng):
    """n_best = 1, no length penalty, searches that end with a finished hypothesis; beam_width 1 is greedy."""
    cases = [beam_case(SLIDES, 3, 10, 2), beam_case(SLIDES, 3, 10, 1), beam_case(TIE_THEN_EOS, 2, 6, 1),
             beam_case(TIE_THEN_EOS, 2, 6, 2), beam_case(WEAK_EOS, 3, 6, 2), beam_case(DETOUR, 2, 6, 2)]

    def make(rng):
        return _random_beam(rng, (0.0, 1.5), (3, 9), (1, 5))

    others = _others(BASIC)
    return cases + [_draw(rng, make, _beam_gaps_of, others, REF_BEAM) for _ in range(6)]


N_BEST = [EOS_AT_ANY_RANK, LAST_TOKEN_RANKING, TIES_REVERSED, EOS_EXPANDED, STOP_AT_FIRST_FINISHED, UNFINISHED_DROPPED]


@spec("beam_search_n_best", "beam_search", "search", REF_BEAM, outputs=("hypotheses",),
      explain=explain("beam_search_n_best"), rounds=6, mistakes=_lift(N_BEST))
def _(rng):
    """n_best > 1 without length penalty: when the search stops, and what the pool holds."""
    cases = [beam_case(SLIDES, 3, 10, 2, n_best=2), beam_case(SLIDES, 3, 10, 2, n_best=3),
             beam_case(STAGGERED, 0, 5, 2, n_best=3), beam_case(uniform(3), 2, 3, 3, n_best=4),
             beam_case(TIE_THEN_EOS, 2, 4, 1, n_best=2), beam_case(EOS_BEFORE_FULL, 2, 5, 2, n_best=2),
             beam_case(EOS_BEFORE_FULL, 2, 5, 2, n_best=3)]

    def make(rng):
        return _random_beam(rng, (0.0, 1.5), (3, 8), (1, 5), n_best=(2, 5))

    others = _others(N_BEST)
    return cases + [_draw(rng, make, _beam_gaps_of, others, REF_BEAM) for _ in range(6)]


LENGTH_PENALTY = [LENGTH_PENALTY_IGNORED, EOS_NOT_COUNTED, EOS_AT_ANY_RANK, LAST_TOKEN_RANKING, TIES_REVERSED,
                  EOS_EXPANDED, STOP_AT_FIRST_FINISHED, UNFINISHED_DROPPED]


@spec("beam_search_length_penalty", "beam_search", "search", REF_BEAM, outputs=("hypotheses",),
      explain=explain("beam_search_length_penalty"), rounds=6,
      mistakes=_lift(LENGTH_PENALTY))
def _(rng):
    """length_penalty > 0: the scores, and the final ranking of hypotheses of different lengths."""
    cases = [beam_case(SLIDES, 3, 10, 2, length_penalty=1.0), beam_case(SLIDES, 3, 10, 3, n_best=2, length_penalty=1.0),
             beam_case(SLIDES, 3, 6, 2, n_best=3, length_penalty=0.5),
             beam_case(STAGGERED, 0, 5, 2, n_best=3, length_penalty=0.8),
             beam_case(EOS_BEFORE_FULL, 2, 5, 2, n_best=2, length_penalty=1.0)]

    def make(rng):
        return _random_beam(rng, (0.0, 1.5), (3, 8), (1, 5), n_best=(1, 4), length_penalty=(0.3, 1.5))

    others = _others(LENGTH_PENALTY)
    return cases + [_draw(rng, make, _beam_gaps_of, others, REF_BEAM) for _ in range(6)]


MAX_LEN = [UNFINISHED_DROPPED, EOS_AT_ANY_RANK, LAST_TOKEN_RANKING, TIES_REVERSED]


@spec("beam_search_max_len", "beam_search", "search", REF_BEAM, outputs=("hypotheses",),
      explain=explain("beam_search_max_len"), rounds=6, mistakes=_lift(MAX_LEN))
def _(rng):
    """n_best = 1, no length penalty, searches that reach max_len: the alive hypotheses are the answer."""
    cases = [beam_case(SLIDES, 3, 3, 2), beam_case(SLIDES, 3, 1, 2), beam_case(uniform(3), 2, 3, 2),
             beam_case(RARE_EOS, 2, 5, 2), beam_case(SLIDES, 3, 4, 2), beam_case(DETOUR, 2, 3, 2)]

    def make(rng):
        return _random_beam(rng, (-4.0, -1.5), (1, 6), (1, 5))

    def unfinished(case):
        return not ref.beam_search(make_model(case["model"]), *case["args"], **case["kwargs"])[0].finished

    others = _others(MAX_LEN)
    return cases + [_draw(rng, make, _beam_gaps_of, others, REF_BEAM, keep=unfinished) for _ in range(6)]
