"""Hidden checks for sampling.py: the filters exactly, the sampling statistically, and generation.

Generation is checked on a toy language model with known next-token logits
(coursekit.grading.week6_toys.ToyLM), so those checks judge sampling.py
alone, then on the submission's own GPT for the KV cache: cached and
uncached generation must give the same tokens.
"""

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_tensor, fail
from coursekit.grading.week6_toys import ToyLM, model_obj, random_gpt, state

TOY = "coursekit.grading.week6_toys.ToyLM"
GENERATOR = "coursekit.grading.week6_toys.seeded_generator"
MARGIN = 1e-6  # the grader keeps p at least this far from any cumulative mass (no boundary ties)


def random_logits(gen, shape, dtype=torch.float64):
    """Logits whose rows range from flat to peaked, so nuclei of every size occur."""
    scale = 0.3 + 3.0 * torch.rand(*shape[:-1], 1, generator=gen, dtype=torch.float64)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def top_k_kept(logits, k):
    k = min(k, logits.size(-1))
    return logits >= torch.topk(logits, k, dim=-1).values[..., -1:]


def nucleus(logits, p):
    """(kept mask, how close p comes to a cumulative mass): the smallest prefix of the sorted
    probabilities whose mass is >= p, the crossing token included."""
    probs = F.softmax(logits.double(), dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    cum = sorted_probs.cumsum(-1)
    keep_sorted = (cum - sorted_probs) < p
    keep_sorted[..., 0] = True
    finite = sorted_probs > 0
    margin = (cum - p).abs()[finite & (cum < 1 - 1e-9)].min().item() if p < 1 else float("inf")
    return keep_sorted.scatter(-1, order, keep_sorted), margin


def filtered_probs(logits, temperature, top_k, top_p):
    """The spec's distribution, computed here: (probabilities, margin of p)."""
    if temperature == 0:
        return F.one_hot(logits.argmax(-1), logits.size(-1)).double(), float("inf")
    z = logits.double() / temperature
    if top_k is not None:
        z = z.masked_fill(~top_k_kept(z, top_k), float("-inf"))
    margin = float("inf")
    if top_p is not None:
        keep, margin = nucleus(z, top_p)
        z = z.masked_fill(~keep, float("-inf"))
    return F.softmax(z, dim=-1), margin


def filter_output(student, fn, logits, arg):
    answer = student.call(f"sampling.{fn}", logits, arg, return_inputs=True)
    out = expect_tensor(answer["outputs"], f"{fn}'s output", shape=logits.shape, dtype=logits.dtype, finite=False).cpu()
    if answer.get("inputs_changed"):
        fail(f"{fn} modifies its logits in place; return a new tensor")
    if torch.isnan(out).any() or (out == float("inf")).any():
        fail(f"{fn}'s output holds NaN or +inf")
    return out


def test_top_k_filter(student, gen):
    V = 30
    cases = [((5, V), 1), ((5, V), 3), ((4, V), 17), ((3, V), V - 1), ((3, V), V), ((3, V), V + 5), ((V,), 4),
             ((2, 3, V), 6), ((4, V), 2)]  # fmt: skip
    for i, (shape, k) in enumerate(cases):
        logits = random_logits(gen, shape, torch.float32 if i == len(cases) - 1 else torch.float64)
        out = filter_output(student, "top_k_filter", logits, k)
        kept, got = top_k_kept(logits, k), out > float("-inf")
        case = f"k={k}, logits of shape {tuple(shape)}"
        if (got & ~kept).any():
            fail(f"a token outside the k largest logits of its row was kept [{case}]")
        if (kept & ~got).any():
            fail(f"one of the k largest logits of its row was set to -inf [{case}]")
        if not torch.equal(out[kept], logits[kept]):
            fail(f"the kept logits changed: they should stay as they are [{case}]")


def test_top_p_filter(student, gen):
    V = 25
    cases = [((6, V), 0.05), ((6, V), 0.3), ((6, V), 0.5), ((6, V), 0.75), ((6, V), 0.9), ((6, V), 0.97),
             ((4, V), 1.0), ((V,), 0.6), ((2, 3, V), 0.8), ((5, V), 0.85)]  # fmt: skip
    for i, (shape, p) in enumerate(cases):
        dtype = torch.float32 if i == len(cases) - 1 else torch.float64
        while True:  # logits whose cumulative masses all stay clear of p
            logits = random_logits(gen, shape, dtype)
            expected, margin = nucleus(logits, p)
            if margin > (1e-4 if dtype == torch.float32 else MARGIN):
                break
        out = filter_output(student, "top_p_filter", logits, p)
        got = out > float("-inf")
        case = f"p={p}, logits of shape {tuple(shape)}"
        fewer, more = (expected & ~got).any(), (got & ~expected).any()
        if fewer and not more and (expected.sum(-1) - got.sum(-1)).max() == 1:
            fail(f"the token that crosses p was dropped: keep the smallest set whose mass is >= p, that token "
                 f"included [{case}]")  # fmt: skip
        if more and not fewer and (got.sum(-1) - expected.sum(-1)).max() == 1:
            fail(f"one token too many was kept: stop at the token whose mass crosses p [{case}]")
        if fewer or more:
            fail(f"the kept tokens are not the nucleus (the most likely tokens up to mass >= p) [{case}]")
        if not torch.equal(out[expected], logits[expected]):
            fail(f"the kept logits changed: they should stay as they are [{case}]")


PROB_CASES = [  # temperature, top_k, top_p
    (1.0, None, None),
    (0.5, None, None),
    (2.0, None, None),
    (0.7, 5, None),
    (1.3, None, 0.8),
    (0.8, 10, 0.6),
    (1.0, 1, None),
    (2.5, 25, 0.9),
    (0, None, None),
    (0, 3, 0.5),
]


def test_sampling_probs(student, gen):
    V = 20
    for i, (temperature, top_k, top_p) in enumerate(PROB_CASES + [(0.9, 7, 0.7)]):
        dtype = torch.float32 if i == len(PROB_CASES) else torch.float64
        while True:
            logits = random_logits(gen, (6, V), dtype)
            expected, margin = filtered_probs(logits, temperature, top_k, top_p)
            if margin > (1e-4 if dtype == torch.float32 else MARGIN):
                break
        answer = student.call("sampling.sampling_probs", logits, temperature=temperature, top_k=top_k, top_p=top_p)
        case = f"temperature={temperature}, top_k={top_k}, top_p={top_p}, {str(dtype).replace('torch.', '')}"
        out = expect_tensor(answer["outputs"], "sampling_probs's output", shape=logits.shape, dtype=dtype).cpu()
        if ((out != 0) & (expected == 0)).any():
            fail(f"a token that should be filtered out has a nonzero probability [{case}]")
        if ((out == 0) & (expected > 0)).any():
            fail(f"a token that should be kept has probability 0 [{case}]")
        tol = dict(atol=1e-12, rtol=1e-9) if dtype == torch.float64 else dict(atol=1e-6, rtol=1e-5)
        expect_close(out, expected, "the probabilities", case=case, **tol)


# --- generation on the toy model ---

TOY_KW = dict(vocab_size=12, block_size=10, scale=1.5)


def toy_kwargs(seed):
    return dict(TOY_KW, seed=seed)


def student_generate(student, toy_seed, idx, n, generator_seed=None, global_seed=0, **kwargs):
    generator = None if generator_seed is None else student.obj(GENERATOR, generator_seed, student.device)
    answer = student.call("sampling.generate", student.obj(TOY, **toy_kwargs(toy_seed)), idx, n, generator=generator,
                          seed=global_seed, return_inputs=True, **kwargs)  # fmt: skip
    return check_tokens(answer, idx, n)


def check_tokens(answer, idx, n, what="generate"):
    out = expect_tensor(answer["outputs"], f"{what}'s output", shape=(idx.shape[0], idx.shape[1] + n), dtype=torch.long)
    out = out.cpu()
    if answer.get("inputs_changed"):
        fail(f"{what} modifies the prompt idx in place")
    if not torch.equal(out[:, : idx.shape[1]], idx):
        fail(f"{what}'s output should start with the prompt")
    return out


def reference_generate(ref, device, toy_seed, idx, n, generator_seed=None, **kwargs):
    model = ToyLM(**toy_kwargs(toy_seed)).to(device)
    generator = None if generator_seed is None else torch.Generator(device=device).manual_seed(generator_seed)
    out = ref.sampling.generate(model, idx.to(device), n, generator=generator, use_cache=False, **kwargs)
    return out.cpu()


def test_generate_greedy(student, ref, device, gen):
    V, block = TOY_KW["vocab_size"], TOY_KW["block_size"]
    for toy_seed, B, T, n in [(1, 4, 3, 5), (2, 1, 1, 9), (3, 3, 6, 9), (4, 2, 12, 3)]:
        idx = torch.randint(V, (B, T), generator=gen)
        expected = reference_generate(ref, device, toy_seed, idx, n, temperature=0)
        for use_cache in (True, False):
            got = student_generate(student, toy_seed, idx, n, temperature=0, use_cache=use_cache)
            where = "past block_size, " if T + n > block else ""
            if not torch.equal(got, expected):
                fail(f"greedy tokens differ from the argmax of the model's logits [{where}use_cache={use_cache}]")


SAMPLED = [  # temperature, top_k, top_p
    (1.0, None, None),
    (0.7, 5, None),
    (1.3, None, 0.8),
    (0.9, 8, 0.6),
    (1.0, 3, 0.95),
]


def test_generate_matches_reference(student, ref, device, gen):
    V = TOY_KW["vocab_size"]
    for i, (temperature, top_k, top_p) in enumerate(SAMPLED):
        B, T, n, seed = 3, 1 + i % 3, 10, 100 + i
        idx = torch.randint(V, (B, T), generator=gen)
        kwargs = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        expected = reference_generate(ref, device, 10 + i, idx, n, generator_seed=seed, **kwargs)
        for use_cache in (True, False):
            got = student_generate(student, 10 + i, idx, n, generator_seed=seed, use_cache=use_cache, **kwargs)
            if not torch.equal(got, expected):
                fail(f"the sampled tokens differ from the reference's for the same generator seed "
                     f"(one torch.multinomial per step on the filtered probabilities) "
                     f"[temperature={temperature}, top_k={top_k}, top_p={top_p}, use_cache={use_cache}]")  # fmt: skip


def test_generate_reproducible(student, gen):
    V = TOY_KW["vocab_size"]
    idx = torch.randint(V, (4, 3), generator=gen)
    a = student_generate(student, 20, idx, 20, generator_seed=5, global_seed=1, top_k=6)
    b = student_generate(student, 20, idx, 20, generator_seed=5, global_seed=2, top_k=6)
    c = student_generate(student, 20, idx, 20, generator_seed=6, global_seed=1, top_k=6)
    if not torch.equal(a, b):
        fail("two generators in the same state gave different tokens: draw every random number from `generator`")
    if torch.equal(a, c):
        fail("generators seeded differently gave the same tokens: draw every random number from `generator`")
    student_generate(student, 20, idx, 4, top_p=0.9)  # generator=None draws from the global state


STAT_CASES = [  # temperature, top_k, top_p
    (1.0, None, None),
    (0.7, 4, None),
    (1.2, None, 0.7),
    (0.9, 6, 0.8),
]
ROWS = 3000  # samples per prompt
MIN_P_VALUE = 1e-6


def chi_square_p_value(counts, probs):
    """Pearson's chi-square test of counts against probs (all > 0): the p-value (upper tail)."""
    n = counts.sum()
    expected = n * probs
    stat = ((counts - expected) ** 2 / expected).sum()
    dof = torch.tensor(probs.numel() - 1, dtype=torch.float64)
    return torch.special.gammaincc(dof / 2, stat / 2).item()


def test_sampling_statistics(student, gen):
    V, toy_seed = TOY_KW["vocab_size"], 30
    toy = ToyLM(**toy_kwargs(toy_seed))
    prompts = torch.randint(V, (4, 3), generator=gen)
    idx = prompts.repeat_interleave(ROWS, dim=0)  # (4 * ROWS, 3)
    for i, (temperature, top_k, top_p) in enumerate(STAT_CASES):
        case = f"temperature={temperature}, top_k={top_k}, top_p={top_p}"
        kwargs = dict(temperature=temperature, top_k=top_k, top_p=top_p)
        out = student_generate(student, toy_seed, idx, 2, generator_seed=40 + i, use_cache=False, **kwargs)
        with torch.no_grad():
            logits, _ = toy(out)  # the logits after each position
        groups = []  # (rows, position of the drawn token): the first new token per prompt, the second per first
        for j in range(prompts.size(0)):
            rows = torch.arange(j * ROWS, (j + 1) * ROWS)
            groups.append((rows, 3))
            first = out[rows, 3]
            common = torch.bincount(first, minlength=V).argmax()
            groups.append((rows[first == common], 4))
        for rows, t in groups:
            probs, _ = filtered_probs(logits[rows[0], t - 1], temperature, top_k, top_p)
            drawn = out[rows, t]
            if (probs[drawn] == 0).any():
                fail(f"generate drew a token that has probability 0 after filtering (outside the top-k or the "
                     f"nucleus) [{case}]")  # fmt: skip
            kept = probs > 0
            counts = torch.bincount(drawn, minlength=V).double()[kept]
            if kept.sum() > 1 and chi_square_p_value(counts, probs[kept]) < MIN_P_VALUE:
                fail(f"the frequencies of generated tokens do not follow the filtered distribution "
                     f"(chi-square test over {len(rows)} draws) [{case}]")  # fmt: skip


# --- the KV cache, on the submission's own GPT ---

GPT_FIELDS = [
    dict(vocab_size=23, block_size=12, n_layer=2, n_head=4, n_embd=16, dropout=0.0, bias=True),
    dict(vocab_size=17, block_size=9, n_layer=3, n_head=1, n_embd=8, dropout=0.0, bias=False),
]
CACHE_CASES = [  # config, batch, prompt length, new tokens, (temperature, top_k, top_p)
    (0, 3, 4, 8, (0, None, None)),
    (0, 2, 1, 15, (1.0, 8, None)),
    (0, 4, 5, 6, (0.8, None, 0.9)),
    (1, 1, 9, 3, (0, None, None)),
    (1, 2, 2, 7, (1.2, None, None)),
    (1, 5, 3, 10, (0, None, None)),
    (0, 1, 11, 1, (1.0, 5, 0.9)),
]


def test_kv_cache_generate(student, ref, gen):
    for i, (config, B, T, n, (temperature, top_k, top_p)) in enumerate(CACHE_CASES):
        fields = GPT_FIELDS[config]
        weights = state(random_gpt(ref, gen, **fields))
        idx = torch.randint(fields["vocab_size"], (B, T), generator=gen)
        outs = []
        for use_cache in (True, False):
            answer = student.call(
                "sampling.generate", model_obj(student, fields, weights), idx, n, temperature=temperature,
                top_k=top_k, top_p=top_p, generator=student.obj(GENERATOR, 60 + i, student.device), use_cache=use_cache,
            )  # fmt: skip
            outs.append(check_tokens(answer, idx, n))
        if not torch.equal(*outs):
            mode = "greedy" if temperature == 0 else "sampled with the same generator seed"
            where = ", past block_size" if T + n > fields["block_size"] else ""
            fail(f"generation with the KV cache gives other tokens than without it [{mode}, batch {B}, "
                 f"prompt of {T}{where}]")  # fmt: skip
