"""The built-in datasets, one module per dataset or family of datasets; each registers itself on import."""
