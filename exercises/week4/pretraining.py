"""Pre-training BERT with the masked-LM objective, then fine-tuning it to classify (Devlin et al., 2018, section 3).

The recipe of the paper, at toy scale:

1. Pre-train: mask a batch with `mask_tokens`, run BertForMaskedLM, and
   minimise the cross-entropy of the original tokens at the chosen
   positions only (`mlm_loss`). Repeat.
2. Fine-tune: copy the pre-trained encoder into a
   BertForSequenceClassification, and train everything (encoder, pooler,
   classifier) on labelled examples with cross-entropy on the [CLS] logits.

The data is a small synthetic language, given here finished. Token ids:
0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK], then 8 "words" of 3 tokens each: word w
is the tokens 4 + 3w, 5 + 3w, 6 + 3w. A segment is 1 to 3 words; its first
word is random and each next word is (w + 1) or (w + 2) mod 8. An example is

    [CLS] A [SEP] B [SEP] [PAD] ...     (21 tokens; segment ids 0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding)

where B continues A's chain. A masked token can be told from the other
tokens of its word, and at word boundaries from the chain: a model that
reads both directions of context can recover most of them. The
classification task: does the example contain word 0 (tokens 4, 5, 6)?
"""

import torch
from bert import BertConfig, BertForMaskedLM, BertForSequenceClassification
from masking import mask_tokens
from torch.nn import functional as F

# --- the synthetic language (finished) ---

PAD, CLS, SEP, MASK = 0, 1, 2, 3
N_WORDS, WORD_LEN, MAX_WORDS = 8, 3, 3
VOCAB_SIZE = 4 + N_WORDS * WORD_LEN  # 28
SEQ_LEN = 1 + 2 * (MAX_WORDS * WORD_LEN + 1)  # 21
TRIGGER = 0  # the word the classification task looks for


def language_config(**overrides):
    """The tiny BertConfig used for this language (hidden 48, 2 layers, 3 heads)."""
    fields = dict(
        vocab_size=VOCAB_SIZE, hidden_size=48, num_layers=2, num_heads=3, intermediate_size=96,
        max_position=SEQ_LEN, type_vocab_size=2, dropout=0.1, num_labels=2,
        pad_id=PAD, cls_id=CLS, sep_id=SEP, mask_id=MASK,
    )  # fmt: skip
    return BertConfig(**{**fields, **overrides})


def _example(generator):
    n_a = 1 + int(torch.randint(MAX_WORDS, (1,), generator=generator))
    n_b = 1 + int(torch.randint(MAX_WORDS, (1,), generator=generator))
    words = [int(torch.randint(N_WORDS, (1,), generator=generator))]
    for _ in range(n_a + n_b - 1):
        step = 1 + int(torch.randint(2, (1,), generator=generator))
        words.append((words[-1] + step) % N_WORDS)

    def tokens(ws):
        return [4 + WORD_LEN * w + i for w in ws for i in range(WORD_LEN)]

    a, b = tokens(words[:n_a]), tokens(words[n_a:])
    ids = [CLS, *a, SEP, *b, SEP]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = SEQ_LEN - len(ids)
    return ids + [PAD] * pad, segments + [0] * pad, words


def sample_corpus(n, generator):
    """n examples: {"input_ids": (n, 21) long, "token_type_ids": (n, 21) long}."""
    examples = [_example(generator) for _ in range(n)]
    return {
        "input_ids": torch.tensor([e[0] for e in examples]),
        "token_type_ids": torch.tensor([e[1] for e in examples]),
    }


def sample_classification(n, generator):
    """n labelled examples: the corpus fields plus "labels" (n,) long, 1 when word 0 occurs (half of them)."""
    ids, segments, labels = [], [], []
    while len(labels) < n:
        want = len(labels) % 2
        i, s, words = _example(generator)
        if int(TRIGGER in words) == want:
            ids.append(i)
            segments.append(s)
            labels.append(want)
    return {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(segments), "labels": torch.tensor(labels)}


@torch.no_grad()
def masked_accuracy(model, corpus, generator, device="cpu"):
    """Share of masked-out tokens a BertForMaskedLM recovers, on `corpus` masked with `generator`."""
    model.eval()
    ids = corpus["input_ids"].to(device)
    masked, labels = mask_tokens(ids, model.config.mask_id, model.config.vocab_size, model.config.special_ids, generator)
    logits = model(masked, corpus["token_type_ids"].to(device), ids != model.config.pad_id)
    chosen = labels != -100
    return (logits.argmax(-1)[chosen] == labels[chosen]).float().mean().item()


@torch.no_grad()
def classification_accuracy(model, data, device="cpu"):
    """Share of examples a BertForSequenceClassification labels correctly."""
    model.eval()
    ids = data["input_ids"].to(device)
    logits = model(ids, data["token_type_ids"].to(device), ids != model.config.pad_id)
    return (logits.argmax(-1).cpu() == data["labels"]).float().mean().item()


# --- what you write ---


def mlm_loss(logits, labels):
    """Mean cross-entropy over the chosen positions only.

    Args:
        logits: (B, T, V) float.
        labels: (B, T) long, the original id at chosen positions, -100 elsewhere.

    Returns:
        A scalar: -(1/N) sum over the N positions with labels != -100 of
        log softmax(logits)[label], the same as
        F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100).
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement mlm_loss in pretraining.py')


def pretrain_mlm(config, corpus, steps=300, seed=0, device="cpu", batch_size=64, lr=3e-3):
    """Pre-train a BertForMaskedLM on `corpus` with the masked-LM objective.

    Args:
        config: a BertConfig (its mask_id, vocab_size and special_ids drive the masking).
        corpus: {"input_ids": (N, T) long, "token_type_ids": (N, T) long}, on the CPU or on `device`.
        steps: optimizer steps; each draws a batch of `batch_size` rows of the corpus at random.
        seed: seeds everything: the model's initialisation (torch.manual_seed(seed)
            before building it) and a torch.Generator for batches and masking.
        device: where to train.

    Returns:
        The trained BertForMaskedLM, on `device`. Use AdamW, dropout on
        (model.train()), the attention mask `input_ids != config.pad_id`, a
        fresh masking of every batch with `mask_tokens`, and `mlm_loss`.
        With the defaults the model recovers well over 80% of the masked
        tokens of held-out text (see `masked_accuracy`) in a few seconds.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement pretrain_mlm in pretraining.py')


def finetune_classifier(pretrained, data, steps=100, seed=0, device="cpu", batch_size=64, lr=1e-3):
    """Fine-tune a pre-trained encoder into a BertForSequenceClassification.

    Args:
        pretrained: a BertForMaskedLM (its .config and .bert are used; it is not modified).
        data: {"input_ids": (N, T), "token_type_ids": (N, T), "labels": (N,)} long tensors, on the CPU or on `device`.
        steps, seed, device, batch_size, lr: as in pretrain_mlm (torch.manual_seed(seed)
            before building the classifier, a torch.Generator(seed) for batches).

    Returns:
        The trained BertForSequenceClassification on `device`, whose encoder
        started as a copy of pretrained.bert (load its state dict) and whose
        pooler and classifier start fresh. Train all of it with AdamW and
        cross-entropy on the logits.
    """
    # TODO: your code here
    raise NotImplementedError('TODO: implement finetune_classifier in pretraining.py')
