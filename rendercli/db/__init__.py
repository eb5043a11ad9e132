"""Database: models, engine and session factory (built lazily), and Alembic migrations."""
