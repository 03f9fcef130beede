"""Hidden checks for training.py: gradient accumulation, the dynamic loss scaler, the mixed-precision step.

The model in the submission's process is the grader's own GPT
(coursekit.grading.week7_toys.GraderGPT) loaded with the grader's weights:
it refuses more rows than the largest micro-batch (accumulation must really
accumulate), starts with stale gradients (they must be cleared), makes a
micro-batch overflow on demand, and can insist on running under autocast.
Every expected value is computed here, in float64, by plain PyTorch: the
full batch's loss is the sum of the token losses over the count of labelled
tokens, and optimizer steps are torch's own.
"""

import math

import torch
from torch.nn import functional as F

from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

GRADER_GPT = "coursekit.grading.week7_toys.GraderGPT"
TOL = dict(atol=1e-10, rtol=1e-8)  # float64 equivalences
STEP_TOL = dict(atol=1e-9, rtol=1e-7)  # float64 weights after several optimizer steps
# mixed precision: |update - exact update| <= 5% of |exact update| (the reference, 10 seeds: bf16 0.5%, fp16 0.05%)
MP_TOL = 0.05
SMALL = dict(vocab_size=23, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.0, bias=True)
MEDIUM = dict(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32, dropout=0.0, bias=True)


# --- helpers ---


def reference_model(ref, fields, seed, dtype=torch.float64):
    """The reference GPT with nanoGPT's initialisation plus random biases and LayerNorm gains."""
    torch.manual_seed(seed)
    model = ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).to(dtype)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return model


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def grader_obj(student, fields, state, dtype, **instruments):
    return student.obj(GRADER_GPT, **fields, **instruments, state_dict=state, dtype=dtype)


def micro_batches(gen, fields, sizes, lengths=None, pad=0.0, empty=(), low=0, high=None):
    """(idx, targets) pairs of the given row counts (and lengths); a share `pad` of targets is -100,
    all of them in the micro-batches listed in `empty`; tokens drawn from [low, high)."""
    high = fields["vocab_size"] if high is None else high
    out = []
    for i, b in enumerate(sizes):
        T = fields["block_size"] if lengths is None else lengths[i]
        idx = torch.randint(low, high, (b, T), generator=gen)
        targets = torch.randint(low, high, (b, T), generator=gen)
        if pad:
            targets[torch.rand(b, T, generator=gen) < pad] = -100
            targets[0, 0] = int(torch.randint(low, high, (1,), generator=gen))  # at least one label
        if i in empty:
            targets[:] = -100
        out.append((idx, targets))
    return out


def full_batch(model, batches):
    """The full batch's mean loss over all labelled tokens, and its gradient by parameter name."""
    model.zero_grad(set_to_none=True)
    total, count = 0.0, 0
    for idx, targets in batches:
        logits, _ = model(idx)
        flat = targets.reshape(-1)
        total = total + F.cross_entropy(logits.reshape(-1, logits.size(-1)), flat, ignore_index=-100, reduction="sum")
        count += int((flat != -100).sum())
    loss = total / count
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return loss.detach(), grads


def expect_grads(got, expected, what, case, scale=1.0):
    if not isinstance(got, dict) or set(got) != set(expected):
        fail(f"{what}: the gradients should come back by parameter name [{case}]")
    missing = [n for n, g in got.items() if g is None]
    if missing:
        fail(f"{what}: {missing[0]} has no gradient [{case}]")
    for name, g in expected.items():
        expect_tensor(got[name], f"{what}: the gradient of {name}", shape=g.shape, finite=False)
    dot = sum(float((got[n].double() * expected[n]).sum()) for n in expected)
    norm = sum(float((expected[n] ** 2).sum()) for n in expected)
    ratio = dot / norm / scale if norm else float("nan")
    for name, g in expected.items():
        try:
            expect_close(got[name], g * scale, f"{what}: the gradient of {name}", case=case, **TOL)
        except AssertionError as exc:
            hint = f" (about {ratio:.3g} x the expected gradient)" if abs(ratio - 1) > 1e-3 else ""
            fail(f"{exc}{hint}")


