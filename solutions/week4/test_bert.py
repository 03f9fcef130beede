"""Visible tests for bert.py: run `pytest test_bert.py`."""

import torch
from bert import BertConfig, BertEmbeddings, BertForMaskedLM, BertForSequenceClassification, BertLayer, BertModel

CONFIG = BertConfig(vocab_size=20, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=32, max_position=10, num_labels=3)


def inputs(B=2, T=8):
    ids = torch.randint(4, 20, (B, T))
    ids[:, 0] = CONFIG.cls_id
    ids[1, 5:] = CONFIG.pad_id
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 4:] = 1
    return ids, types


def test_shapes():
    ids, types = inputs()
    assert BertEmbeddings(CONFIG)(ids, types).shape == (2, 8, 16)
    assert BertLayer(CONFIG)(torch.randn(2, 8, 16), ids != 0).shape == (2, 8, 16)
    assert BertModel(CONFIG)(ids, types).shape == (2, 8, 16)
    assert BertForMaskedLM(CONFIG)(ids, types).shape == (2, 8, 20)
    assert BertForSequenceClassification(CONFIG)(ids, types).shape == (2, 3)


def test_embeddings_are_normalised():
    emb = BertEmbeddings(CONFIG).eval()
    ids, types = inputs()
    x = emb(ids, types)
    torch.testing.assert_close(x.mean(-1), torch.zeros(2, 8), atol=1e-5, rtol=0)


def test_segment_embeddings_matter():
    emb = BertEmbeddings(CONFIG).eval()
    ids, types = inputs()
    assert not torch.allclose(emb(ids, types), emb(ids, torch.zeros_like(types)))


def test_weights_tied():
    model = BertForMaskedLM(CONFIG)
    assert model.mlm.decoder.weight is model.bert.embeddings.word_embeddings.weight, "the decoder weight IS the embedding"
    names = [n for n, _ in model.named_parameters()]
    assert "mlm.bias" in names and "mlm.decoder.weight" not in names


def test_padding_does_not_leak():
    model = BertModel(CONFIG).eval()
    ids, types = inputs()
    out = model(ids, types)
    ids2 = ids.clone()
    ids2[1, 5:] = 7  # change the padded positions ...
    out2 = model(ids2, types, attention_mask=ids != CONFIG.pad_id)  # ... but keep them masked
    torch.testing.assert_close(out2[1, :5], out[1, :5])


def test_classifier_reads_cls():
    model = BertForSequenceClassification(CONFIG).eval()
    captured = {}
    model.pooler.register_forward_hook(lambda m, i, o: captured.update(x=i[0]))
    ids, types = inputs()
    model(ids, types)
    torch.testing.assert_close(captured["x"], model.bert(ids, types)[:, 0])
