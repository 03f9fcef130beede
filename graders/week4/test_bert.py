"""Hidden checks for bert.py: equivalence with the reference in float64, weight tying, padding."""

import torch

from coursekit.grading.checks import expect_tensor, fail

TOL = dict(atol=1e-10, rtol=1e-8)
FIELDS = dict(
    vocab_size=20, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=24, max_position=12,
    type_vocab_size=2, dropout=0.1, layer_norm_eps=1e-12, num_labels=3, pad_id=0, cls_id=1, sep_id=2, mask_id=3,
)  # fmt: skip
EMBEDDING = "bert.embeddings.word_embeddings.weight"
CLASSES = ["BertEmbeddings", "BertLayer", "BertModel", "BertForMaskedLM", "BertForSequenceClassification"]


def close(actual, expected, what, case=""):
    from coursekit.grading.checks import expect_close

    expect_close(actual, expected, what, case=case, **TOL)


def config(ref, **over):
    return ref.bert.BertConfig(**{**FIELDS, **over})


def ref_module(ref, cls, gen, **over):
    """The reference `cls` in float64 with random weights (biases and LayerNorm gains that matter)."""
    module = getattr(ref.bert, cls)(config(ref, **over)).double().eval()
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.dim() == 1:
                base = 1.0 if name.endswith("norm.weight") else 0.0
                p.copy_(base + 0.3 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
            elif "embeddings" in name:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) / p.shape[1] ** 0.5)
    return module


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def make_inputs(gen, B=3, T=9, V=FIELDS["vocab_size"]):
    """Token ids with [CLS] first, padding after a random length; segment ids 0 then 1; the padding mask."""
    ids = torch.randint(4, V, (B, T), generator=gen)
    lengths = torch.tensor([T, T - 3, 4])[:B]
    ids[:, 0] = 1
    real = torch.arange(T) < lengths[:, None]
    ids[~real] = 0
    types = (torch.arange(T) >= (lengths[:, None] // 2)).long() * real
    return ids, types, real


def run(student, ref, cls, module, steps, **over):
    """Build the submission's `cls` with `module`'s weights in float64 and run `steps` on it."""
    cfg = student.obj("bert.BertConfig", **{**FIELDS, **over})
    answer = student.module(f"bert.{cls}", (cfg,), None, state_dict=state(module), dtype=torch.float64, steps=steps)
    return answer["steps"]


def forward(student, ref, cls, module, *args, over=None, **kwargs):
    steps = [{"mode": "eval", "args": list(args), "kwargs": kwargs}]
    return run(student, ref, cls, module, steps, **(over or {}))[0]["outputs"]


def test_bert_structure(student, ref):
    for cls in CLASSES:
        cfg = student.obj("bert.BertConfig", **FIELDS)
        answer = student.module(f"bert.{cls}", (cfg,), None, call=False, describe=True)
        got = answer["describe"]["parameters"]
        expected = {n: list(p.shape) for n, p in getattr(ref.bert, cls)(config(ref)).named_parameters()}
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing:
            fail(f"{cls} has no parameter {missing[0]} (the names the spec fixes)")
        if extra:
            fail(f"{cls} has an unexpected parameter {extra[0]}")
        for name, shape in expected.items():
            if list(got[name]) != shape:
                fail(f"{cls}.{name} has shape {tuple(got[name])}, expected {tuple(shape)}")


def test_embeddings_match_reference(student, ref, gen):
    module = ref_module(ref, "BertEmbeddings", gen)
    ids, types, _ = make_inputs(gen)
    for name, args in [("with segment ids", (ids, types)), ("token_type_ids=None", (ids,))]:
        out = forward(student, ref, "BertEmbeddings", module, *args)
        with torch.no_grad():
            expected = module(*args)
        close(out, expected, "BertEmbeddings output", name)


def test_layer_matches_reference(student, ref, gen):
    module = ref_module(ref, "BertLayer", gen)
    ids, _, real = make_inputs(gen)
    x = torch.randn(*ids.shape, FIELDS["hidden_size"], generator=gen, dtype=torch.float64)
    for name, mask in [("padding mask", real), ("no mask", None)]:
        out = forward(student, ref, "BertLayer", module, x, attention_mask=mask)
        with torch.no_grad():
            expected = module(x, attention_mask=mask)
        close(out, expected, "BertLayer output", name)


def test_model_matches_reference(student, ref, gen):
    module = ref_module(ref, "BertModel", gen)
    ids, types, real = make_inputs(gen)
    for name, kwargs in [("explicit mask", {"attention_mask": real}), ("mask from padding", {})]:
        out = forward(student, ref, "BertModel", module, ids, types, **kwargs)
        with torch.no_grad():
            expected = module(ids, types, **kwargs)
        close(out, expected, "BertModel hidden states", name)
    module = ref_module(ref, "BertModel", gen, num_layers=3, num_heads=2)
    out = forward(student, ref, "BertModel", module, ids, types, over=dict(num_layers=3, num_heads=2))
    with torch.no_grad():
        close(out, module(ids, types), "BertModel hidden states", "3 layers, 2 heads")


def test_mlm_logits_match_reference(student, ref, gen):
    module = ref_module(ref, "BertForMaskedLM", gen)
    ids, types, real = make_inputs(gen)
    out = forward(student, ref, "BertForMaskedLM", module, ids, types, real)
    expect_tensor(out, "BertForMaskedLM logits", shape=(*ids.shape, FIELDS["vocab_size"]), dtype=torch.float64)
    with torch.no_grad():
        close(out, module(ids, types, real), "BertForMaskedLM logits")


def test_classifier_logits_match_reference(student, ref, gen):
    module = ref_module(ref, "BertForSequenceClassification", gen)
    ids, types, real = make_inputs(gen)
    out = forward(student, ref, "BertForSequenceClassification", module, ids, types, real)
    expect_tensor(out, "classification logits", shape=(ids.shape[0], FIELDS["num_labels"]), dtype=torch.float64)
    with torch.no_grad():
        close(out, module(ids, types, real), "classification logits")


def test_bert_gradients(student, ref, gen):
    for cls in ("BertForMaskedLM", "BertForSequenceClassification"):
        module = ref_module(ref, cls, gen)
        ids, types, real = make_inputs(gen)
        with torch.no_grad():
            shape = module(ids, types, real).shape
        upstream = torch.randn(shape, generator=gen, dtype=torch.float64)
        step = {"mode": "eval", "args": [ids, types, real], "upstream": [upstream], "param_grads": True}
        got = run(student, ref, cls, module, [step])[0].get("param_grads", {})
        module.zero_grad()
        torch.autograd.backward(module(ids, types, real), upstream)
        for name, p in module.named_parameters():
            if got.get(name) is None:
                fail(f"no gradient reaches {cls}.{name}")
            close(got[name], p.grad, f"gradient of {cls}.{name}")


def test_mlm_weights_tied(student, ref, gen):
    module = ref_module(ref, "BertForMaskedLM", gen)
    cfg = student.obj("bert.BertConfig", **FIELDS)
    answer = student.module("bert.BertForMaskedLM", (cfg,), None, call=False, describe=True)
    params = answer["describe"]["parameters"]
    if "mlm.decoder.weight" in params:
        fail("mlm.decoder.weight is a parameter of its own: it should BE the token embedding matrix (tied)")
    count = sum(torch.Size(s).numel() for s in params.values())
    expected = sum(p.numel() for p in module.parameters())
    if count != expected:
        fail(f"BertForMaskedLM has {count} parameters, expected {expected} (the embedding matrix counted once)")
    # A session: change the token embeddings only; the decoder's weight must change with them.
    new = torch.randn(FIELDS["vocab_size"], FIELDS["hidden_size"], generator=gen, dtype=torch.float64)
    steps = [
        {"method": "load_state_dict", "args": [{EMBEDDING: new}], "kwargs": {"strict": False}, "return_state": True},
    ]
    got = run(student, ref, "BertForMaskedLM", module, steps)[0].get("state_dict", {})
    decoder = got.get("mlm.decoder.weight")
    if decoder is None:
        fail("BertForMaskedLM has no mlm.decoder.weight")
    if not torch.equal(decoder, new):
        fail("after loading new token embeddings, mlm.decoder.weight kept its old values: it should BE the embedding (tied)")


def test_padding_ignored(student, ref, gen):
    module = ref_module(ref, "BertModel", gen)
    ids, types, real = make_inputs(gen)
    other, other_types = ids.clone(), types.clone()
    other[~real] = torch.randint(4, FIELDS["vocab_size"], (int((~real).sum()),), generator=gen)
    other_types[~real] = 1
    steps = [
        {"mode": "eval", "args": [ids, types], "kwargs": {"attention_mask": real}},
        {"mode": "eval", "args": [other, other_types], "kwargs": {"attention_mask": real}},
        {"mode": "eval", "args": [ids, types]},
    ]
    a, b, c = (s["outputs"] for s in run(student, ref, "BertModel", module, steps))
    expect_tensor(a, "hidden states", shape=(*ids.shape, FIELDS["hidden_size"]))
    close(b[real], a[real], "hidden states of real tokens", "changing the padded positions must not change them")
    close(c[real], a[real], "hidden states of real tokens", "attention_mask=None should mean input_ids != pad_id")
