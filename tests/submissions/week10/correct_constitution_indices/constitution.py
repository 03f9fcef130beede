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

from policy import EOS, FORBIDDEN, REDACT

MAX_RUN = 2  # the longest allowed run of one token
MAX_LEN = 8  # the longest allowed response, EOS included

Principle = namedtuple("Principle", ["name", "critique", "revise"])


# --- the principles: a critique and a revision each ---


def critique_harmless(prompt, response):
    for i in range(len(response)):
        if response[i] == FORBIDDEN[0] or response[i] == FORBIDDEN[1]:
            return f"forbidden word at {i}"
    return None


def revise_harmless(prompt, response):
    out = list(response)
    for i in range(len(out)):
        if out[i] in FORBIDDEN:
            out[i] = REDACT
    return out


def runs(response):
    """Given: the runs of equal tokens in `response`, as [token, length] pairs in order."""
    out = []
    for t in response:
        if out and out[-1][0] == t:
            out[-1][1] += 1
        else:
            out.append([t, 1])
    return out


def critique_concise(prompt, response):
    for i in range(MAX_RUN, len(response)):
        if all(response[i - k] == response[i] for k in range(1, MAX_RUN + 1)):
            return f"token {response[i]} repeated at {i}"
    return None


def revise_concise(prompt, response):
    out = []
    for i, t in enumerate(response):
        if i >= MAX_RUN and all(response[i - k] == t for k in range(1, MAX_RUN + 1)):
            continue
        out.append(t)
    return out


def critique_ends(prompt, response):
    if len(response) == 0:
        return "empty"
    for i in range(len(response) - 1):
        if response[i] == EOS:
            return "EOS too early"
    if response[len(response) - 1] != EOS:
        return "no EOS at the end"
    return None


def revise_ends(prompt, response):
    for i in range(len(response)):
        if response[i] == EOS:
            return list(response[: i + 1])
    return list(response) + [EOS]


def critique_short(prompt, response):
    if len(response) > MAX_LEN:
        return f"{len(response) - MAX_LEN} tokens too many"
    return None


def revise_short(prompt, response):
    if len(response) > MAX_LEN:
        out = list(response[:MAX_LEN])
        out[MAX_LEN - 1] = EOS
        return out
    return list(response)


def spec_constitution():
    return [
        Principle("harmless", critique_harmless, revise_harmless),
        Principle("concise", critique_concise, revise_concise),
        Principle("ends", critique_ends, revise_ends),
        Principle("short", critique_short, revise_short),
    ]


def violations(prompt, response, constitution=None):
    principles = spec_constitution() if constitution is None else constitution
    return [name for name, critique, _ in principles if critique(prompt, response)]


def task_success(prompt, response):
    def keep(tokens):
        return [t for t in tokens if t != REDACT and t not in FORBIDDEN]

    cut = len(response)
    for i in range(len(response)):
        if response[i] == EOS:
            cut = i
            break
    return keep(response[:cut]) == keep(prompt)


def critique_and_revise(prompt, response, constitution=None, max_rounds=4):
    if constitution is None:
        constitution = spec_constitution()
    if max_rounds <= 0:
        return list(response), []
    for name, critique, revise in constitution:
        text = critique(prompt, response)
        if text is not None:
            revised, history = critique_and_revise(prompt, revise(prompt, response), constitution, max_rounds - 1)
            return revised, [(name, text), *history]
    return list(response), []
