"""SQL storage with SQLAlchemy 2: SQLite by default, PostgreSQL by URL."""
