"""Kubernetes resource quantities (``500m``, ``1.5Gi``, ``2e3``) as exact decimals (pure)."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Kubernetes' own grammar, without the sign: no quantity Dockyard reads or writes is negative.
_QUANTITY = re.compile(
    r"^[+]?(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>[numkMGTPE]|[KMGTPE]i))?$"
)


def parse_quantity(value: str | int | float) -> Decimal:
    """The exact value of a quantity (``250m`` -> 0.25, ``1Gi`` -> 1073741824); ValueError for
    anything that is not one (TypeError for a boolean, which YAML makes of ``yes``)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a quantity")
    if isinstance(value, int | float):
        return Decimal(value) if isinstance(value, int) else Decimal(repr(value))
    match = _QUANTITY.match(value)
    if match is None:
        raise ValueError(f"not a quantity: {value!r}")
    try:
        if match["exp"]:
            # Built from the text, not by arithmetic: ``1e999999999`` is a (huge) number, not an
            # overflow; callers compare it with their limits.
            return Decimal(match["num"] + match["exp"])
        return Decimal(match["num"]) * _SUFFIXES[match["suffix"] or ""]
    except (DecimalException, ValueError, OverflowError) as e:
        raise ValueError(f"not a quantity: {value[:40]!r}") from e


def is_quantity(value: object) -> bool:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    try:
        parse_quantity(value)
    except (ValueError, TypeError):
        return False
    return True


def same_quantity(a: object, b: object) -> bool:
    """True when both are quantities of equal value (``0.5`` and ``500m``)."""
    if not (isinstance(a, str | int | float) and isinstance(b, str | int | float)):
        return False
    try:
        return parse_quantity(a) == parse_quantity(b)
    except (ValueError, TypeError):
        return False
