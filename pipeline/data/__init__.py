"""Datasets: the loaders (generated, bundled and local files), the prepared store, the domain classifier and the
``prepare`` stage."""