def accumulate(student, ref, gen, case, sizes, lengths=None, pad=0.0, empty=(), loss_scale=None, seed=0):
    fields = SMALL
    model = reference_model(ref, fields, seed)
    batches = micro_batches(gen, fields, sizes, lengths, pad, empty)
    expected_loss, expected = full_batch(model, batches)
    obj = grader_obj(student, fields, state_of(model), torch.float64, max_rows=max(sizes), stale_grads=True)
    kwargs = {} if loss_scale is None else {"loss_scale": loss_scale}
    outputs = student.call("training.accumulated_gradients", obj, batches, **kwargs)["outputs"]
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail("accumulated_gradients (given) should return (loss, gradients): do not change it")
    loss, grads = outputs
    expect_close(loss, expected_loss, "the returned loss", case=case, **TOL)
    expect_grads(grads, expected, "accumulate_gradients", case, scale=1.0 if loss_scale is None else loss_scale)


# --- gradient accumulation ---


def test_accumulate_equal(student, ref, gen):
    for i, sizes in enumerate([[8], [4, 4], [2, 2, 2, 2]]):
        accumulate(student, ref, gen, f"{len(sizes)} equal micro-batches", sizes, seed=i)


def test_accumulate_unequal(student, ref, gen):
    cases = [([3, 1, 4], None), ([1, 5], None), ([3, 1, 2], [8, 3, 5]), ([2, 2], [8, 2])]
    for i, (sizes, lengths) in enumerate(cases):
        what = "unequal micro-batches" + (" of unequal lengths" if lengths else "")
        accumulate(student, ref, gen, what, sizes, lengths, seed=10 + i)


def test_accumulate_padding(student, ref, gen):
    accumulate(student, ref, gen, "targets with -100", [2, 3, 2], pad=0.4, seed=20)
    accumulate(student, ref, gen, "targets with -100, unequal lengths", [3, 1], [8, 5], pad=0.5, seed=21)
    accumulate(student, ref, gen, "a micro-batch with no labelled token", [2, 3, 2, 1], pad=0.3, empty=(1,), seed=22)


def test_accumulate_loss_scale(student, ref, gen):
    accumulate(student, ref, gen, "loss_scale 1024", [2, 2], loss_scale=1024.0, seed=30)
    accumulate(student, ref, gen, "loss_scale 1/8, unequal micro-batches", [3, 1], [8, 6], loss_scale=0.125, seed=31)


# --- the loss scaler ---


def scaler_reference(events, init_scale, growth_factor, backoff_factor, growth_interval):
    scale, good, states = init_scale, 0, []
    for found_inf in events:
        if found_inf:
            scale, good = scale * backoff_factor, 0
        else:
            good += 1
            if good == growth_interval:
                scale, good = scale * growth_factor, 0
        states.append({"scale": scale, "good_steps": good})
    return states


def test_scaler_update(student, gen):
    cases = [
        dict(init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=3),
        dict(init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.5, growth_interval=1),
        dict(init_scale=2.0**5, growth_factor=4.0, backoff_factor=0.25, growth_interval=5),
    ]
    for kwargs in cases:
        events = [bool(torch.rand(1, generator=gen) < 0.25) for _ in range(40)]
        steps = []
        for found_inf in events:
            steps += [{"method": "update", "args": [found_inf]}, {"method": "state_dict"}]
        answer = student.module("training.DynamicLossScaler", (), kwargs, steps=steps)
        states = [s["outputs"] for s in answer["steps"][1::2]]
        for i, (got, expected) in enumerate(zip(states, scaler_reference(events, **kwargs))):
            if got != expected:
                what = "an overflow" if events[i] else "a good step"
                fail(
                    f"after {what} (step {i + 1}, growth_interval "
                    f"{kwargs['growth_interval']}) the scaler is {got}, expected {expected}"
                )
    # the defaults: 2^16, doubled after 2000 good steps in a row
    steps = [{"method": "state_dict"}] + [{"method": "update", "args": [False]}] * 1999 + [{"method": "state_dict"}]
    steps += [{"method": "update", "args": [False]}, {"method": "state_dict"}]
    answer = student.module("training.DynamicLossScaler", (), {}, steps=steps)
    first, before, after = (answer["steps"][i]["outputs"] for i in (0, 2000, 2002))
    if first != {"scale": 65536.0, "good_steps": 0}:
        fail(f"DynamicLossScaler() starts at {first}, expected a scale of 2^16 = 65536 and no good steps")
    if before["scale"] != 65536.0 or after != {"scale": 131072.0, "good_steps": 0}:
        fail("with the defaults the scale should double after exactly 2000 good steps in a row")


