"""The grader's own judging helpers."""

import pytest
import torch

from coursekit.grading.checks import CheckFailed, expect_causal, expect_close, expect_tensor, forbidden_names

FORBIDDEN = {"scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward"}


@pytest.mark.parametrize("source", [
    "import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v)",
    "import torch\ntorch.nn.functional.scaled_dot_product_attention(q, k, v)",
    "from torch.nn.functional import scaled_dot_product_attention as sdpa",
    "from torch import nn\nnn.MultiheadAttention(8, 2)",
    "from torch.nn import MultiheadAttention",
])  # fmt: skip
def test_forbidden_builtins_are_found_in_source(source):
    assert forbidden_names(source, FORBIDDEN)


@pytest.mark.parametrize("source", [
    "def scaled_dot_product_attention(q, k, v):\n    return q",  # the student's own function
    "from attention import scaled_dot_product_attention\nscaled_dot_product_attention(q, k, v)",
    "import attention\nattention.scaled_dot_product_attention(q, k, v)",
    "raise NotImplementedError('TODO: implement scaled_dot_product_attention')",
    "def broken(:",
])  # fmt: skip
def test_own_code_is_not_mistaken_for_builtins(source):
    assert forbidden_names(source, FORBIDDEN) == []


def test_expect_close_reports_the_worst_error_and_catches_nan():
    expected = torch.zeros(3, dtype=torch.float64)
    expect_close(expected + 1e-12, expected, "x", atol=1e-10, rtol=0)
    with pytest.raises(CheckFailed, match="up to 1.00e-03"):
        expect_close(expected + 1e-3, expected, "x", atol=1e-10, rtol=0)
    with pytest.raises(CheckFailed, match="NaN"):
        expect_close(torch.tensor([float("nan"), 0, 0]), expected, "x", atol=1, rtol=0)
    with pytest.raises(CheckFailed, match="shape"):
        expect_close(torch.zeros(4), expected, "x", atol=1, rtol=0)


def test_expect_tensor_checks_type_shape_dtype_and_finiteness():
    with pytest.raises(CheckFailed, match="should be a torch.Tensor"):
        expect_tensor([1.0], "out")
    with pytest.raises(CheckFailed, match="dtype"):
        expect_tensor(torch.zeros(2), "out", dtype=torch.float64)
    with pytest.raises(CheckFailed, match="inf"):
        expect_tensor(torch.tensor([float("inf")]), "out")


@pytest.mark.parametrize("got, expected, words", [
    ((5, 3), (3, 5), "another order"),
    ((2, 4, 5), (2, 3, 5), "only dimension 1 is off (4 instead of 3)"),
    ((2, 1, 5), (2, 5), "dimensions of size 1"),
    ((2, 4, 3, 5), (2, 4, 15), "dimensions 2 and 3 should be one"),
    ((2, 60), (2, 4, 15), "dimension 1 should be split in two, 4 x 15"),
])  # fmt: skip
def test_a_wrong_shape_is_explained(got, expected, words):
    with pytest.raises(CheckFailed, match="has shape") as info:
        expect_tensor(torch.zeros(got), "out", shape=expected)
    assert words in str(info.value)


def test_expect_causal_names_the_first_position_that_sees_the_future():
    base = torch.randn(2, 6, 3, dtype=torch.float64)
    later = base.clone()
    later[:, 4:] += 1.0  # only positions 4 and 5 moved: causal
    expect_causal(later, base, 4, "logits", atol=1e-12, rtol=0)
    leaky = later.clone()
    leaky[1, 2, 0] += 1e-6  # position 2 moved too
    leaky[0, 3, 1] += 1e-6
    with pytest.raises(CheckFailed, match="position 2 changed when only positions 4 and later did"):
        expect_causal(leaky, base, 4, "logits", atol=1e-12, rtol=0)
    with pytest.raises(CheckFailed, match="position 2 changed when only positions 3 and later did"):
        expect_causal(leaky.transpose(0, 1), base.transpose(0, 1), 3, "logits", atol=1e-12, rtol=0, dim=0)
