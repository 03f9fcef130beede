"""Visible tests for char_rnn.py: run `pytest test_char_rnn.py` (the training test takes a second or two)."""

import torch
from char_rnn import CharRNN, CharVocab, batchify, evaluate_lm, lm_loss, load_text, sample, split_text, train_char_rnn


def test_char_rnn_shapes_and_carried_state():
    torch.manual_seed(0)
    for cell in ("rnn", "gru", "lstm"):
        model = CharRNN(vocab_size=11, n_embd=6, hidden_size=8, cell=cell)
        x = torch.randint(11, (3, 10))
        logits, state = model(x)
        assert logits.shape == (3, 10, 11)
        first, state = model(x[:, :4])
        second, _ = model(x[:, 4:], state)
        torch.testing.assert_close(torch.cat([first, second], dim=1), logits, msg=f"{cell}: carry the state")


def test_batchify_and_evaluate_lm():
    streams = batchify(torch.arange(23), 4)
    assert torch.equal(streams, torch.arange(20).view(4, 5)), "4 contiguous streams of 23 // 4 = 5 ids"
    torch.manual_seed(0)
    model = CharRNN(vocab_size=10, n_embd=4, hidden_size=5, cell="gru")
    data = torch.randint(10, (2, 13))
    got = evaluate_lm(model, data, seq_len=4)  # windows 0..2 (3 = (13 - 1) // 4), the state carried
    with torch.no_grad():
        logits, _ = model(data[:, :12])  # one pass over the same 12 positions: the same mean
    assert isinstance(got, float)
    assert abs(got - lm_loss(logits, data[:, 1:13]).item()) < 1e-5


def test_train_char_rnn_learns_characters():
    text = load_text()
    vocab = CharVocab(text)
    train, val = split_text(text)
    torch.manual_seed(0)
    model = CharRNN(vocab.vocab_size, n_embd=16, hidden_size=64, cell="gru")
    log = []
    model = train_char_rnn(model, vocab.encode(train[:200_000]), steps=40, batch_size=32, seq_len=8, lr=2e-2, log=log)
    assert [e["step"] for e in log] == list(range(1, 41))
    assert not model.training, "train_char_rnn returns the model in eval mode"
    loss = evaluate_lm(model, batchify(vocab.encode(val[:20_000]), 16), seq_len=32)
    assert loss < 2.9, f"held-out loss {loss:.2f} after 40 steps (a unigram model gets about 3.3)"


def test_sample_is_reproducible_and_greedy_at_zero():
    torch.manual_seed(0)
    model = CharRNN(vocab_size=12, n_embd=5, hidden_size=8, cell="lstm")
    prompt = torch.randint(12, (2, 3))
    a = sample(model, prompt, 20, generator=torch.Generator().manual_seed(1))
    b = sample(model, prompt, 20, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 23) and torch.equal(a[:, :3], prompt) and torch.equal(a, b)
    greedy = sample(model, prompt, 5, temperature=0)
    with torch.no_grad():
        logits, _ = model(greedy[:, :-1])
    assert torch.equal(greedy[:, 3:], logits[:, 2:].argmax(-1)), "temperature 0: each new id is the argmax"