def test_scaler_unscale(student, gen):
    def grads(*kinds):
        out = []
        for kind in kinds:
            if kind is None:
                out.append(None)
                continue
            g = torch.randn(4, 3, generator=gen) * 1e3
            if kind != "finite":
                g[1, 2] = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}[kind]
            out.append(g)
        return out

    cases = [
        (("finite", "finite"), False),
        (("finite", None, "finite"), False),
        (("finite", "inf"), True),
        (("nan", None, "finite"), True),
        ((None, "finite", "-inf"), True),
    ]
    for kinds, expected in cases:
        params = student.obj("coursekit.grading.week7_toys.parameters_with_grads", grads(*kinds))
        steps = [{"method": "unscale_", "args": [params]}, {"method": "state_dict"}]
        answer = student.module("training.DynamicLossScaler", (), {"init_scale": 512.0}, steps=steps)
        found, state = answer["steps"][0]["outputs"], answer["steps"][1]["outputs"]
        if isinstance(found, torch.Tensor) and found.numel() == 1 and found.dtype == torch.bool:
            found = bool(found)
        if type(found) is not bool:
            fail(f"unscale_ should return a bool, got {type(found).__name__}")
        if found != expected:
            grads_seen = ", ".join("no grad" if k is None else k for k in kinds)
            fail(f"unscale_ returns {found} for gradients ({grads_seen}), expected {expected}")
        if state != {"scale": 512.0, "good_steps": 0}:
            fail(f"unscale_ changed the scaler's state to {state}: only update() should")


# --- the training step ---


def run_fit(student, fields, state, dtype, batches, instruments=None, **kwargs):
    obj = grader_obj(student, fields, state, dtype, **(instruments or {}))
    outputs = student.call("training.fit", obj, batches, **kwargs)["outputs"]
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        fail("fit should return (model, history)")
    model, history = outputs
    if not isinstance(history, list) or len(history) != len(batches):
        fail(f"fit's history should hold one dict per step, got {type(history).__name__}")
    for info in history:
        if not isinstance(info, dict) or not {"loss", "grad_norm", "skipped", "scale"} <= set(info):
            fail("train_step should return a dict with loss, grad_norm, skipped and scale")
    return model, history


def flag(info, step):
    """train_step's "skipped" as a bool (a one-element bool tensor is accepted too)."""
    value = info["skipped"]
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype == torch.bool:
        value = bool(value)
    if type(value) is not bool:
        fail(f"step {step}'s skipped should be a bool, got {type(value).__name__}")
    return value


def expect_number(got, expected, what, rel):
    """A float (or int) within a relative tolerance `rel` of the expected value."""
    if type(got) not in (int, float):
        fail(f"{what} should be a number, got {type(got).__name__}")
    if not math.isclose(got, expected, rel_tol=rel, abs_tol=1e-12):
        fail(f"{what} is {got:.10g}, expected {expected:.10g} (tolerance {rel:g}, relative)")


def test_train_step_fp32(student, ref, gen):
    fields = SMALL
    model = reference_model(ref, fields, seed=40)
    start = state_of(model)
    batches = [micro_batches(gen, fields, sizes, lengths, pad=0.3) for sizes, lengths in
               [([3, 1], [8, 5]), ([2, 2, 2], None), ([1, 4], [6, 8])]]  # fmt: skip
    _, first = full_batch(model, batches[0])
    max_norm = 0.5 * math.sqrt(sum(float((g**2).sum()) for g in first.values()))  # clips at least the first step
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)
    losses, norms = [], []
    for batch in batches:
        loss, grads = full_batch(model, batch)
        for n, p in model.named_parameters():
            p.grad = grads[n]
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)))
        optimizer.step()
        losses.append(float(loss))
    make_optimizer = student.obj("coursekit.grading.week7_toys.adamw", lr=0.01, betas=[0.9, 0.95], weight_decay=0.1)
    got, history = run_fit(student, fields, start, torch.float64, batches, {"max_rows": 4},
                           make_optimizer=make_optimizer, max_norm=max_norm)  # fmt: skip
    for i, info in enumerate(history):
        expect_number(info["loss"], losses[i], f"step {i + 1}'s loss", 1e-9)
        expect_number(info["grad_norm"], norms[i], f"step {i + 1}'s grad_norm (before clipping)", 1e-7)
        if flag(info, i + 1) or info["scale"] != 1.0:
            fail(f"without a scaler no step is skipped and the scale is 1.0; step {i + 1} says {info}")
    state = expect_state_dict(got, start, "fit's returned model")
    for name, value in model.state_dict().items():
        expect_close(state[name], value, f"the weights {name} after 3 AdamW steps with clipping", **STEP_TOL)


