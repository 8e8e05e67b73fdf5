"""Metadata store: SQLAlchemy models, engine set-up and the repository."""
