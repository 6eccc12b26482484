"""The ``report`` stage: the benchmark report (dataset sections, run facts, the sweep). Importing this package
registers the evaluate stage's own scorers too, whose metrics the tables name and rank."""

from pipeline.scoring.final_scorers import load_final_scorers

load_final_scorers()