def exact_update(ref, fields, state, batches, lr, max_norm=None):
    """The exact SGD update -lr * (clipped) gradient, the loss and the gradient norm, in float64."""
    model = ref.gpt.GPT(ref.gpt.GPTConfig(**fields)).double()
    model.load_state_dict({k: v.double() for k, v in state.items()})
    loss, grads = full_batch(model, batches)
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads.values()))
    coef = min(1.0, max_norm / (norm + 1e-6)) if max_norm else 1.0
    return {n: -lr * coef * g for n, g in grads.items()}, float(loss), norm


def relative_update_error(got_state, start, expected):
    """|update - expected update| / |expected update|, over all parameters together."""
    num = den = 0.0
    for name, delta in expected.items():
        moved = got_state[name].double() - start[name].double()
        num += float(((moved - delta) ** 2).sum())
        den += float((delta**2).sum())
    return math.sqrt(num / den)


MP_CASES = [  # autocast dtype, initial loss scale (None: no scaler)
    ("bfloat16", None),
    ("bfloat16", 2.0**10),
    ("float16", 2.0**12),
]


def mp_setup(ref, gen, seed):
    model = reference_model(ref, MEDIUM, seed, dtype=torch.float32)
    return state_of(model), [micro_batches(gen, MEDIUM, [4, 4])]


def mp_step(student, ref, start, batches, amp, scale, max_norm=None):
    """One SGD (lr 1) step of fit under autocast; the relative error of the update, the step's info,
    and the exact loss and gradient norm."""
    expected, loss, norm = exact_update(ref, MEDIUM, start, batches[0], lr=1.0, max_norm=max_norm)
    scaler = None if scale is None else student.obj("training.DynamicLossScaler", init_scale=scale)
    got, history = run_fit(
        student, MEDIUM, start, torch.float32, batches, {"max_rows": 4, "autocast": amp},
        make_optimizer=student.obj("coursekit.grading.week7_toys.sgd", lr=1.0), scaler=scaler, amp_dtype=amp,
        max_norm=max_norm,
    )  # fmt: skip
    state = expect_state_dict(got, start, "fit's returned model")
    case = (
        f"{amp} autocast" + (f", loss scale {scale:g}" if scale else ", no scaler") + (", clipping" if max_norm else "")
    )
    info = history[0]
    if flag(info, 1):
        fail(f"the step was skipped although no gradient overflowed [{case}]")
    return relative_update_error(state, start, expected), info, loss, norm, case


def test_mp_close_to_fp32(student, ref, gen):
    for i, (amp, scale) in enumerate(MP_CASES):
        start, batches = mp_setup(ref, gen, seed=50 + i)
        error, info, loss, norm, case = mp_step(student, ref, start, batches, amp, scale)
        if not error <= MP_TOL:
            fail(
                f"the weights moved {error:.3g} (relative) away from "
                f"the exact step's update, tolerance {MP_TOL} [{case}]"
            )
        expect_number(info["loss"], loss, f"the loss [{case}]", 0.02)
        expect_number(info["grad_norm"], norm, f"the gradient norm [{case}]", 0.05)


