"""Helpers shared by the tests: one place, imported by every test folder."""
