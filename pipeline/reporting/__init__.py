"""The ``report`` stage: the benchmark report (dataset sections, run facts, the sweep)."""
