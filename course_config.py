"""The course's single configuration file.

It is two things at once:

* nbgrader's config file. `nbgrader_config.py` loads it, so plain `nbgrader`
  commands run in this folder see the course id, the gradebook database and
  the exchange directory set below; the `course` command loads it too.
* The course manifest: the weeks, their titles and papers, the exercise
  modules of each week, and the points and time limits of every graded check
  of the hidden grading suite (`graders/weekN/`). Nothing else hard-codes them.
"""

import os
import sys

try:
    c = get_config()  # noqa: F821  (injected when traitlets loads this file as config)
except NameError:  # imported as a plain module by the `course` tool
    from traitlets.config import Config

    c = Config()

ROOT = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- nbgrader
COURSE_ID = "llm-from-scratch"
c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.root = ROOT
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "gradebook.db")
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", os.path.join(ROOT, "exchange"))
# Only notebooks travel from source/ to release/: the .py files in source/ hold
# the solutions and the visible tests, which reach students through exercises/,
# and the lesson README is already the notebook's first cell. nbgrader applies
# this one list to every copy it makes, so `nbgrader collect` gets a shorter
# one: a student may hand in .py files as well as the notebook.
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
COLLECTING = sys.argv[1:2] == ["collect"]
c.CourseDirectory.ignore = IGNORE if COLLECTING else [*IGNORE, "*.py", "README.md"]
c.ClearSolutions.code_stub = {"python": "# TODO: your code here\nraise NotImplementedError('TODO')"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# ---------------------------------------------------------------- manifest
# Each graded check of the hidden suite: points, a time limit in seconds
# (enforced by pytest-timeout inside the grader, and by a hard kill outside),
# and one line saying what it checks. The line is shown to students, in the
# notebook and in feedback; the check's code and inputs never are. A check may
# also set "visibility" (Gradescope's: hidden, after_due_date, after_published
# or visible) to override GRADESCOPE_VISIBILITY below.
WEEKS = {
    "week1": {
        "title": "Attention",
        "papers": [
            {
                "title": "Attention Is All You Need",
                "authors": "Vaswani et al.",
                "year": 2017,
                "url": "https://arxiv.org/abs/1706.03762",
            }
        ],
        # Exercise modules, in teaching order; each has a visible test file test_<module>.py.
        "modules": ["attention", "positional_encoding", "multi_head_attention"],
        "checks": {
            # attention.py: scaled_dot_product_attention and causal_mask
            "sdpa_shapes": {
                "points": 1,
                "timeout": 30,
                "about": "output and weight shapes over several batch shapes, d_k != d_v and Lq != Lk",
            },
            "sdpa_matches_reference": {
                "points": 3,
                "timeout": 30,
                "about": "outputs and weights equal the reference in float32 and float64",
            },
            "sdpa_matches_builtin": {
                "points": 2,
                "timeout": 30,
                "about": "output equals torch's F.scaled_dot_product_attention",
            },
            "sdpa_masks": {
                "points": 2,
                "timeout": 30,
                "about": "causal, padding, 1-D and per-head boolean masks",
            },
            "sdpa_fully_masked_rows": {
                "points": 1,
                "timeout": 30,
                "about": "a query whose keys are all masked gets zero output and zero weights, not NaN",
            },
            "sdpa_numerical_stability": {
                "points": 1,
                "timeout": 30,
                "about": "large-magnitude scores stay finite and exact (stable softmax, -inf fill)",
            },
            "sdpa_gradients": {
                "points": 2,
                "timeout": 30,
                "about": "gradients with respect to q, k and v equal the reference's",
            },
            "sdpa_inputs_unchanged": {
                "points": 1,
                "timeout": 30,
                "about": "q, k, v and the mask are not modified in place",
            },
            "causal_mask": {
                "points": 1,
                "timeout": 30,
                "about": "the lower-triangular boolean mask, its shape, dtype and device",
            },
            # positional_encoding.py
            "pe_shape_dtype": {
                "points": 1,
                "timeout": 30,
                "about": "shape (max_len, d_model), float dtype, requested device",
            },
            "pe_values": {
                "points": 2,
                "timeout": 30,
                "about": "sin on even and cos on odd dimensions at the paper's frequencies",
            },
            # multi_head_attention.py
            "mha_structure": {
                "points": 1,
                "timeout": 30,
                "about": "the four d_model x d_model projections with the names the API fixes",
            },
            "mha_matches_builtin": {
                "points": 3,
                "timeout": 60,
                "about": "output equals torch.nn.MultiheadAttention holding the same weights",
            },
            "mha_matches_reference": {
                "points": 2,
                "timeout": 60,
                "about": "output and per-head weights equal the reference, with d_k = d_model / n_heads",
            },
            "mha_gradients": {
                "points": 2,
                "timeout": 60,
                "about": "gradients with respect to inputs and all projection weights",
            },
            "mha_masks": {
                "points": 1,
                "timeout": 60,
                "about": "causal and padding masks across heads and batches",
            },
            # training a tiny transformer built on the submission's MultiHeadAttention
            "train_reversal": {
                "points": 3,
                "timeout": 180,
                "about": "a tiny transformer built on your MultiHeadAttention learns to reverse sequences",
            },
            "train_copy": {
                "points": 3,
                "timeout": 180,
                "about": "a tiny transformer built on your MultiHeadAttention learns to copy sequences",
            },
        },
    },
    "week2": {
        "title": "Normalization and residual learning",
        "papers": [
            {"title": "Deep Residual Learning for Image Recognition", "authors": "He et al.", "year": 2015, "url": "https://arxiv.org/abs/1512.03385"},
            {"title": "Layer Normalization", "authors": "Ba, Kiros and Hinton", "year": 2016, "url": "https://arxiv.org/abs/1607.06450"},
        ],
        "modules": ["layer_norm", "batch_norm", "residual"],
        "checks": {
            # layer_norm.py: layer_norm and LayerNorm
            "ln_matches_builtin": {
                "points": 3,
                "timeout": 30,
                "about": "layer_norm equals F.layer_norm over several shapes, in float32 and float64",
            },
            "ln_module": {
                "points": 2,
                "timeout": 30,
                "about": "LayerNorm's weight (ones) and bias (zeros), its eps, and its output with given weights",
            },
            "ln_gradients": {
                "points": 2,
                "timeout": 30,
                "about": "gradients with respect to the input, weight and bias equal F.layer_norm's",
            },
            "ln_numerical_stability": {
                "points": 1,
                "timeout": 30,
                "about": "inputs with a large mean (10^4 + small noise) in float32 stay accurate",
            },
            "ln_large_eps": {
                "points": 1,
                "timeout": 30,
                "about": "with a large eps (0.1, 1) the output still equals F.layer_norm: eps inside the square root",
            },
            # batch_norm.py: BatchNorm1d
            "bn_structure": {
                "points": 1,
                "timeout": 30,
                "about": "parameters weight and bias, buffers running_mean and running_var, their initial values",
            },
            "bn_train_matches_builtin": {
                "points": 3,
                "timeout": 30,
                "about": "training-mode output equals nn.BatchNorm1d for (N, C) and (N, C, L) inputs",
            },
            "bn_running_stats": {
                "points": 3,
                "timeout": 30,
                "about": "running_mean and running_var after each of several training steps equal nn.BatchNorm1d's",
            },
            "bn_eval_mode": {
                "points": 2,
                "timeout": 30,
                "about": "eval mode normalizes with the running statistics and leaves them unchanged",
            },
            "bn_gradients": {
                "points": 2,
                "timeout": 30,
                "about": "gradients in training and eval mode, over several steps, equal nn.BatchNorm1d's",
            },
            "bn_numerical_stability": {
                "points": 1,
                "timeout": 30,
                "about": "inputs with a large mean (10^4 + small noise) in float32 stay accurate",
            },
            "bn_large_eps": {
                "points": 1,
                "timeout": 30,
                "about": "with a large eps the output still equals nn.BatchNorm1d's, in training and eval mode",
            },
            # residual.py: ResidualBlock, DeepMLP, gradient_norms
            "residual_block": {
                "points": 2,
                "timeout": 30,
                "about": "ResidualBlock's parameter names and output, with and without the skip, for each norm",
            },
            "deep_mlp": {
                "points": 2,
                "timeout": 30,
                "about": "DeepMLP's parameter names and output, for each norm, with and without skips",
            },
            "gradient_flow": {
                "points": 3,
                "timeout": 30,
                "about": "per-block gradients of your DeepMLP: they vanish without skips and do not with them",
            },
            "gradient_norms_function": {
                "points": 2,
                "timeout": 30,
                "about": "gradient_norms returns the per-block gradient norms the grader computes",
            },
        },
    },
    "week3": {
        "title": "The Transformer, assembled and trained",
        "papers": [
            {"title": "Attention Is All You Need", "authors": "Vaswani et al.", "year": 2017, "url": "https://arxiv.org/abs/1706.03762"},
        ],
        # Modules a week takes, finished, from an earlier week's reference: copied into the week's
        # folders by `course build` and laid over the submission by the grader.
        "provided": {"attention": "week1", "positional_encoding": "week1", "multi_head_attention": "week1"},
        "modules": ["data", "transformer", "training", "decoding"],
        "checks": {
            # data.py
            "data_batches": {"points": 2, "timeout": 30, "about": "BOS/EOS/PAD layout, shapes, lengths and the copy, reverse and sort targets of make_batch"},
            "data_padding_mask": {"points": 1, "timeout": 30, "about": "the (B, 1, 1, L) boolean padding mask, True at real tokens"},
            # transformer.py
            "encoder_layer_matches_builtin": {"points": 3, "timeout": 60, "about": "EncoderLayer equals nn.TransformerEncoderLayer with the same weights, post-norm and pre-norm"},
            "decoder_layer_matches_builtin": {"points": 3, "timeout": 60, "about": "DecoderLayer equals nn.TransformerDecoderLayer with the same weights, post-norm and pre-norm"},
            "model_matches_reference": {"points": 3, "timeout": 60, "about": "Transformer's state dict, encode, decode and forward equal the reference's"},
            "model_causal": {"points": 1, "timeout": 60, "about": "changing later target tokens leaves the logits of earlier positions unchanged"},
            "model_padding": {"points": 1, "timeout": 60, "about": "padded source positions, whatever they hold, do not change the logits"},
            # training.py
            "lr_schedule": {"points": 2, "timeout": 30, "about": "the paper's warmup then inverse-square-root learning rate"},
            "label_smoothing": {"points": 2, "timeout": 30, "about": "loss and gradient equal F.cross_entropy with label_smoothing and ignore_index"},
            "train_copy": {"points": 2, "timeout": 120, "about": "train_model's Transformer copies held-out sequences (99% exact, greedy)"},
            "train_reversal": {"points": 3, "timeout": 120, "about": "train_model's Transformer reverses held-out sequences (99% exact, greedy)"},
            "train_sorting": {"points": 3, "timeout": 120, "about": "train_model's Transformer sorts held-out sequences (99% exact, greedy)"},
            # decoding.py
            "greedy_decode": {"points": 2, "timeout": 60, "about": "greedy tokens of a batch, stopping at EOS and padding after it"},
            "beam_one_is_greedy": {"points": 1, "timeout": 60, "about": "beam search with beam_size 1 gives the greedy sequence"},
            "beam_search_exact": {"points": 3, "timeout": 60, "about": "a wide beam finds the best length-normalised sequence, found by enumeration"},
            "beam_search_matches_reference": {"points": 2, "timeout": 60, "about": "narrow beams give the reference's sequence and score"},
        },
    },
    "week4": {
        "title": "BERT",
        "papers": [
            {"title": "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding", "authors": "Devlin et al.", "year": 2018, "url": "https://arxiv.org/abs/1810.04805"},
        ],
        "provided": {"attention": "week1", "multi_head_attention": "week1"},
        "modules": ["masking", "bert", "pretraining"],
        "checks": {
            # masking.py: mask_tokens
            "mask_labels": {"points": 2, "timeout": 30, "about": "labels hold the original id exactly at the chosen positions and -100 elsewhere"},
            "mask_never_special": {"points": 2, "timeout": 30, "about": "padding, [CLS], [SEP] and [MASK] are never chosen nor changed"},
            "mask_selection_rate": {"points": 2, "timeout": 30, "about": "each eligible token is chosen independently with probability mlm_probability"},
            "mask_80_10_10": {"points": 2, "timeout": 30, "about": "of the chosen tokens, 80% become [MASK], 10% a random token, 10% stay"},
            "mask_random_tokens": {"points": 1, "timeout": 30, "about": "random replacements are uniform over the non-special ids"},
            "mask_reproducible": {"points": 1, "timeout": 30, "about": "the same generator state gives the same result, another seed another one"},
            "mask_input_unchanged": {"points": 1, "timeout": 30, "about": "input_ids is not modified in place"},
            # bert.py
            "bert_structure": {"points": 1, "timeout": 30, "about": "the parameters the API names, with their shapes, in every class"},
            "embeddings_match_reference": {"points": 2, "timeout": 30, "about": "token + position + segment embeddings, LayerNorm, in float64"},
            "layer_matches_reference": {"points": 2, "timeout": 30, "about": "the post-norm GELU encoder layer equals the reference, with and without a mask"},
            "model_matches_reference": {"points": 2, "timeout": 30, "about": "BertModel's hidden states equal the reference's"},
            "mlm_logits_match_reference": {"points": 2, "timeout": 30, "about": "BertForMaskedLM's logits equal the reference's"},
            "classifier_logits_match_reference": {"points": 2, "timeout": 30, "about": "BertForSequenceClassification's [CLS] logits equal the reference's"},
            "bert_gradients": {"points": 2, "timeout": 30, "about": "gradients of every parameter of both heads equal the reference's"},
            "mlm_weights_tied": {"points": 2, "timeout": 30, "about": "the MLM decoder weight IS the token embedding matrix (one parameter)"},
            "padding_ignored": {"points": 2, "timeout": 30, "about": "padded positions change no real position's output; no mask means ids != pad_id"},
            # pretraining.py: trained in your process, judged on the reference model with held-out data
            "mlm_loss": {"points": 1, "timeout": 30, "about": "cross-entropy over the labelled positions only, and its gradient"},
            "pretrain_mlm": {"points": 4, "timeout": 120, "about": "your pre-training loop teaches a tiny BERT to recover masked tokens of a toy language"},
            "finetune_classifier": {"points": 3, "timeout": 90, "about": "your fine-tuning loop trains the [CLS] classifier on a toy task"},
        },
    },
    # @week5
    # @week6
    # @week7
    # @week8
}

# Hard limit for one submission's whole grading run, in seconds.
SUBMISSION_TIMEOUT = 900
# Limits on the submission's process (README: "How grading isolates a submission"):
# memory in GiB, and the processes and threads it may start.
SUBMISSION_MEMORY_GIB = 6
SUBMISSION_TASKS = 256

# Gradescope visibility of the hidden checks in results.json: the score and
# reasons of each check are shown to students only after the due date.
GRADESCOPE_VISIBILITY = "after_due_date"

# Submissions graded at once by `course autograde` (default: one per CPU core).
GRADING_JOBS = None
