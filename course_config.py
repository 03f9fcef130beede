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
