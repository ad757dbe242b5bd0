"""Persistence: SQLAlchemy tables mapped onto the model's dataclasses, Alembic migrations,
and the repositories. The only room that imports SQLAlchemy."""
