"""The password policy every admin and member password must meet.

At least 8 characters (at most 128), three of the four classes (lower case, upper case,
digits, other characters), and not the username (nor the username reversed), compared
without regard to case. ``check`` returns the reasons it fails, empty when it passes.
"""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 128


def check(password: str, username: str = "") -> list[str]:
    """Every rule ``password`` breaks, as sentences for the user; ``[]`` means it is fine."""
    reasons: list[str] = []
    if len(password) < MIN_LENGTH:
        reasons.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        reasons.append(f"must be at most {MAX_LENGTH} characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        reasons.append(
            "must mix at least three of: lower-case letters, upper-case letters, digits, "
            "other characters"
        )
    if username and password.lower() in (username.lower(), username.lower()[::-1]):
        reasons.append("must not be the username")
    return reasons
