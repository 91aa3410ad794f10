"""Account rules (Sésame): pure Python, no framework and no database."""
