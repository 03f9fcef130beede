"""The task and its two formats: answer-only, and a scratchpad of intermediate steps (Nye et al. 2021).

The task: the last digit of a sum. A problem is N_TERMS = 8 digits a_1 .. a_8
(each 0-9); its answer is (a_1 + a_2 + ... + a_8) mod 10.

Tokens. Every whole number 0 .. MAX_NUMBER (= 9 * N_TERMS = 72) is one token,
its own value; three more tokens mark the structure:

    THINK = 73   ":"  the question ends and the working starts (scratchpad format)
    EQ    = 74   "="  the final answer follows
    END   = 75   "."  the end of the completion

A training example is a prompt followed by a completion:

    answer-only:   a_1 a_2 ... a_8 =        |  d .
    scratchpad:    a_1 a_2 ... a_8 :        |  r_1 r_2 ... r_8 = d .

where r_k = a_1 + ... + a_k is the running total (a number up to 72, one
token) and d = r_8 mod 10 is the answer. For 3 5 9 (three terms):

    answer-only:   3 5 9 =   |  7 .
    scratchpad:    3 5 9 :   |  3 8 17 = 7 .

Answer-only, the model must find the last digit of a sum of eight digits in
one step: no proper subset of the digits tells it anything about that digit,
and small Transformers barely learn it. With the scratchpad each new token is
a small step: r_k adds one digit to the total just written, and d is the last
digit of the last total. The model learns these steps, and then strings them
together at test time. Only the completion is trained on (the loss is masked
to it): the prompt is a uniformly random question, nothing to predict.
"""

import itertools

import torch

N_TERMS = 8  # digits in a problem
MAX_NUMBER = 9 * N_TERMS  # the largest running total: number tokens are 0 .. 72
THINK, EQ, END = MAX_NUMBER + 1, MAX_NUMBER + 2, MAX_NUMBER + 3  # ":", "=", "."
VOCAB_SIZE = MAX_NUMBER + 4  # 76
NAMES = {THINK: ":", EQ: "=", END: "."}


# --- the task (finished) ---


def sample_problems(n, generator, n_terms=N_TERMS):
    """n problems of n_terms random digits: (n, n_terms) long."""
    return torch.randint(10, (n, n_terms), generator=generator)


def last_digit(terms):
    """The answer to a problem: the last digit of the sum of its terms (an int)."""
    return int(sum(int(a) for a in terms)) % 10


def show(tokens):
    """Tokens as text, e.g. [3, 5, 9, 73, 3, 8, 17, 74, 7, 75] -> '3 5 9 : 3 8 17 = 7 .'."""
    return " ".join(NAMES.get(int(t), str(int(t))) for t in tokens)


# --- what you write ---


def format_example(terms, scratchpad):
    digits = [int(t) for t in terms]
    answer = [sum(digits) % 10, END]
    if not scratchpad:
        return [*digits, EQ], answer
    steps = list(itertools.accumulate(digits))
    return [*digits, THINK], [*steps, EQ, *answer]


def make_batch(problems, scratchpad):
    rows_x, rows_y = [], []
    for terms in problems:
        prompt, completion = format_example(terms.tolist(), scratchpad)
        seq = prompt + completion
        rows_x.append(seq[:-1])
        rows_y.append([-100] * (len(prompt) - 1) + completion)
    return (
        torch.tensor(rows_x, dtype=torch.long).to(problems.device),
        torch.tensor(rows_y, dtype=torch.long).to(problems.device),
    )


def parse_answer(tokens):
    seq = [int(t) for t in tokens]
    try:
        end = seq.index(END)
    except ValueError:
        return None
    if end < 2:
        return None
    marker, value = seq[end - 2], seq[end - 1]
    if marker == EQ and value in range(MAX_NUMBER + 1):
        return value
    return None
