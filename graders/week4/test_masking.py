"""Hidden checks for masking.py: BERT's 15% / 80-10-10 masking rule, judged by its statistics."""

import torch

from coursekit.grading.checks import expect_pair, expect_tensor, fail

MASK_TOKENS = "masking.mask_tokens"
PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = [PAD, CLS, SEP, MASK]
V = 60
ALLOWED = V - len(SPECIAL)  # ids a random replacement may take
GENERATOR = "coursekit.grading.week4_toys.seeded_generator"


def make_ids(gen, B=1000, T=64):
    """Batches of [CLS] a [SEP] b [SEP] [PAD]..., with a few stray [MASK] tokens in the text."""
    ids = torch.randint(4, V, (B, T), generator=gen)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=gen)
    rows = torch.arange(B)
    ids[:, 0] = CLS
    ids[rows, lengths // 2] = SEP
    ids[rows, lengths - 1] = SEP
    ids[torch.rand(B, T, generator=gen) < 0.01] = MASK
    ids[torch.arange(T) >= lengths[:, None]] = PAD
    return ids


def mask(student, ids, seed, p=0.15, global_seed=0, **kw):
    answer = student.call(
        MASK_TOKENS, ids, MASK, V, list(SPECIAL), generator=student.obj(GENERATOR, seed), mlm_probability=p,
        seed=global_seed, **kw,
    )  # fmt: skip
    masked, labels = expect_pair(answer["outputs"], "mask_tokens")
    expect_tensor(masked, "masked_ids", shape=ids.shape, dtype=ids.dtype)
    expect_tensor(labels, "labels", shape=ids.shape, dtype=torch.long)
    return masked, labels, answer


def special(ids):
    return torch.isin(ids, torch.tensor(SPECIAL))


def within(value, expected, tol, what):
    if abs(value - expected) > tol:
        fail(f"{what} is {value:.3f}, expected {expected:.3f} ± {tol:.3f}")


def test_mask_labels(student, gen):
    ids = make_ids(gen)
    masked, labels, _ = mask(student, ids, 1)
    chosen = labels != -100
    if not chosen.any():
        fail("no position has a label: labels should hold the original id at the chosen positions")
    if (labels[chosen] != ids[chosen]).any():
        fail("labels at the chosen positions should be the original token ids (not the masked ones)")
    if chosen.float().mean() > 0.5:
        fail("labels are set at most positions: they should be -100 wherever the token was not chosen")
    if (masked[~chosen] != ids[~chosen]).any():
        fail("a token that was not chosen (label -100) was changed in masked_ids")
    if (masked[chosen] == MASK).sum() == 0:
        fail("no chosen token became [MASK]")


def test_mask_never_special(student, gen):
    ids = make_ids(gen)
    for seed, p in [(2, 0.15), (3, 0.6)]:
        masked, labels, _ = mask(student, ids, seed, p=p)
        chosen = labels != -100
        for name, token in [("padding", PAD), ("[CLS]", CLS), ("[SEP]", SEP), ("[MASK]", MASK)]:
            at = ids == token
            if (chosen & at).any():
                fail(f"a {name} token was chosen for masking (it has a label); special tokens never are")
            if (masked[at] != token).any():
                fail(f"a {name} token was changed in masked_ids; special tokens never are")


def test_mask_selection_rate(student, gen):
    ids = make_ids(gen)
    eligible = ~special(ids)
    for seed, p in [(4, 0.15), (5, 0.3)]:
        _, labels, _ = mask(student, ids, seed, p=p)
        chosen = (labels != -100) & eligible
        n = eligible.sum().item()
        tol = 6 * (p * (1 - p) / n) ** 0.5
        within(chosen.sum().item() / n, p, tol, f"the share of eligible tokens chosen with mlm_probability={p}")
        # Each token is chosen independently: per-sequence counts vary like a binomial, not a fixed count.
        per_row, eligible_row = chosen.sum(1).double(), eligible.sum(1).double()
        z = (per_row - p * eligible_row) / (eligible_row * p * (1 - p)).sqrt()
        var = z.var().item()
        if not 0.7 < var < 1.4:
            fail(
                f"the number of chosen tokens per sequence varies {'too little' if var < 0.7 else 'too much'} "
                f"(variance {var:.2f} of the binomial's): each token should be chosen independently with probability p"
            )


def test_mask_80_10_10(student, gen):
    ids = make_ids(gen, B=2000)
    masked, labels, _ = mask(student, ids, 6)
    chosen = labels != -100
    n = chosen.sum().item()
    if n == 0:
        fail("no token was chosen")
    got, orig = masked[chosen], ids[chosen]
    to_mask = (got == MASK).float().mean().item()
    kept = (got == orig).float().mean().item()
    other = ((got != MASK) & (got != orig)).float().mean().item()
    sd = lambda q: (q * (1 - q) / n) ** 0.5
    exp_kept = 0.1 + 0.1 / ALLOWED  # a random token can be the original one
    within(to_mask, 0.8, 6 * sd(0.8), "the share of chosen tokens replaced by [MASK]")
    within(other, 0.1 - 0.1 / ALLOWED, 6 * sd(0.1), "the share of chosen tokens replaced by a random token")
    within(kept, exp_kept, 6 * sd(0.1), "the share of chosen tokens left unchanged")


def test_mask_random_tokens(student, gen):
    ids = make_ids(gen, B=2000)
    masked, labels, _ = mask(student, ids, 7, p=0.5)
    chosen = labels != -100
    replaced = chosen & (masked != MASK) & (masked != ids)
    tokens = masked[replaced]
    if tokens.numel() < 1000:
        fail(f"only {tokens.numel()} chosen tokens were replaced by a random token")
    bad = tokens[special(tokens)]
    if bad.numel():
        fail(f"a random replacement drew the special id {bad[0].item()}; they are drawn from the non-special ids only")
    if (tokens < 0).any() or (tokens >= V).any():
        fail("a random replacement is outside [0, vocab_size)")
    counts = torch.bincount(tokens, minlength=V)[len(SPECIAL):].double()
    if (counts == 0).any():
        missing = (counts == 0).nonzero()[0].item() + len(SPECIAL)
        fail(f"random replacements never drew id {missing}: they should be uniform over the non-special ids")
    mean = counts.mean()
    chi2 = ((counts - mean) ** 2 / mean).sum().item()  # ~ chi-square with ALLOWED - 1 dof
    if chi2 > ALLOWED + 8 * (2 * ALLOWED) ** 0.5:
        fail("random replacements are far from uniform over the non-special ids")


def test_mask_reproducible(student, gen):
    ids = make_ids(gen, B=200)
    a = mask(student, ids, 8, global_seed=1)
    b = mask(student, ids, 8, global_seed=2)
    c = mask(student, ids, 9, global_seed=1)
    if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
        fail("two generators in the same state gave different results: draw every random number from `generator`")
    if torch.equal(a[0], c[0]) and torch.equal(a[1], c[1]):
        fail("generators seeded differently gave the same result: draw every random number from `generator`")


def test_mask_input_unchanged(student, gen):
    ids = make_ids(gen, B=200)
    _, _, answer = mask(student, ids, 10, return_inputs=True)
    if answer.get("inputs_changed"):
        fail("mask_tokens modifies input_ids in place; work on a copy")
