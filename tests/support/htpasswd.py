"""Charge point credentials as an operator's htpasswd file holds them."""

from __future__ import annotations

import bcrypt


def htpasswd_line(user: str, password: str) -> str:
    """As ``htpasswd -B`` writes it (Apache's $2y$ prefix, cost 5 to keep tests fast)."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    return f"{user}:$2y${hashed[4:]}"
