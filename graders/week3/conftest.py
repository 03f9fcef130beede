"""Week 3 grading setup: the built-ins this week's exercises ask students to write.

Students assemble the Transformer from the provided Week 1 MultiHeadAttention:
torch's Transformer modules and fused attention earn no points, and the
label-smoothed loss is written with log_softmax (F.cross_entropy and
F.nll_loss earn none). nn.Embedding, nn.LayerNorm, nn.Linear, torch.optim
and F.log_softmax are allowed.
"""

import pytest
import torch

FORBIDDEN = ["scaled_dot_product_attention", "multi_head_attention_forward", "_native_multi_head_attention"]
LOSSES = ["cross_entropy", "nll_loss", "CrossEntropyLoss", "NLLLoss"]
MODULES = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder", "Transformer"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": [*FORBIDDEN, "cross_entropy", "nll_loss"],  # torch functions, seen through a TorchFunctionMode
        "kernels": ["scaled_dot_product", "_native_multi_head_attention", "_transformer_encoder_layer_fwd"],
        "modules": [
            "torch.nn.modules.activation.MultiheadAttention",
            "torch.nn.modules.loss.CrossEntropyLoss",
            "torch.nn.modules.loss.NLLLoss",
            *(f"torch.nn.modules.transformer.{m}" for m in MODULES),
        ],  # module types constructed
        "names": [*FORBIDDEN, "MultiheadAttention", *MODULES, *LOSSES],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20170613)
