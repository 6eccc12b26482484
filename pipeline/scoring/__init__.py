"""Scoring generators: the registry of scorers (one per kind of data and task), sampling for evaluation, and
the ``evaluate`` stage. Importing this package registers the built-in scorers."""

from pipeline.scoring import classifier, conditional, inception, modes  # noqa: F401  (register the scorers)
