"""The Ray engine: starting a local instance or joining a cluster, one code path for a laptop and a cluster."""
