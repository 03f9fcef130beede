"""Visible tests for finetune.py: run `pytest test_finetune.py` (it trains for a few seconds)."""

import torch
from finetune import accuracy, finetune_lora, pretrain, sample_task
from lora import count_trainable_parameters


def test_lora_fine_tuning_learns_the_new_task():
    model = pretrain()
    pretrained = {k: v.clone() for k, v in model.state_dict().items()}
    x_new, y_new = sample_task(2000, "new", torch.Generator().manual_seed(1))
    held_x, held_y = sample_task(2000, "new", torch.Generator().manual_seed(2))
    before = accuracy(model, held_x, held_y)
    model = finetune_lora(model, x_new, y_new, seed=0)
    after = accuracy(model, held_x, held_y)
    assert after > 0.85, f"new task: {before:.1%} before, {after:.1%} after LoRA fine-tuning"
    fraction = count_trainable_parameters(model) / sum(p.numel() for p in model.parameters())
    assert fraction < 0.05, f"{fraction:.1%} of the parameters trained"
    state = model.state_dict()
    for key, value in pretrained.items():
        assert torch.equal(state[key.replace("fc1.", "fc1.base.").replace("fc2.", "fc2.base.")], value), key
