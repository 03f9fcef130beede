"""Recurrent unit grading setup: the built-ins its exercises ask students to write, and the shared data.

Students write the RNN, GRU and LSTM cells themselves: torch's recurrent
modules (nn.RNNCell, nn.GRUCell, nn.LSTMCell, nn.RNN, nn.GRU, nn.LSTM) and
their functions and kernels earn no points. nn.Embedding, nn.Linear,
F.cross_entropy, torch.optim and torch.nn.utils.clip_grad_norm_ are allowed.
Tiny Shakespeare is read from the course's own data/ folder, never from
the submission.
"""

import pytest
import torch

from coursekit.grading import bonus_rnn_toys as toys

FUNCTIONS = ["rnn_tanh_cell", "rnn_relu_cell", "gru_cell", "lstm_cell", "rnn_tanh", "rnn_relu", "gru", "lstm"]
MODULES = ["RNNCell", "GRUCell", "LSTMCell", "RNN", "GRU", "LSTM", "RNNBase", "RNNCellBase"]


@pytest.fixture(scope="session")
def forbid():
    return {
        "functions": FUNCTIONS,  # torch functions, seen through a TorchFunctionMode
        "kernels": ["gru", "lstm", "rnn_tanh", "rnn_relu", "_thnn_fused"],  # reached by any route
        "modules": [f"torch.nn.modules.rnn.{m}" for m in MODULES],  # module types constructed
        "names": [*FUNCTIONS, *MODULES],  # names read from the source itself
    }


@pytest.fixture
def gen():
    """A fresh, seeded generator for each check's random inputs."""
    return torch.Generator().manual_seed(19970815)


@pytest.fixture(scope="session")
def shakespeare():
    """Tiny Shakespeare, from the course's data/ folder."""
    return toys.tiny_shakespeare()
