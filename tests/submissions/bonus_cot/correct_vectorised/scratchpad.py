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
    terms = torch.as_tensor(terms).long().flatten()
    totals = torch.cumsum(terms, dim=0)
    d = int(totals[-1]) % 10
    prompt = terms.tolist() + [THINK if scratchpad else EQ]
    completion = (totals.tolist() + [EQ] if scratchpad else []) + [d, END]
    return prompt, completion


def make_batch(problems, scratchpad):
    B = problems.size(0)
    col = lambda token: torch.full((B, 1), token, dtype=torch.long, device=problems.device)
    d = problems.sum(1, keepdim=True) % 10
    if scratchpad:
        prompt = torch.cat([problems, col(THINK)], 1)
        completion = torch.cat([problems.cumsum(1), col(EQ), d, col(END)], 1)
    else:
        prompt = torch.cat([problems, col(EQ)], 1)
        completion = torch.cat([d, col(END)], 1)
    seqs = torch.cat([prompt, completion], 1)
    positions = torch.arange(seqs.size(1) - 1, device=problems.device)
    targets = torch.where(positions + 1 >= prompt.size(1), seqs[:, 1:], torch.full_like(seqs[:, 1:], -100))
    return seqs[:, :-1].clone(), targets


def parse_answer(tokens):
    tokens = torch.as_tensor(tokens).tolist() if not isinstance(tokens, list) else [int(t) for t in tokens]
    for i, t in enumerate(tokens):
        if t == END:
            if i >= 2 and tokens[i - 2] == EQ and tokens[i - 1] <= MAX_NUMBER and tokens[i - 1] >= 0:
                return int(tokens[i - 1])
            return None
    return None
