"""A toy constitution: principles as programmatic checks, and the critique-and-revision loop (Bai et al. 2022, section 3).

In Constitutional AI the only human oversight is a list of principles, the
constitution. A model critiques its own response against a principle ("Identify
specific ways in which the assistant's last response is harmful...") and then
revises it ("Please rewrite the assistant response to remove any and all
harmful content..."); critique and revision repeat, one principle at a time.

Here the assistant is the toy of policy.py (a response repeats the prompt's
words and ends with EOS), and each principle is code instead of a prompt to a
language model. A principle is three things:

    name                          a short name
    critique(prompt, response)    None when the response obeys the principle, else a critique (a non-empty str)
    revise(prompt, response)      the response rewritten to obey it, changing as little as possible

`prompt` is the list of the prompt's words (no PAD, no SEP) and `response` a
list of tokens (possibly empty, possibly without EOS, possibly with tokens
after an EOS). Neither is ever changed in place: revisions return new lists.

The constitution, in order:

    harmless   no forbidden word (FORBIDDEN = 14, 15) anywhere in the response;
               revision: each forbidden word becomes REDACT
    concise    no token more than MAX_RUN = 2 times in a row (any token: words, REDACT, EOS);
               revision: every longer run is cut to its first MAX_RUN tokens
    ends       the response is not empty, its last token is EOS, and no EOS comes before it;
               revision: everything after the first EOS is dropped, or an EOS is added when there is none
    short      at most MAX_LEN = 8 tokens, the EOS included;
               revision: the first MAX_LEN - 1 tokens, then EOS

Helpfulness is judged apart from the constitution: `task_success` asks whether
the response carries every allowed word of the prompt, in order, and nothing
else, so a harmless answer (forbidden words redacted) is as helpful as the
harmful copy, and an evasive one (an empty answer) is not.
"""

from collections import namedtuple
from itertools import groupby

from policy import EOS, FORBIDDEN, REDACT

MAX_RUN = 2  # the longest allowed run of one token
MAX_LEN = 8  # the longest allowed response, EOS included

Principle = namedtuple("Principle", ["name", "critique", "revise"])


# --- the principles: a critique and a revision each ---


def critique_harmless(prompt, response):
    bad = sorted({t for t in response if t in FORBIDDEN})
    return f"mentions {bad}" if bad else None


def revise_harmless(prompt, response):
    out = []
    for t in response:
        out.append(REDACT if t in FORBIDDEN else t)
    return out


def runs(response):
    """Given: the runs of equal tokens in `response`, as [token, length] pairs in order."""
    return [[t, len(list(g))] for t, g in groupby(response)]


def critique_concise(prompt, response):
    worst = max((len(list(g)) for _, g in groupby(response)), default=0)
    return f"a run of {worst}" if worst > MAX_RUN else None


def revise_concise(prompt, response):
    out = []
    for _, g in groupby(response):
        out.extend(list(g)[:MAX_RUN])
    return out


def critique_ends(prompt, response):
    ok = response.count(EOS) == 1 and response[-1:] == [EOS]
    return None if ok else "needs exactly one EOS, at the end"


def revise_ends(prompt, response):
    out = []
    for t in response:
        out.append(t)
        if t == EOS:
            return out
    return out + [EOS]


def critique_short(prompt, response):
    return "too long" if len(response) > MAX_LEN else None


def revise_short(prompt, response):
    return response[:] if len(response) <= MAX_LEN else response[: MAX_LEN - 1] + [EOS]


def spec_constitution():
    return [
        Principle("harmless", critique_harmless, revise_harmless),
        Principle("concise", critique_concise, revise_concise),
        Principle("ends", critique_ends, revise_ends),
        Principle("short", critique_short, revise_short),
    ]


def violations(prompt, response, constitution=None):
    out = []
    for principle in spec_constitution() if constitution is None else constitution:
        if principle.critique(prompt, response) is not None:
            out.append(principle.name)
    return out


def task_success(prompt, response):
    end = response.index(EOS) if EOS in response else len(response)
    ignored = set(FORBIDDEN) | {REDACT}
    said = list(filter(lambda t: t not in ignored, response[:end]))
    asked = list(filter(lambda t: t not in ignored, prompt))
    return said == asked


def critique_and_revise(prompt, response, constitution=None, max_rounds=4):
    if constitution is None:
        constitution = spec_constitution()
    current, history, rounds = response[:], [], 0
    while rounds < max_rounds:
        found = next(((p, c) for p in constitution if (c := p.critique(prompt, current)) is not None), None)
        if found is None:
            break
        principle, critique = found
        current = principle.revise(prompt, current)
        history.append((principle.name, critique))
        rounds += 1
    return list(current), history
