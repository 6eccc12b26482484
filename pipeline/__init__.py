"""The stages and the glue: config, datasets, Ray Train driver, MLflow tracking, CLI.

The only room that knows Ray, MLflow, DVC and the file layout.
"""
