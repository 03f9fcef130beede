"""Visible tests for seq2seq.py: run `pytest test_seq2seq.py` (the training test takes a second or two)."""

import torch
from seq2seq import (
    EOS,
    PAD,
    AdditiveAttention,
    Encoder,
    Seq2Seq,
    exact_match,
    greedy_decode,
    make_reversal_batch,
    seq2seq_loss,
    train_seq2seq,
)


def test_attention_masks_padding_and_sums_to_one():
    torch.manual_seed(0)
    attention = AdditiveAttention(query_size=5, key_size=6, attn_size=4)
    s, h = torch.randn(3, 5), torch.randn(3, 7, 6)
    mask = torch.arange(7)[None, :] < torch.tensor([[7], [3], [1]])
    context, alpha = attention(s, h, mask)
    assert context.shape == (3, 6) and alpha.shape == (3, 7)
    assert (alpha[~mask] == 0).all(), "padded positions get weight exactly 0"
    torch.testing.assert_close(alpha.sum(dim=1), torch.ones(3))
    torch.testing.assert_close(context, (alpha[:, :, None] * h).sum(1))
    h2 = torch.where(mask[:, :, None], h, 100.0)
    torch.testing.assert_close(attention(s, h2, mask)[0], context, msg="padding never reaches the context")


def test_encoder_final_state_ignores_padding():
    torch.manual_seed(0)
    encoder = Encoder(vocab_size=13, emb_size=4, hidden_size=5)
    src = torch.tensor([[3, 4, 5, EOS, PAD, PAD], [6, 7, 8, 9, 10, EOS]])
    annotations, final = encoder(src)
    assert annotations.shape == (2, 6, 5) and final.shape == (2, 5)
    _, alone = encoder(src[:1, :4])  # row 0 without its padding
    torch.testing.assert_close(final[:1], alone)
    torch.testing.assert_close(final[1], annotations[1, -1])


def test_teacher_forcing_and_loss():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=13, emb_size=8, hidden_size=16, attn_size=16).eval()
    src, tgt = make_reversal_batch(4, 1, 5, generator=torch.Generator().manual_seed(0))
    logits, alphas = model(src, tgt[:, :-1])
    assert logits.shape == (4, 6, 13) and alphas.shape == (4, 6, 6)
    changed = tgt[:, :-1].clone()
    changed[:, 3] = 3  # a different true token at step 3 changes steps 3.. only
    logits2, _ = model(src, changed)
    torch.testing.assert_close(logits2[:, :3], logits[:, :3])
    loss = seq2seq_loss(logits, tgt[:, 1:])
    real = tgt[:, 1:] != PAD
    manual = -torch.log_softmax(logits, -1).gather(2, tgt[:, 1:, None])[..., 0][real].mean()
    torch.testing.assert_close(loss, manual, msg="the mean over the non-PAD targets")


def test_greedy_decode_stops_at_eos():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=13, emb_size=4, hidden_size=8, attn_size=8)
    with torch.no_grad():
        model.decoder.out.bias[EOS] = 100.0  # this model says EOS at once
    out = greedy_decode(model, torch.tensor([[3, 4, EOS], [5, EOS, PAD]]), max_len=4)
    assert torch.equal(out, torch.tensor([[EOS, PAD, PAD, PAD]] * 2)), "PAD after each row's EOS"


def test_train_seq2seq_learns_to_reverse():
    torch.manual_seed(0)
    model = Seq2Seq(vocab_size=13, emb_size=16, hidden_size=32, attn_size=32)
    log = []
    model = train_seq2seq(model, steps=40, batch_size=64, lr=2e-2, min_len=1, max_len=3, log=log)
    assert len(log) == 40 and not model.training
    src, tgt = make_reversal_batch(500, 1, 3, generator=torch.Generator().manual_seed(1))
    accuracy = exact_match(model, src, tgt)
    assert accuracy > 0.75, f"{accuracy:.1%} of held-out sequences of 1-3 digits reversed exactly after 40 steps"