def test_mp_unscale_before_clip(student, ref, gen):
    for i, (amp, scale) in enumerate(MP_CASES[1:]):
        start, batches = mp_setup(ref, gen, seed=60 + i)
        _, _, norm = exact_update(ref, MEDIUM, start, batches[0], lr=1.0)
        error, info, _, norm, case = mp_step(student, ref, start, batches, amp, scale, max_norm=0.2 * norm)
        what = f"the reported gradient norm (of the unscaled gradients, before clipping) [{case}]"
        expect_number(info["grad_norm"], norm, what, 0.05)
        if not error <= MP_TOL:
            fail(
                f"the clipped update is {error:.3g} (relative) away "
                f"from the exact one: unscale before clipping [{case}]"
            )


def test_mp_overflow_skipped(student, ref, gen):
    fields = dict(SMALL)
    bad = fields["vocab_size"] - 1  # the overflow token
    model = reference_model(ref, fields, seed=70)
    start = state_of(model)

    def batch(poison):
        mbs = micro_batches(gen, fields, [2, 2], high=bad)
        if poison:
            mbs[1][0][1, 3] = bad
        return mbs

    pattern = [True, False, False, True, False, False, False, True, True, False]
    batches = [batch(p) for p in pattern]
    kwargs = dict(init_scale=256.0, growth_interval=2)
    expected_states = scaler_reference(pattern, 256.0, 2.0, 0.5, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.95), weight_decay=0.1)
    losses = []
    for poison, b in zip(pattern, batches):
        if poison:
            losses.append(None)
            continue
        loss, grads = full_batch(model, b)
        for n, p in model.named_parameters():
            p.grad = grads[n]
        optimizer.step()
        losses.append(float(loss))
    make_optimizer = student.obj("coursekit.grading.week7_toys.adamw", lr=0.01, betas=[0.9, 0.95], weight_decay=0.1)
    instruments = {"max_rows": 2, "overflow_token": bad}
    # one overflowing step alone: nothing moves
    scaler = student.obj("training.DynamicLossScaler", **kwargs)
    got, history = run_fit(student, fields, start, torch.float64, batches[:1], instruments,
                           make_optimizer=make_optimizer, scaler=scaler)  # fmt: skip
    state = expect_state_dict(got, start, "fit's returned model")
    if not flag(history[0], 1):
        fail("a step whose gradients overflow should be skipped (skipped: True)")
    if any(not torch.equal(state[n], start[n]) for n in start):
        fail("a skipped step changed the weights (no optimizer step, no weight decay on an overflow)")
    expect_number(history[0]["scale"], 128.0, "the scale after an overflow at 256", 0)
    # the whole pattern: overflows skipped, good steps taken, the scale halves and grows
    scaler = student.obj("training.DynamicLossScaler", **kwargs)
    got, history = run_fit(student, fields, start, torch.float64, batches, instruments,
                           make_optimizer=make_optimizer, scaler=scaler)  # fmt: skip
    for i, (info, poison, expected) in enumerate(zip(history, pattern, expected_states)):
        if flag(info, i + 1) is not poison:
            fail(f"step {i + 1} {'overflows and should' if poison else 'does not overflow and should not'} be skipped")
        expect_number(info["scale"], expected["scale"], f"the scale after step {i + 1} (growth_interval 2)", 0)
        if not poison:
            expect_number(info["loss"], losses[i], f"step {i + 1}'s loss", 1e-9)
    state = expect_state_dict(got, start, "fit's returned model")
    for name, value in model.state_dict().items():
        expect_close(state[name], value, f"the weights {name} after skipped and taken AdamW steps", **STEP_TOL)


def test_mp_master_weights_fp32(student, ref, gen):
    fields = MEDIUM
    for i, (amp, scale) in enumerate(MP_CASES[1:]):
        model = reference_model(ref, fields, seed=80 + i, dtype=torch.float32)
        start = state_of(model)
        batches = [micro_batches(gen, fields, [4, 4]) for _ in range(2)]
        scaler = student.obj("training.DynamicLossScaler", init_scale=scale)
        got, _ = run_fit(
            student, fields, start, torch.float32, batches, {"max_rows": 4, "autocast": amp},
            make_optimizer=student.obj("coursekit.grading.week7_toys.adamw", lr=1e-3), scaler=scaler, amp_dtype=amp,
        )  # fmt: skip
        state = expect_state_dict(got, start, f"the model after {amp} steps (its parameters should stay float32)")
        if all(torch.equal(state[n], start[n]) for n in start):
            fail(f"two {amp} steps changed no weight")
