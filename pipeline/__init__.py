"""The stages and their glue, one sub-package per stage or engine (see the README's layout section):
``config``, ``data`` (prepare), ``features``, ``scoring`` (evaluate), ``training`` (train), ``tuning`` (tune),
``reporting`` (report), ``tracking`` (MLflow, ``ui``), ``cluster`` (Ray), ``common``; ``cli`` is ``ganlab``."""
