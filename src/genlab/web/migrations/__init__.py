"""Alembic migrations of the studio database (applied at start-up by genlab.web.db)."""
