"""Engine storage: SQLAlchemy Core tables, the unit of work, repositories, Alembic migrations."""
