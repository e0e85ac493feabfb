"""Evaluation: datasets, grading, a resumable concurrent runner, and the paper-style report."""
