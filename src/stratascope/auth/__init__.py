"""Credentials: passwords (Argon2id), API tokens (stored hashed) and signed session cookies.

Pure functions below the catalogue; who a caller is (`catalogue.principal`), the accounts in
the database (`catalogue.accounts`) and the HTTP side (`api/auth.py`) live in their layers.
See docs/access.md."""
