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
    """One problem as (prompt, completion), two lists of token ids (ints).

    Args:
        terms: the digits a_1 .. a_K of one problem (a list of ints or a 1-D
            tensor; 1 <= K <= N_TERMS).
        scratchpad: False for answer-only, True for the scratchpad format.

    Returns:
        answer-only: prompt [a_1, ..., a_K, EQ], completion [d, END];
        scratchpad:  prompt [a_1, ..., a_K, THINK], completion [r_1, ..., r_K, EQ, d, END],
        with r_k = a_1 + ... + a_k and d = r_K mod 10 (plain ints, not tensors).
    """
    terms = list(terms)
    d = sum(terms) % 10
    if not scratchpad:
        return terms + [EQ], [d, END]
    totals, running = [], 0
    for a in terms:
        running += a
        totals.append(running)
    return terms + [THINK], totals + [EQ, d, END]


def make_batch(problems, scratchpad):
    """Inputs and targets for next-token training, with the loss masked to the completion.

    Args:
        problems: (B, K) long, one problem per row (sample_problems).
        scratchpad: which format (format_example).

    Returns:
        (idx, targets), both (B, L - 1) long on the problems' device, where
        L = len(prompt) + len(completion) and each row's sequence s is its
        prompt followed by its completion: idx = s[:-1], and targets[t] = s[t + 1]
        where s[t + 1] is a completion token, -100 where it is a prompt token
        (F.cross_entropy(..., ignore_index=-100) leaves those out). So the
        last prompt position predicts the first completion token, and every
        completion token is a target.
    """
    rows, n_prompt = [], 0
    for terms in problems.tolist():
        prompt, completion = format_example(terms, scratchpad)
        rows.append(prompt + completion)
        n_prompt = len(prompt)
    seqs = torch.tensor(rows, dtype=torch.long, device=problems.device)  # (B, L)
    idx = seqs[:, :-1]
    targets = seqs[:, 1:].clone()
    targets[:, : n_prompt - 1] = -100  # the targets that are still prompt tokens
    return idx, targets


def parse_answer(tokens):
    """The final answer written in a generated sequence, or None if it is malformed.

    Args:
        tokens: a prompt followed by what the model generated after it (a
            list of ints or a 1-D tensor), e.g. 3 5 9 = 7 . or 3 5 9 : 3 8 17 = 7 .

    Returns:
        The sequence is read up to its first END token (what follows is
        ignored). It is well formed when the tokens before that END end with
        EQ and then one number token (0 .. MAX_NUMBER): the answer is that
        number, an int. Anything else gives None: no END, a last token before
        END that is not a number, or a number without EQ right before it.
        What comes before that EQ (the question, the scratchpad) does not matter.
    """
    tokens = [int(t) for t in tokens]
    if END not in tokens:
        return None
    body = tokens[: tokens.index(END)]
    if len(body) < 2 or body[-2] != EQ or not 0 <= body[-1] <= MAX_NUMBER:
        return None
    return body[-1]
