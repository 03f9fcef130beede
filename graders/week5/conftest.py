"""Week 5 grading setup: the built-ins this week's exercises ask students to write, and the shared data.

Students write the tokenizer in plain Python and build GPT-1 on the provided
Week 1 MultiHeadAttention: torch's Transformer layers and fused attention earn
no points. nn.Embedding, nn.LayerNorm, nn.Linear, F.gelu and F.cross_entropy
are allowed. Tiny Shakespeare is read from the course's own data/ folder,
never from the submission.
"""

import pytest
import torch

from coursekit.grading import week5_toys as toys

FORBIDDEN = ["scaled_dot_product_attention", "multi_head_attention_forward", "_native_multi_head_attention"]
MODULES = [
    "TransformerEncoderLayer",
    "TransformerEncoder",
    "TransformerDecoderLayer",
    "TransformerDecoder",
    "Transformer",
]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FORBIDDEN,  # torch functions, seen through a TorchFunctionMode
        "kernels": ["scaled_dot_product", "_native_multi_head_attention", "_transformer_encoder_layer_fwd"],
        "modules": [
            "torch.nn.modules.activation.MultiheadAttention",
            *(f"torch.nn.modules.transformer.{m}" for m in MODULES),
        ],  # module types constructed
        "names": [*FORBIDDEN, "MultiheadAttention", *MODULES],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(20180611)


@pytest.fixture(scope="session")
def shakespeare():
    """Tiny Shakespeare, from the course's data/ folder."""
    return toys.tiny_shakespeare()
