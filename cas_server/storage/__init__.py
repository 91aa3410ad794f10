"""Adapters that keep tickets and accounts: SQL (SQLite, PostgreSQL) and in-memory."""
