"""MLflow tracking (the store, runs, batched metrics), the git commit of results, and ``ganlab ui``."""
