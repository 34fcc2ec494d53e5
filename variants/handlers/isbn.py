"""ISBN-10 and ISBN-13 check digits and conversion (ISO 2108 rules)."""

import re

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]")


def compact_isbn(value: str) -> str:
    """Return `value` without hyphens and spaces, upper-cased so a final 'x' reads as 'X'."""
    return _SEPARATORS.sub("", value).upper()


def isbn10_is_valid(isbn: str) -> bool:
    """Return True when `isbn` is 10 characters whose weighted sum (10..1) is divisible by 11.

    The first nine characters are ASCII digits; the check character is a digit or 'X' (10).
    """
    if len(isbn) != 10 or not (isbn[:9].isascii() and isbn[:9].isdigit()):
        return False
    check = isbn[9]
    if check == "X":
        check_value = 10
    elif check.isascii() and check.isdigit():
        check_value = int(check)
    else:
        return False

    total = sum((10 - position) * int(digit) for position, digit in enumerate(isbn[:9]))
    return (total + check_value) % 11 == 0


def isbn13_is_valid(isbn: str) -> bool:
    """Return True when `isbn` is 13 ASCII digits whose 1-3 weighted sum is divisible by 10."""
    if len(isbn) != 13 or not (isbn.isascii() and isbn.isdigit()):
        return False
    total = sum(int(digit) * (1 if position % 2 == 0 else 3) for position, digit in enumerate(isbn))
    return total % 10 == 0


def isbn10_to_isbn13(isbn10: str) -> str:
    """Convert a valid ISBN-10 to its ISBN-13: prefix 978, drop the old check, add a mod-10 check.

    Raises ValueError when `isbn10` is not a valid ISBN-10.
    """
    if not isbn10_is_valid(isbn10):
        raise ValueError(f"{isbn10!r} is not a valid ISBN-10; expected 9 digits and a check digit 0-9 or X")

    body = "978" + isbn10[:9]
    total = sum(int(digit) * (1 if position % 2 == 0 else 3) for position, digit in enumerate(body))
    check = (10 - total % 10) % 10
    return f"{body}{check}"
