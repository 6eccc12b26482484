"""Scoring generators: the registry of scorers (one module per kind of data and task in :mod:`pipeline.scoring.scorers`,
found by name), the conditions each task's samples are drawn with, sampling for evaluation, and the ``evaluate``
stage. Importing this package registers the built-in scorers."""

from pipeline.scoring.scorers import load_builtin_scorers

load_builtin_scorers()
