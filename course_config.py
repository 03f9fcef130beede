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
# the solutions and the visible tests, which reach students through exercises/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py"]
c.ClearSolutions.code_stub = {"python": "# TODO: your code here\nraise NotImplementedError('TODO')"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# ---------------------------------------------------------------- manifest
# Each graded check of the hidden suite: points, and a time limit in seconds
# (enforced by pytest-timeout inside the grader, and by a hard kill outside).
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
        # Notebook points for each visible test cell of the generated nbgrader notebook.
        "notebook_test_points": 1,
        "checks": {
            # attention.py: scaled_dot_product_attention and causal_mask
            "sdpa_shapes": {"points": 1, "timeout": 30},
            "sdpa_matches_reference": {"points": 3, "timeout": 30},
            "sdpa_matches_builtin": {"points": 2, "timeout": 30},
            "sdpa_masks": {"points": 2, "timeout": 30},
            "sdpa_fully_masked_rows": {"points": 1, "timeout": 30},
            "sdpa_numerical_stability": {"points": 1, "timeout": 30},
            "sdpa_gradients": {"points": 2, "timeout": 30},
            "sdpa_inputs_unchanged": {"points": 1, "timeout": 30},
            "causal_mask": {"points": 1, "timeout": 30},
            # positional_encoding.py
            "pe_shape_dtype": {"points": 1, "timeout": 30},
            "pe_values": {"points": 2, "timeout": 30},
            # multi_head_attention.py
            "mha_structure": {"points": 1, "timeout": 30},
            "mha_matches_builtin": {"points": 3, "timeout": 60},
            "mha_matches_reference": {"points": 2, "timeout": 60},
            "mha_gradients": {"points": 2, "timeout": 60},
            "mha_masks": {"points": 1, "timeout": 60},
            # training a tiny transformer built on the submission's MultiHeadAttention
            "train_reversal": {"points": 3, "timeout": 180},
            "train_copy": {"points": 3, "timeout": 180},
        },
    },
}

# Hard limit for one submission's whole grading run, in seconds.
SUBMISSION_TIMEOUT = 900
