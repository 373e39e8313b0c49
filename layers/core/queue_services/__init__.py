"""Queue Services domain package: models, settings, delivery and AWS adapters shared by every function."""
