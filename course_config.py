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
        # Figures drawn at the end of the notebook by the notebook's own code (`course plot KIND`).
        "plots": ["attention", "positional-encoding"],
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
        "plots": ["norms", "gradient-flow"],
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
        "plots": ["transformer-training", "transformer-attention"],
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
    "week5": {
        "title": "GPT-1: tokenization and a causal language model",
        "papers": [
            {"title": "Improving Language Understanding by Generative Pre-Training", "authors": "Radford, Narasimhan, Salimans and Sutskever", "year": 2018, "url": "https://cdn.openai.com/research-covers/language-unsupervised/language_understanding_paper.pdf"},
            {"title": "Neural Machine Translation of Rare Words with Subword Units", "authors": "Sennrich, Haddow and Birch", "year": 2016, "url": "https://arxiv.org/abs/1508.07909"},
            {"title": "Language Models are Unsupervised Multitask Learners", "authors": "Radford et al.", "year": 2019, "url": "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf"},
        ],
        "provided": {"attention": "week1", "multi_head_attention": "week1"},
        "modules": ["bpe", "gpt1", "training"],
        "plots": ["lm-loss"],
        "data": ["tinyshakespeare.txt"],
        "checks": {
            # bpe.py: merge, train_bpe, Tokenizer
            "bpe_merge": {"points": 1, "timeout": 30, "about": "merge replaces a pair left to right without overlap, in runs too"},
            "bpe_train_matches_reference": {"points": 3, "timeout": 60, "about": "train_bpe learns exactly the reference's merges on English, multilingual, random Unicode and code-like corpora"},
            "bpe_tie_breaking": {"points": 2, "timeout": 60, "about": "tied pair counts go to the smallest pair; every position of a run like 'aaaa' counts"},
            "bpe_vocab_size": {"points": 1, "timeout": 30, "about": "vocab_size - 256 merges, none for 256, and an early stop when nothing is left to merge"},
            "bpe_encode_matches_reference": {"points": 2, "timeout": 30, "about": "encode gives the reference's ids on held-out English, multilingual and edge-case text"},
            "bpe_encode_rank_order": {"points": 2, "timeout": 30, "about": "encode applies merges by rank (training order), for merge lists no corpus taught"},
            "bpe_decode": {"points": 1, "timeout": 30, "about": "decode joins the bytes first; invalid UTF-8 becomes U+FFFD (errors='replace')"},
            "bpe_roundtrip": {"points": 2, "timeout": 30, "about": "decode(encode(s)) == s for hundreds of random Unicode strings: emoji, combining marks, CJK, astral, whitespace, empty"},
            "bpe_save_load": {"points": 1, "timeout": 30, "about": "a saved and loaded Tokenizer encodes and decodes exactly as the original"},
            "bpe_compression": {"points": 2, "timeout": 120, "about": "trained on 100 KB of Tiny Shakespeare with 512 tokens, held-out bytes per token equal the reference's"},
            "bpe_encode_speed": {"points": 2, "timeout": 60, "about": "encoding 50 KB of Tiny Shakespeare takes at most 25x the reference's time (at least 2 s allowed)"},
            # gpt1.py
            "gpt_structure": {"points": 1, "timeout": 30, "about": "the parameters the API names, with their shapes, in MLP, Block and GPT"},
            "gpt_weights_tied": {"points": 1, "timeout": 30, "about": "lm_head.weight IS wte.weight: one parameter, counted once"},
            "block_matches_reference": {"points": 2, "timeout": 30, "about": "MLP and the post-norm GELU Block with causal attention equal the reference in float64"},
            "gpt_matches_reference": {"points": 3, "timeout": 30, "about": "GPT's logits equal the reference's in float64, for several depths, widths and lengths"},
            "gpt_gradients": {"points": 2, "timeout": 30, "about": "gradients of every parameter equal the reference's"},
            "gpt_causal": {"points": 2, "timeout": 30, "about": "changing later tokens never changes the logits of earlier positions"},
            "lm_loss": {"points": 1, "timeout": 30, "about": "mean cross-entropy over all B * T positions, and its gradient"},
            # training.py: trained in your process, judged on the reference model with held-out text
            "get_batch": {"points": 2, "timeout": 30, "about": "random windows x and their next tokens y, uniform over every start, reproducible from the generator"},
            "train_char_lm": {"points": 4, "timeout": 180, "about": "your train_lm makes a character-level GPT reach 2.40 nats per character on held-out Shakespeare in 400 steps"},
        },
    },
    "week6": {
        "title": "GPT-2: the modern recipe, sampling and the KV cache",
        "papers": [
            {"title": "Language Models are Unsupervised Multitask Learners", "authors": "Radford et al.", "year": 2019, "url": "https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf"},
            {"title": "Decoupled Weight Decay Regularization", "authors": "Loshchilov and Hutter", "year": 2019, "url": "https://arxiv.org/abs/1711.05101"},
            {"title": "The Curious Case of Neural Text Degeneration", "authors": "Holtzman et al.", "year": 2020, "url": "https://arxiv.org/abs/1904.09751"},
            {"title": "Using the Output Embedding to Improve Language Models", "authors": "Press and Wolf", "year": 2017, "url": "https://arxiv.org/abs/1608.05859"},
        ],
        "modules": ["gpt", "optim", "sampling"],
        "plots": ["gpt-loss"],
        "checks": {
            # gpt.py
            "gpt_structure": {"points": 1, "timeout": 30, "about": "the parameters the API names, with their shapes, with and without biases"},
            "gpt_forward_matches_reference": {"points": 3, "timeout": 60, "about": "pre-norm blocks, exact GELU and final LayerNorm: logits and loss equal the reference's in float64"},
            "gpt_gradients": {"points": 2, "timeout": 60, "about": "the gradient of every parameter, the tied matrix's included, equals the reference's"},
            "gpt_causal": {"points": 1, "timeout": 30, "about": "changing later tokens leaves the logits of earlier positions unchanged"},
            "gpt_weight_tying": {"points": 2, "timeout": 30, "about": "lm_head.weight IS transformer.wte.weight: one parameter, counted once, loaded together"},
            "gpt_init_statistics": {"points": 2, "timeout": 60, "about": "N(0, 0.02) weights, N(0, 0.02/sqrt(2·n_layer)) residual projections, zero biases, measured on a wide model"},
            "kv_cache_forward": {"points": 3, "timeout": 60, "about": "chunks of one or more tokens through a KVCache give the logits of one pass, and len(cache) counts positions"},
            # optim.py
            "optimizer_groups": {"points": 3, "timeout": 30, "about": "AdamW decays exactly the parameters with dim >= 2, each parameter once, with the given settings"},
            "cosine_schedule": {"points": 2, "timeout": 30, "about": "linear warmup then cosine to min_lr, at many steps and at every boundary"},
            "clip_grad_norm": {"points": 3, "timeout": 30, "about": "the returned norm and the clipped gradients equal torch.nn.utils.clip_grad_norm_'s"},
            "clip_grad_norm_nonfinite": {"points": 1, "timeout": 30, "about": "with an inf or NaN gradient, the same norm and gradients as torch's default"},
            # sampling.py
            "top_k_filter": {"points": 2, "timeout": 30, "about": "exactly the k largest logits of each row are kept, unchanged; -inf elsewhere"},
            "top_p_filter": {"points": 3, "timeout": 30, "about": "exactly the nucleus of each row is kept: the fewest most likely tokens whose mass reaches p"},
            "sampling_probs": {"points": 2, "timeout": 30, "about": "temperature, then top-k, then top-p, then softmax; temperature 0 is the argmax"},
            "sampling_statistics": {"points": 2, "timeout": 60, "about": "thousands of generated tokens follow the filtered distribution and never leave it"},
            "generate_greedy": {"points": 2, "timeout": 30, "about": "temperature 0 follows the argmax, with and without the cache, past block_size too"},
            "generate_matches_reference": {"points": 3, "timeout": 30, "about": "sampled tokens equal the reference's for the same generator seed, with and without the cache"},
            "generate_reproducible": {"points": 1, "timeout": 30, "about": "the generator alone decides the tokens: same seed, same text; another seed, another"},
            "kv_cache_generate": {"points": 3, "timeout": 60, "about": "your GPT generates the same tokens with and without the KV cache, greedy and sampled"},
        },
    },
    "week7": {
        "title": "GPT-3: the arithmetic of scale",
        "papers": [
            {"title": "Language Models are Few-Shot Learners", "authors": "Brown et al.", "year": 2020, "url": "https://arxiv.org/abs/2005.14165"},
            {"title": "Scaling Laws for Neural Language Models", "authors": "Kaplan et al.", "year": 2020, "url": "https://arxiv.org/abs/2001.08361"},
            {"title": "Mixed Precision Training", "authors": "Micikevicius et al.", "year": 2018, "url": "https://arxiv.org/abs/1710.03740"},
            {"title": "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models", "authors": "Rajbhandari et al.", "year": 2020, "url": "https://arxiv.org/abs/1910.02054"},
        ],
        # gpt.py is given finished: the model every exercise counts, trains and evaluates.
        "modules": ["gpt", "accounting", "training", "icl"],
        "checks": {
            # accounting.py: parameters, FLOPs and memory from a config
            "params_built_models": {"points": 3, "timeout": 60, "about": "count_parameters equals sum(p.numel()) of GPTs built from random configs, with and without biases"},
            "params_non_embedding": {"points": 1, "timeout": 30, "about": "non_embedding=True leaves out exactly the token and position embeddings"},
            "params_gpt3": {"points": 2, "timeout": 60, "about": "every GPT-3 size of Table 2.1 within 2% of the paper; 175B gives 174.6e9"},
            "forward_flops": {"points": 2, "timeout": 30, "about": "Kaplan's C_forward = 2N + 2 n_layer n_ctx d_attn, exactly, on random configs and GPT-3"},
            "training_flops": {"points": 2, "timeout": 30, "about": "3 x the forward FLOPs per token, and 6ND: 3.14e23 FLOPs (3640 PF-days) for GPT-3 175B"},
            "state_bytes": {"points": 2, "timeout": 30, "about": "weights, gradients and Adam state in fp32 (4+4+8) and mixed precision (2+2+12 bytes per parameter)"},
            "state_bytes_measured": {"points": 1, "timeout": 60, "about": "the estimate equals the bytes torch holds for a real model, its gradients and AdamW's state after a step"},
            "zero_stages": {"points": 2, "timeout": 30, "about": "ZeRO stages 1-3 partition optimizer state, gradients and weights; Figure 1's 120 / 31.4 / 16.6 / 1.9 GB"},
            "activation_bytes": {"points": 2, "timeout": 30, "about": "Korthikanti et al.'s 34sbh + 5as^2b bytes per layer, and with selective and full recomputation"},
            # training.py: accumulation, the loss scaler, the mixed-precision step
            "accumulate_equal": {"points": 2, "timeout": 60, "about": "over k equal micro-batches the gradient and loss equal the full batch's, whatever .grad held before"},
            "accumulate_unequal": {"points": 2, "timeout": 60, "about": "micro-batches of unequal sizes and lengths are weighted by their tokens"},
            "accumulate_padding": {"points": 1, "timeout": 60, "about": "targets of -100 carry no weight; a micro-batch without a labelled token is skipped"},
            "accumulate_loss_scale": {"points": 1, "timeout": 60, "about": "loss_scale S leaves S times the gradient in .grad and returns the unscaled loss"},
            "scaler_update": {"points": 2, "timeout": 60, "about": "the scale halves on an overflow and doubles after growth_interval good steps in a row; by default 2^16 and 2000"},
            "scaler_unscale": {"points": 1, "timeout": 30, "about": "unscale_ reports inf and NaN gradients (parameters without one are skipped) and leaves the scale alone"},
            "train_step_fp32": {"points": 2, "timeout": 60, "about": "without autocast, fit's steps with AdamW and clipping equal a plain float64 training loop"},
            "mp_close_to_fp32": {"points": 3, "timeout": 60, "about": "a bfloat16 or float16 autocast step with loss scaling moves the weights as the exact step does, within 5%"},
            "mp_unscale_before_clip": {"points": 2, "timeout": 60, "about": "the gradients are unscaled before they are clipped and their norm reported"},
            "mp_overflow_skipped": {"points": 2, "timeout": 60, "about": "an overflowing step changes no weight nor Adam state, halves the scale; the scale grows again"},
            "mp_master_weights_fp32": {"points": 1, "timeout": 60, "about": "after mixed-precision steps the parameters are still float32"},
            # icl.py: in-context learning, trained in your process, judged on the reference model
            "icl_batch": {"points": 1, "timeout": 30, "about": "inputs and targets with the loss on the answers only, the input left unchanged"},
            "answer_accuracy": {"points": 1, "timeout": 30, "about": "the accuracy on each answer k of a model the grader gives"},
            "train_icl": {"points": 4, "timeout": 120, "about": "your trained GPT's accuracy rises with the examples in context: 75% on answers 9-12, 35 points above answers 1-2"},
        },
    },
    "week8": {
        "title": "Scaling laws",
        "papers": [
            {"title": "Scaling Laws for Neural Language Models", "authors": "Kaplan et al.", "year": 2020, "url": "https://arxiv.org/abs/2001.08361"},
            {"title": "Training Compute-Optimal Large Language Models", "authors": "Hoffmann et al.", "year": 2022, "url": "https://arxiv.org/abs/2203.15556"},
        ],
        # model.py is given finished (the GPT the sweep trains); the grader judges weights in the reference copy.
        "modules": ["power_law", "chinchilla", "model", "sweep"],
        "plots": ["scaling-law"],
        "data": ["tinyshakespeare.txt"],
        "checks": {
            # power_law.py: the law, its objective, the fitter
            "power_law_values": {"points": 1, "timeout": 30, "about": "a · x^(-alpha) + c elementwise, for tensors and numbers"},
            "log_error_objective": {"points": 1, "timeout": 30, "about": "S = the sum of squared errors in ln L, for sizes up to 10^20"},
            "fit_exact_recovery": {"points": 3, "timeout": 60, "about": "noise-free runs of random laws over N-, D- and C-like ranges: alpha, c and the curve within 0.1%"},
            "fit_noisy_recovery": {"points": 3, "timeout": 60, "about": "runs with 0.5-1% noise that reach the flat end of the curve: alpha and c within 15% of the truth"},
            "fit_minimises_log_error": {"points": 2, "timeout": 60, "about": "the fit's S is within 1% of the least S over a > 0, c >= 0, including losses spanning decades"},
            "fit_irreducible_nonnegative": {"points": 2, "timeout": 60, "about": "pure power laws: c stays >= 0 (exactly 0 without noise) and S is still the least"},
            "fit_degenerate_inputs": {"points": 2, "timeout": 60, "about": "any order, repeated sizes, 3 points, lists, float32, inputs unchanged, ValueError when unfittable"},
            # chinchilla.py
            "training_flops": {"points": 1, "timeout": 30, "about": "C = 6 N D, for numbers and tensors"},
            "chinchilla_loss": {"points": 1, "timeout": 30, "about": "E + A/N^alpha + B/D^beta with the paper's and random constants"},
            "allocation_rule": {"points": 2, "timeout": 30, "about": "the 20-tokens rule: C = 6ND split, Chinchilla's 70B / 1.4T within 5%, Table 3 within 10%"},
            "allocation_parametric": {"points": 3, "timeout": 30, "about": "approach 3: the minimiser of L(N, D) on C = 6ND, to 0.01%, for the paper's and random constants"},
            "training_cost": {"points": 2, "timeout": 30, "about": "GPU-hours and days from FLOPs, peak throughput of the GPU and precision, MFU and GPU count"},
            "gpt3_vs_optimal": {"points": 1, "timeout": 30, "about": "GPT-3's budget, tokens per parameter, compute-optimal split, oversize and losses"},
            # sweep.py: training runs in your process, judged on the reference GPT with held-out text
            "count_parameters": {"points": 2, "timeout": 30, "about": "Kaplan's non-embedding N and the total, each parameter once, over random GPT sizes"},
            "evaluate_loss": {"points": 2, "timeout": 30, "about": "mean cross-entropy over all windows of the data, in eval mode, whatever the batch size"},
            "train_model": {"points": 3, "timeout": 120, "about": "your training loop takes a 2-layer GPT below 2.75 nats on held-out Shakespeare in 300 steps"},
            "sweep_points": {"points": 4, "timeout": 120, "about": "a 3-size sweep: exact N, reported losses equal to the returned weights' held-out loss, falling with size"},
        },
    },
    "week9": {
        "title": "InstructGPT: learning from human preferences",
        "papers": [
            {"title": "Training language models to follow instructions with human feedback", "authors": "Ouyang et al.", "year": 2022, "url": "https://arxiv.org/abs/2203.02155"},
            {"title": "Proximal Policy Optimization Algorithms", "authors": "Schulman et al.", "year": 2017, "url": "https://arxiv.org/abs/1707.06347"},
            {"title": "High-Dimensional Continuous Control Using Generalized Advantage Estimation", "authors": "Schulman et al.", "year": 2015, "url": "https://arxiv.org/abs/1506.02438"},
            {"title": "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", "authors": "Rafailov et al.", "year": 2023, "url": "https://arxiv.org/abs/2305.18290"},
        ],
        # toy.py is given finished: the tiny GPT, the digit task and the labeler's score every stage uses.
        "modules": ["toy", "sft", "reward_model", "ppo", "dpo"],
        "checks": {
            # sft.py: demonstrations, the loss on the response only, the fine-tuning loop
            "sft_batch": {"points": 2, "timeout": 30, "about": "prompt + response right-padded, labels on the response tokens only, -100 on the prompt and the padding"},
            "sft_loss": {"points": 3, "timeout": 30, "about": "shifted cross-entropy averaged over the batch's response tokens, and its gradient"},
            "train_sft_steps": {"points": 2, "timeout": 60, "about": "the first steps of train_sft on one demonstration give the losses of the spec's loop"},
            "train_sft": {"points": 3, "timeout": 120, "about": "your train_sft teaches a tiny GPT to answer held-out prompts (95% of response tokens right)"},
            # reward_model.py: the scalar head on the last token, the ranking loss, training judged on held-out pairs
            "rm_structure": {"points": 1, "timeout": 30, "about": "RewardModel holds body (a TinyGPT) and head (Linear(n_embd, 1)) with the names the spec gives"},
            "rm_last_token": {"points": 3, "timeout": 30, "about": "the reward is read at the last non-padding token, whatever the padding, and equals the reference's"},
            "ranking_loss": {"points": 2, "timeout": 30, "about": "mean -log sigma(r_chosen - r_rejected) and its gradient: ties give log 2, margins of 200 stay finite"},
            "preference_accuracy": {"points": 1, "timeout": 30, "about": "the share of pairs ranked strictly right: a tie counts as wrong"},
            "train_rm_steps": {"points": 2, "timeout": 60, "about": "the first steps of train_reward_model on one pair give the losses of the spec's loop"},
            "train_reward_model": {"points": 4, "timeout": 120, "about": "your trained reward model ranks 95% of held-out preference pairs right"},
            # ppo.py: KL penalty, rewards, GAE, the clipped objectives, RLHF with PPO
            "kl_penalty": {"points": 2, "timeout": 30, "about": "the k1, k2 and k3 estimates of KL(pi || pi_ref), with the right sign; ValueError for others"},
            "shaped_rewards": {"points": 2, "timeout": 30, "about": "-beta * kl at every response token, plus the score at the last one, 0 on padding"},
            "gae": {"points": 3, "timeout": 30, "about": "advantages and returns equal GAE's recursion for many gamma and lambda, lambda = 0 and 1 included"},
            "gae_episode_boundaries": {"points": 2, "timeout": 30, "about": "no bootstrap and no advantage carried past an episode's end; next_value bootstraps an unfinished one"},
            "whiten": {"points": 1, "timeout": 30, "about": "mean 0 and variance 1 over the masked positions, 0 elsewhere"},
            "policy_loss": {"points": 3, "timeout": 30, "about": "the clipped surrogate loss and its gradient over the masked tokens, for ratios and advantages of both signs"},
            "policy_loss_clipping": {"points": 2, "timeout": 30, "about": "no gradient where the ratio is clipped (above 1 + eps with A > 0, below 1 - eps with A < 0), full gradient otherwise"},
            "value_loss": {"points": 2, "timeout": 30, "about": "0.5 * masked mean squared error, and its clipped form max(unclipped, clipped), with gradients"},
            "train_ppo": {"points": 4, "timeout": 120, "about": "your PPO raises a tiny policy's score from 2.5 to 4.3 of 6 while its KL to the reference stays below 3 nats"},
            # dpo.py: the DPO loss and training
            "sequence_logprobs": {"points": 2, "timeout": 30, "about": "sum of the masked tokens' log-probabilities and its gradient, with bool and 0/1 masks"},
            "dpo_loss": {"points": 3, "timeout": 30, "about": "-log sigma(beta * (chosen minus rejected log-ratios)) for several beta, its gradient, detached rewards"},
            "train_dpo_steps": {"points": 2, "timeout": 60, "about": "the first steps of train_dpo on one pair give the losses of the spec's loop, the reference frozen"},
            "train_dpo": {"points": 4, "timeout": 120, "about": "your DPO raises a tiny policy's score from 2.5 to 4 of 6 while its KL to the reference stays below 4 nats"},
        },
    },
    "week10": {
        "title": "Constitutional AI: harmlessness from AI feedback",
        "papers": [
            {"title": "Constitutional AI: Harmlessness from AI Feedback", "authors": "Bai et al.", "year": 2022, "url": "https://arxiv.org/abs/2212.08073"},
            {"title": "RLAIF: Scaling Reinforcement Learning from Human Feedback with AI Feedback", "authors": "Lee et al.", "year": 2023, "url": "https://arxiv.org/abs/2309.00267"},
            {"title": "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", "authors": "Rafailov et al.", "year": 2023, "url": "https://arxiv.org/abs/2305.18290"},
        ],
        # Week 9's dpo.py is provided; policy.py is given finished: the toy assistant, its sampler and its pretraining.
        "provided": {"dpo": "week9"},
        "modules": ["policy", "constitution", "rlaif"],
        "checks": {
            # constitution.py: four principles, each a critique and a revision
            "harmless_principle": {"points": 2, "timeout": 30, "about": "a critique exactly when a forbidden word appears; the revision puts REDACT in its place, everywhere"},
            "concise_principle": {"points": 2, "timeout": 30, "about": "a critique exactly when a token repeats more than twice in a row; the revision cuts every such run to two"},
            "ends_principle": {"points": 2, "timeout": 30, "about": "empty, unended or continued responses are critiqued; the revision cuts after the first EOS or adds one"},
            "short_principle": {"points": 1, "timeout": 30, "about": "more than 8 tokens is critiqued; the revision keeps the first 7 and ends with EOS"},
            "violations": {"points": 2, "timeout": 30, "about": "the names of the violated principles of the constitution you are given, in its order"},
            "task_success": {"points": 2, "timeout": 30, "about": "the allowed words of the prompt, in order and alone, before the first EOS; forbidden words and REDACT ignored"},
            "critique_and_revise": {"points": 4, "timeout": 60, "about": "one revision per round by the first violated principle, until clean or max_rounds; the history of critiques"},
            # rlaif.py: the AI labeller, the pairs, the tensors for DPO, the pipeline and its training
            "ai_preference": {"points": 3, "timeout": 30, "about": "fewer violations wins, then task success; a tie is None, with any constitution"},
            "preference_pairs": {"points": 2, "timeout": 30, "about": "pairs with a preference kept in order as (chosen, rejected), ties dropped, and their prompts"},
            "pair_batch": {"points": 3, "timeout": 30, "about": "prompt + response + PAD to the longest response of both lists; the mask exactly on the response tokens"},
            "feedback_pairs": {"points": 3, "timeout": 60, "about": "two samples a, b per prompt; (a, revised b) labelled; the same tensors as the reference for the same generator"},
            "train_cai": {"points": 5, "timeout": 120, "about": "your RL-CAI with DPO cuts the violation rate of a helpful-only policy by 20 points and keeps its task success"},
        },
    },
    "week11": {
        "title": "LoRA: low-rank adaptation, and QLoRA",
        "papers": [
            {"title": "LoRA: Low-Rank Adaptation of Large Language Models", "authors": "Hu et al.", "year": 2021, "url": "https://arxiv.org/abs/2106.09685"},
            {"title": "QLoRA: Efficient Finetuning of Quantized LLMs", "authors": "Dettmers et al.", "year": 2023, "url": "https://arxiv.org/abs/2305.14314"},
            {"title": "LLM.int8(): 8-bit Matrix Multiplication for Transformers at Scale", "authors": "Dettmers et al.", "year": 2022, "url": "https://arxiv.org/abs/2208.07339"},
        ],
        # quantize.py is the bonus part (absmax int8, NF4, QLoRA).
        "modules": ["lora", "finetune", "quantize"],
        "checks": {
            # lora.py: LoRALinear
            "lora_init": {"points": 2, "timeout": 30, "about": "lora_A (r, in) random, lora_B (out, r) zeros, the given base kept: the layer starts equal to base"},
            "lora_forward": {"points": 3, "timeout": 30, "about": "base(x) + x A^T B^T · alpha/r in float64, for many shapes, ranks and alphas, with and without bias"},
            "lora_dropout": {"points": 2, "timeout": 30, "about": "in training mode dropout acts on the input of the LoRA path only, rescaled by 1/(1-p); none in eval mode"},
            "lora_gradients": {"points": 2, "timeout": 30, "about": "only lora_A and lora_B get gradients, equal to autograd's; the input's gradient too"},
            "lora_merge": {"points": 3, "timeout": 30, "about": "merge adds B A · alpha/r to base.weight, unmerge restores it, the output never changes, twice is once"},
            # lora.py: inject_lora and count_trainable_parameters
            "inject_lora_targets": {"points": 3, "timeout": 30, "about": "exactly the nn.Linear layers whose qualified names end with a target are wrapped, with r and alpha"},
            "inject_lora_trainable": {"points": 2, "timeout": 30, "about": "after inject_lora only LoRA parameters get gradients, and the model's output is unchanged"},
            "count_trainable_parameters": {"points": 1, "timeout": 30, "about": "the size of the parameters with requires_grad, shared ones once"},
            # finetune.py: trained in your process, judged on the reference model with held-out data
            "finetune_lora": {"points": 4, "timeout": 120, "about": "your LoRA fine-tuning takes the grader's pretrained model from 49% to 85% on the new task, every base weight unchanged, 4.2% of it trained"},
            # quantize.py (bonus): absmax int8, NF4, QLoRA
            "quantize_int8": {"points": 2, "timeout": 30, "about": "per-row absmax int8: scale max|w|/127, codes in [-127, 127], every value within scale/2"},
            "quantize_nf4": {"points": 3, "timeout": 30, "about": "blockwise NF4: absmax per block, each value at its nearest NF4 level, a short last block, zero blocks"},
            "qlora_linear": {"points": 3, "timeout": 30, "about": "QLoRALinear stores the weight in NF4 only, adds the LoRA update, trains lora_A and lora_B only"},
        },
    },
    "week12": {
        "title": "LLaMA: RMSNorm, SwiGLU, RoPE and grouped-query attention",
        "papers": [
            {"title": "LLaMA: Open and Efficient Foundation Language Models", "authors": "Touvron et al.", "year": 2023, "url": "https://arxiv.org/abs/2302.13971"},
            {"title": "Root Mean Square Layer Normalization", "authors": "Zhang and Sennrich", "year": 2019, "url": "https://arxiv.org/abs/1910.07467"},
            {"title": "RoFormer: Enhanced Transformer with Rotary Position Embedding", "authors": "Su et al.", "year": 2021, "url": "https://arxiv.org/abs/2104.09864"},
            {"title": "GLU Variants Improve Transformer", "authors": "Shazeer", "year": 2020, "url": "https://arxiv.org/abs/2002.05202"},
            {"title": "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints", "authors": "Ainslie et al.", "year": 2023, "url": "https://arxiv.org/abs/2305.13245"},
        ],
        "modules": ["llama", "training"],
        "checks": {
            # llama.py: the parts
            "rmsnorm": {"points": 2, "timeout": 30, "about": "x / sqrt(mean(x^2) + eps) * weight and its gradients, for several eps and input scales"},
            "rope_matches_reference": {"points": 3, "timeout": 30, "about": "apply_rope rotates adjacent pairs by position · theta^(-2i/d_head), for any positions and theta"},
            "rope_relative_position": {"points": 2, "timeout": 30, "about": "after RoPE, q · k depends only on the offset between their positions, and does change with it"},
            "rope_preserves_norm": {"points": 1, "timeout": 30, "about": "RoPE keeps the length of every pair of elements, and position 0 leaves x unchanged"},
            "swiglu": {"points": 2, "timeout": 30, "about": "bias-free w1, w2, w3 with their shapes; w2(silu(w1 x) * w3 x) and its gradients"},
            "ffn_hidden_dim": {"points": 1, "timeout": 30, "about": "SwiGLU's hidden size: 11008 for LLaMA-7B, and the multiplier and rounding of LLaMA 2 and 3"},
            "repeat_kv": {"points": 1, "timeout": 30, "about": "each key/value head repeated next to itself: head h is head h // n_rep"},
            "gqa_matches_reference": {"points": 3, "timeout": 60, "about": "grouped-query attention equals the reference's for several head counts and positions, with gradients"},
            "gqa_equals_mha": {"points": 1, "timeout": 30, "about": "with n_kv_heads == n_heads it is multi-head attention with RoPE"},
            "multi_query_attention": {"points": 1, "timeout": 30, "about": "with n_kv_heads == 1 every query head shares one key/value head"},
            "gqa_head_mapping": {"points": 2, "timeout": 30, "about": "query head h reads key/value head h // (n_heads // n_kv_heads)"},
            "attention_causal": {"points": 1, "timeout": 30, "about": "changing later tokens leaves the attention's output at earlier positions unchanged"},
            "llama_structure": {"points": 1, "timeout": 30, "about": "the parameter names of Meta's code, with their shapes, no biases, an untied output, nothing else in the state dict"},
            "llama_parameter_count": {"points": 1, "timeout": 60, "about": "built on the meta device: LLaMA-7B has 6,738,415,616 parameters, and LLaMA 2 70B's size with GQA"},
            "llama_matches_reference": {"points": 3, "timeout": 60, "about": "pre-norm blocks and the final RMSNorm: logits equal the reference's in float64, over several configs"},
            "llama_gradients": {"points": 2, "timeout": 60, "about": "the gradient of every parameter equals the reference's"},
            "kv_cache_forward": {"points": 3, "timeout": 60, "about": "chunks of one or more tokens through a KVCache give the logits of one pass, and len(cache) counts positions"},
            "generate_greedy": {"points": 2, "timeout": 60, "about": "temperature 0 follows the argmax of the model's logits, with and without the cache"},
            "generate_matches_reference": {"points": 2, "timeout": 60, "about": "sampled tokens equal the reference's for the same generator seed, with and without the cache"},
            "kv_cache_generate": {"points": 3, "timeout": 60, "about": "your Llama generates the same tokens with and without the KV cache, greedy and sampled"},
            # training.py: trained in your process, judged on the reference model with held-out sequences
            "copy_batch": {"points": 1, "timeout": 30, "about": "inputs and targets with the loss on the copied half only, the input left unchanged"},
            "copy_accuracy": {"points": 1, "timeout": 60, "about": "the share of copied symbols that greedy generation gets right, for a model the grader gives"},
            "train_copy": {"points": 4, "timeout": 120, "about": "your trained Llama copies 80% of the symbols of held-out sequences by greedy generation"},
        },
    },
    "bonus_rnn": {
        "title": "Bonus: recurrent networks (RNN, GRU, LSTM, attention seq2seq)",
        "papers": [
            {"title": "The Unreasonable Effectiveness of Recurrent Neural Networks", "authors": "Karpathy", "year": 2015, "url": "http://karpathy.github.io/2015/05/21/rnn-effectiveness/"},
            {"title": "Long Short-Term Memory", "authors": "Hochreiter and Schmidhuber", "year": 1997, "url": "https://doi.org/10.1162/neco.1997.9.8.1735"},
            {"title": "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation", "authors": "Cho et al.", "year": 2014, "url": "https://arxiv.org/abs/1406.1078"},
            {"title": "Neural Machine Translation by Jointly Learning to Align and Translate", "authors": "Bahdanau, Cho and Bengio", "year": 2014, "url": "https://arxiv.org/abs/1409.0473"},
        ],
        "modules": ["cells", "char_rnn", "seq2seq"],
        "data": ["tinyshakespeare.txt"],
        "checks": {
            # cells.py: the three cells against torch's, unrolling, the forget bias
            "cell_structure": {"points": 1, "timeout": 30, "about": "RNNCell, GRUCell and LSTMCell have torch's parameter names and shapes, with and without biases"},
            "cell_init": {"points": 1, "timeout": 30, "about": "every parameter starts U(-1/sqrt(H), 1/sqrt(H)), as torch's cells do"},
            "rnn_cell_matches_torch": {"points": 1, "timeout": 30, "about": "RNNCell equals nn.RNNCell holding the same weights in float64, with and without a state"},
            "gru_cell_matches_torch": {"points": 3, "timeout": 30, "about": "GRUCell equals nn.GRUCell holding the same weights in float64: gates r, z, n; r scales W_hn h + b_hn"},
            "lstm_cell_matches_torch": {"points": 3, "timeout": 30, "about": "LSTMCell's (h, c) equal nn.LSTMCell's holding the same weights in float64: gates i, f, g, o"},
            "cell_gradients": {"points": 2, "timeout": 30, "about": "gradients with respect to the input, the state and every parameter equal those of torch's cells"},
            "unroll_matches_torch": {"points": 2, "timeout": 30, "about": "unroll equals nn.RNN, nn.GRU and nn.LSTM (batch_first) with the same weights, from zeros and from a given state"},
            "unroll_masking": {"points": 2, "timeout": 30, "about": "with a mask, padded steps carry the state unchanged: the final state is the one after each row's last real step"},
            "lstm_forget_bias": {"points": 1, "timeout": 30, "about": "init_forget_bias makes the forget gate's biases (rows H to 2H) sum to the value and changes nothing else"},
            # char_rnn.py: the model, truncated BPTT and sampling; training judged on the reference model
            "char_rnn_structure": {"points": 1, "timeout": 30, "about": "CharRNN's parameter names and shapes for each cell; an LSTM's forget bias starts at 1"},
            "char_rnn_forward": {"points": 3, "timeout": 30, "about": "logits and final state equal the reference's in float64 for RNN, GRU and LSTM cells, from zeros and from a given state"},
            "char_rnn_state_carried": {"points": 1, "timeout": 30, "about": "a text fed in pieces, each with the state the piece before returned, gives the logits of one pass"},
            "batchify": {"points": 1, "timeout": 30, "about": "B contiguous streams of N // B ids each, the remainder dropped"},
            "evaluate_lm": {"points": 2, "timeout": 30, "about": "the mean loss over every window in order, the state carried from window to window, in eval mode"},
            "tbptt_protocol": {"points": 3, "timeout": 60, "about": "training reads the windows in order and carries the state, detached, between steps; each pass restarts from None"},
            "train_char_rnn": {"points": 3, "timeout": 120, "about": "your train_char_rnn takes a 128-wide LSTM below 2.40 nats per character on held-out Shakespeare in 150 steps"},
            "sample_matches_reference": {"points": 2, "timeout": 30, "about": "sampled characters equal the reference's for the same generator seed and temperature; temperature 0 is greedy"},
            # seq2seq.py: additive attention, the encoder-decoder, greedy decoding; training judged on the reference model
            "attention_matches_reference": {"points": 3, "timeout": 30, "about": "the context and weights equal the reference's additive attention in float64, for several sizes and masks"},
            "attention_masking": {"points": 2, "timeout": 30, "about": "padded positions get weight exactly 0 and changing them changes nothing; the weights sum to 1 over the source"},
            "encoder_matches_reference": {"points": 2, "timeout": 30, "about": "the annotations at real positions and the final state (after each row's last real token) equal the reference's"},
            "decoder_step": {"points": 2, "timeout": 30, "about": "one Decoder step's logits, new state and attention weights equal the reference's in float64"},
            "seq2seq_forward": {"points": 3, "timeout": 30, "about": "teacher-forced logits and attention weights equal the reference's in float64"},
            "seq2seq_gradients": {"points": 2, "timeout": 30, "about": "the gradient of every parameter equals the reference's"},
            "seq2seq_loss": {"points": 1, "timeout": 30, "about": "the mean cross-entropy over the non-PAD targets only"},
            "greedy_decode": {"points": 2, "timeout": 30, "about": "greedy tokens equal the reference's: the argmax fed back, PAD after each row's EOS"},
            "train_seq2seq": {"points": 3, "timeout": 120, "about": "your trained model, loaded into the reference, reverses 85% of held-out sequences exactly"},
        },
    },
    "bonus_cot": {
        "title": "Chain of thought: a scratchpad against answer-only training",
        "papers": [
            {"title": "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models", "authors": "Wei et al.", "year": 2022, "url": "https://arxiv.org/abs/2201.11903"},
            {"title": "Show Your Work: Scratchpads for Intermediate Computation with Language Models", "authors": "Nye et al.", "year": 2021, "url": "https://arxiv.org/abs/2112.00114"},
        ],
        # Week 6's finished GPT is the model both formats train.
        "provided": {"gpt": "week6"},
        "modules": ["scratchpad", "experiment"],
        "checks": {
            # scratchpad.py: the formats, the loss mask, the parser
            "format_answer_only": {"points": 1, "timeout": 30, "about": "answer-only prompts and completions, token for token, for 1 to 8 terms and edge cases"},
            "format_scratchpad": {"points": 2, "timeout": 30, "about": "scratchpad completions hold every running total, then = and the last digit, including totals past 9 and zeros"},
            "make_batch_mask": {"points": 2, "timeout": 30, "about": "inputs and next-token targets with the loss on exactly the completion, in both formats"},
            "parse_answer": {"points": 2, "timeout": 30, "about": "the number after the = that ends the text before the first END; None for malformed outputs"},
            # experiment.py: decoding, solving, and the experiment judged on the reference model
            "greedy_generate": {"points": 1, "timeout": 30, "about": "each new token is the argmax of the model's logits given the whole sequence so far"},
            "solve": {"points": 2, "timeout": 30, "about": "prompts of the right format, greedy completions of the right length, parsed, in eval mode"},
            "scratchpad_beats_answer_only": {"points": 4, "timeout": 180, "about": "with the same budget, your scratchpad model solves 80% of new problems, 50 points more than your answer-only one"},
        },
    },
    "bonus_palm": {
        "title": "PaLM: parallel blocks and multi-query attention",
        "papers": [
            {"title": "PaLM: Scaling Language Modeling with Pathways", "authors": "Chowdhery et al.", "year": 2022, "url": "https://arxiv.org/abs/2204.02311"},
            {"title": "Fast Transformer Decoding: One Write-Head is All You Need", "authors": "Shazeer", "year": 2019, "url": "https://arxiv.org/abs/1911.02150"},
            {"title": "GLU Variants Improve Transformer", "authors": "Shazeer", "year": 2020, "url": "https://arxiv.org/abs/2002.05202"},
        ],
        "modules": ["palm"],
        "checks": {
            "palm_structure": {"points": 1, "timeout": 30, "about": "the parameters the API names, with their shapes: no biases, one LayerNorm per block, a tied output layer"},
            "swiglu_matches_reference": {"points": 1, "timeout": 30, "about": "SwiGLU, down(Swish(gate(x)) * up(x)), equals the reference in float64"},
            "mqa_matches_reference": {"points": 3, "timeout": 30, "about": "multi-query attention with RoPE equals the reference in float64, for 1 to 8 heads"},
            "mqa_shared_kv": {"points": 2, "timeout": 30, "about": "one key and one value head, and the output of multi-head attention whose K/V heads are all that head"},
            "mqa_causal": {"points": 1, "timeout": 30, "about": "changing later positions leaves the attention output of earlier ones unchanged"},
            "parallel_block_formulation": {"points": 2, "timeout": 30, "about": "the block computes x + attn(ln(x)) + mlp(ln(x)) with its own modules, not the serial block"},
            "parallel_block_matches_reference": {"points": 1, "timeout": 30, "about": "ParallelBlock equals the reference in float64"},
            "palm_matches_reference": {"points": 2, "timeout": 60, "about": "PaLM's logits (scaled by 1/sqrt(d)) and loss equal the reference's in float64"},
            "palm_gradients": {"points": 1, "timeout": 60, "about": "gradients of every parameter, the tied matrix's included, equal the reference's"},
            "palm_causal": {"points": 1, "timeout": 30, "about": "changing later tokens leaves the logits of earlier positions unchanged"},
            "palm_init_statistics": {"points": 1, "timeout": 60, "about": "N(0, 1/fan_in) matrices, an N(0, 1) embedding, LayerNorm gains of one"},
            "kv_cache_forward": {"points": 3, "timeout": 60, "about": "chunks of one or more tokens through a KVCache give the logits of one pass"},
            "kv_cache_size": {"points": 2, "timeout": 60, "about": "the cache holds 2 * d_head numbers per token and layer: n_head times fewer than multi-head attention"},
            "generate_greedy": {"points": 2, "timeout": 60, "about": "greedy generation gives the argmax tokens, with and without the cache"},
        },
    },
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
