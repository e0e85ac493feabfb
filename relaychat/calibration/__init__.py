"""Offline cue calibration (docs/how-it-works.md, "Cue calibration"), done honestly.

The large model writes reasoning traces; the small model scores them inside its own chat template;
every candidate cue's post-cue segments (found by the runtime's own matcher) are compared with the
global mean margin; the selection rule is applied in code, with a standard error over segments.
"""
