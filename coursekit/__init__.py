"""coursekit: build, check and grade the LLM-from-scratch course."""

__version__ = "0.1.0"
