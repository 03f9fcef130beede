"""Hidden checks for pretraining.py: the MLM loss, and training judged on the reference model.

The submission's pretrain_mlm and finetune_classifier train in the
submission's process on data the grader makes; only the trained weights come
back. They are loaded into the REFERENCE model here and evaluated on the
grader's own held-out data, masked by the reference mask_tokens with the
grader's seed: the weights must solve the task under the model the spec
describes.
"""

import torch
from torch.nn import functional as F

from coursekit.grading import week4_toys as toys
from coursekit.grading.checks import expect_close, expect_state_dict, expect_tensor, fail

PRETRAIN_STEPS = 300
FINETUNE_STEPS = 100
MLM_TARGET = 0.6  # share of held-out masked tokens recovered (chance ~4%, unigram guessing ~15%)
CLASSIFY_TARGET = 0.9  # held-out accuracy on the trigger-word task (chance 50%)
HELD_OUT = 1000


def config_obj(student):
    return student.obj("bert.BertConfig", **toys.config_fields())


def test_mlm_loss(student, gen):
    B, T, V = 3, 7, 11
    logits = torch.randn(B, T, V, generator=gen, dtype=torch.float64) * 3
    labels = torch.randint(V, (B, T), generator=gen)
    labels[torch.rand(B, T, generator=gen) < 0.7] = -100
    labels[0, 0] = 4  # at least one chosen position
    upstream = torch.tensor(1.7, dtype=torch.float64)
    answer = student.call("pretraining.mlm_loss", logits, labels, grad_wrt=["args.0"], upstream=[upstream])
    loss = expect_tensor(answer["outputs"], "mlm_loss", shape=(), dtype=torch.float64)
    leaf = logits.clone().requires_grad_(True)
    expected = F.cross_entropy(leaf.view(-1, V), labels.view(-1), ignore_index=-100)
    expect_close(loss, expected.detach(), "mlm_loss", atol=1e-10, rtol=1e-8, case="mean over the positions with a label")
    (expected * upstream).backward()
    grad = answer.get("grads", {}).get("args.0")
    if grad is None:
        fail("no gradient reaches the logits")
    expect_close(grad, leaf.grad, "gradient of mlm_loss with respect to the logits", atol=1e-10, rtol=1e-8)


def test_pretrain_mlm(student, ref, device):
    corpus = toys.sample_corpus(4000, torch.Generator().manual_seed(4101))
    answer = student.call(
        "pretraining.pretrain_mlm", config_obj(student), corpus, steps=PRETRAIN_STEPS, seed=17, device=device, watch=False
    )
    config = ref.bert.BertConfig(**toys.config_fields())
    model = ref.bert.BertForMaskedLM(config)
    state = expect_state_dict(answer["outputs"], model.state_dict(), "pretrain_mlm's returned model")
    state = {k: v.float().cpu() for k, v in state.items()}
    if not torch.equal(state["mlm.decoder.weight"], state["bert.embeddings.word_embeddings.weight"]):
        fail("the trained model's MLM decoder weight differs from its token embeddings: they should be tied")
    model.load_state_dict(state)
    model.eval()
    held = toys.sample_corpus(HELD_OUT, torch.Generator().manual_seed(4102))
    ids = held["input_ids"]
    masked, labels = ref.masking.mask_tokens(ids, toys.MASK, toys.VOCAB_SIZE, toys.SPECIAL_IDS, torch.Generator().manual_seed(4103))
    with torch.no_grad():
        logits = model(masked, held["token_type_ids"], ids != toys.PAD)
    chosen = labels != -100
    accuracy = (logits.argmax(-1)[chosen] == labels[chosen]).float().mean().item()
    if not accuracy >= MLM_TARGET:
        fail(f"after {PRETRAIN_STEPS} steps the model recovers {accuracy:.1%} of held-out masked tokens (needs {MLM_TARGET:.0%})")


def test_finetune_classifier(student, ref, device):
    config = ref.bert.BertConfig(**toys.config_fields())
    torch.manual_seed(4201)
    start = ref.bert.BertForMaskedLM(config)  # the grader's starting weights
    start_state = {k: v.detach().clone() for k, v in start.state_dict().items()}
    pretrained = student.obj("bert.BertForMaskedLM", config_obj(student), state_dict=start_state)
    data = toys.sample_classification(2000, torch.Generator().manual_seed(4202))
    answer = student.call(
        "pretraining.finetune_classifier", pretrained, data, steps=FINETUNE_STEPS, seed=23, device=device, watch=False
    )
    model = ref.bert.BertForSequenceClassification(config)
    state = expect_state_dict(answer["outputs"], model.state_dict(), "finetune_classifier's returned model")
    model.load_state_dict({k: v.float().cpu() for k, v in state.items()})
    model.eval()
    held = toys.sample_classification(HELD_OUT, torch.Generator().manual_seed(4203))
    ids = held["input_ids"]
    with torch.no_grad():
        logits = model(ids, held["token_type_ids"], ids != toys.PAD)
    accuracy = (logits.argmax(-1) == held["labels"]).float().mean().item()
    if not accuracy >= CLASSIFY_TARGET:
        fail(f"after {FINETUNE_STEPS} fine-tuning steps, held-out accuracy is {accuracy:.1%} (needs {CLASSIFY_TARGET:.0%})")
