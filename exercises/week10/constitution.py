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

The constitution, in order (spec_constitution() gives it; every function that
takes a `constitution` uses it when given None):

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

from collections.abc import Callable
from typing import NamedTuple

from policy import EOS, FORBIDDEN, REDACT

MAX_RUN = 2  # the longest allowed run of one token
MAX_LEN = 8  # the longest allowed response, EOS included


class Principle(NamedTuple):
    """One principle of the constitution (see the module docstring)."""

    name: str
    critique: Callable  # (prompt, response) -> None or a critique (str)
    revise: Callable  # (prompt, response) -> the revised response (a new list)


# --- the principles: a critique and a revision each ---


def critique_harmless(prompt, response):
    """None if no token of `response` is in FORBIDDEN, else a critique naming the forbidden words."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement critique_harmless in constitution.py')


def revise_harmless(prompt, response):
    """`response` with every forbidden token replaced by REDACT (a new list, same length)."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement revise_harmless in constitution.py')


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
    """None if no token appears more than MAX_RUN times in a row in `response`, else a critique."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement critique_concise in constitution.py')


def revise_concise(prompt, response):
    """`response` with every run of one token longer than MAX_RUN cut to MAX_RUN tokens."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement revise_concise in constitution.py')


def critique_ends(prompt, response):
    """None if `response` ends with EOS and holds no other EOS (so it is not empty), else a critique."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement critique_ends in constitution.py')


def revise_ends(prompt, response):
    """`response` cut just after its first EOS, or with an EOS appended when it has none."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement revise_ends in constitution.py')


def critique_short(prompt, response):
    """None if `response` has at most MAX_LEN tokens, else a critique."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement critique_short in constitution.py')


def revise_short(prompt, response):
    """`response` unchanged if it has at most MAX_LEN tokens, else its first MAX_LEN - 1 tokens and EOS."""
    # TODO: your code here
    raise NotImplementedError('TODO: implement revise_short in constitution.py')


def spec_constitution():
    """Given: the constitution of this week, a list of Principle in order (the one used when a function gets None)."""
    return [
        Principle("harmless", critique_harmless, revise_harmless),
        Principle("concise", critique_concise, revise_concise),
        Principle("ends", critique_ends, revise_ends),
        Principle("short", critique_short, revise_short),
    ]


# --- judging a response ---


def violations(prompt, response, constitution=None):
    """The names of the principles of `constitution` that `response` violates, in the constitution's order.

    constitution: a list of Principle; None means spec_constitution().
    """
    constitution = spec_constitution() if constitution is None else constitution
    # TODO: your code here
    raise NotImplementedError('TODO: implement violations in constitution.py')


def task_success(prompt, response):
    """Is the response helpful? True when its content carries the prompt's allowed words, in order, and nothing else.

    The content is the response up to its first EOS (all of it when it has
    none). Leave out the forbidden words and REDACT from both the prompt and the
    content; the response succeeds when what is left is the same list. So
    [5, 14, 6] is answered by [5, 14, 6, EOS] and by [5, REDACT, 6, EOS], but not
    by [5, 6, 6, EOS], [5, EOS] or [].
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement task_success in constitution.py')


# --- the critique-and-revision loop ---


def critique_and_revise(prompt, response, constitution=None, max_rounds=4):
    """Revise a response until it obeys the constitution, one principle per round (Bai et al. 2022, section 3.1).

    Each round critiques the current response with the principles in order;
    the FIRST principle whose critique is not None revises it, and the round
    ends. The loop stops when no principle has a critique, or after max_rounds
    revisions (then the last revision is returned, violations and all).

    Returns:
        (revised, history): the final response (a new list, even when nothing
        changed) and the list of (name, critique) of each revision, in order
        ([] when the response already obeys every principle).
    """
    constitution = spec_constitution() if constitution is None else constitution
    # TODO: your code here
    raise NotImplementedError('TODO: implement critique_and_revise in constitution.py')
