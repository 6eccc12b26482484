"""Measuring and showing: feature extractors, metrics, plots and report rendering.

No Ray, no GAN training, no knowledge of the pipeline's file layout.
"""
