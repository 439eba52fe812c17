"""Value formats of the platform repo: durations, Kubernetes quantities, cron, time zones, names.

The schemas check the shape of these strings with patterns (so editors flag them too); this module
parses them for the model, checks what a regular expression cannot (cron ranges, real time zones)
and suggests what the user probably meant.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from jsonschema import FormatChecker

from daemon.model.quantity import parse_quantity

DNS_LABEL_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

#: Budgets: the largest values the platform repo may hold. Far beyond any real setting, small
#: enough that no arithmetic on them overflows (a year of seconds, a pebibyte, 100,000 cores).
MAX_DURATION_SECONDS: Final = 366 * 86400
MAX_BYTES: Final = Decimal(2**50)
MAX_CPU: Final = Decimal(100_000)

_DURATION_RE: Final = re.compile(r"^(?=[0-9])(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
_DURATION_UNITS: Final = (86400, 3600, 60, 1)


# --- durations ----------------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """Seconds of a duration such as ``5m``, ``6h`` or ``1h30m``; ValueError when malformed or
    longer than :data:`MAX_DURATION_SECONDS` (366 days)."""
    match = _DURATION_RE.match(text)
    if match is None or len(text) > 32:
        raise ValueError(f"not a duration: {text[:40]!r}")
    seconds = sum(int(part) * unit for part, unit in zip(match.groups(), _DURATION_UNITS, strict=True) if part)
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError("longer than the limit of 366d")
    return seconds


_UNIT_WORDS: Final = {
    "d": "d",
    "day": "d",
    "days": "d",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "m": "m",
    "min": "m",
    "mins": "m",
    "minute": "m",
    "minutes": "m",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
}


def suggest_duration(text: str) -> str | None:
    """The duration the user probably meant (``300`` -> ``300s``, ``5 min`` -> ``5m``), if any."""
    compact = text.strip().lower().replace(" ", "")
    if compact.isdigit():
        return f"{compact}s"
    parts = re.findall(r"([0-9]+)([a-z]+)", compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        return None
    units = [_UNIT_WORDS.get(u) for _, u in parts]
    if None in units:
        return None
    candidate = "".join(f"{n}{u}" for (n, _), u in zip(parts, units, strict=True))
    return candidate if _DURATION_RE.match(candidate) else None


# --- quantities ---------------------------------------------------------------------------------


def quantity_text(value: str | int | float) -> str:
    """The quantity as the string Kubernetes expects (numbers from YAML become text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def suggest_quantity(text: str) -> str | None:
    """What the user probably meant for a malformed quantity (``512MB`` -> ``512M or 512Mi``)."""
    match = re.match(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpe])(i?)b?\s*$", text, re.IGNORECASE)
    if match is None:
        return None
    number, unit, binary = match.groups()
    binary_unit = f"{unit.upper()}i"
    if binary:
        return f"{number}{binary_unit}"
    decimal_unit = "k" if unit.lower() == "k" else unit.upper()
    return f"{number}{decimal_unit} (powers of 1000) or {number}{binary_unit} (powers of 1024)"


# --- cron ---------------------------------------------------------------------------------------

_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: Final = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
CRON_MACROS: Final = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


def _cron_value(text: str, field: str, low: int, high: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if names and lowered in names:
        return names.index(lowered) + (1 if field == "month" else 0)
    if not text.isdigit():
        raise ValueError(f"{field}: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{field}: {value} is out of range {low}-{high}")
    return value


def check_cron(expression: str) -> None:
    """Raise ValueError naming the bad field when ``expression`` is not a valid five-field cron."""
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in CRON_MACROS:
            raise ValueError(f"unknown macro {text!r}; use one of {', '.join(sorted(CRON_MACROS))}")
        return
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day-of-month month day-of-week), found {len(fields)}")
    for part, (field, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in part.split(","):
            base, slash, step = item.partition("/")
            if slash and (not step.isdigit() or int(step) == 0):
                raise ValueError(f"{field}: step {step!r} must be a positive number")
            if base == "*":
                continue
            start, dash, end = base.partition("-")
            if not start:
                raise ValueError(f"{field}: {item!r} is not a value, range or */step")
            first = _cron_value(start, field, low, high, names)
            if dash:
                last = _cron_value(end, field, low, high, names)
                if last < first:
                    raise ValueError(f"{field}: range {base!r} runs backwards")
            elif slash:
                raise ValueError(f"{field}: a step needs a range or '*', e.g. '*/{step}'")


_MACRO_FIELDS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def normalize_cron(expression: str) -> str:
    """The same schedule as five fields with weekdays as names: unambiguous for every cron reader.

    Standard cron (and Kubernetes) count weekdays from Sunday = 0 (7 is Sunday too), but
    APScheduler 3's ``CronTrigger.from_crontab`` counts from Monday = 0 and rejects 7 and macros.
    Names mean the same to all of them, provided no range wraps around Sunday, so Sunday is always
    listed on its own: ``1-5`` -> ``mon-fri``, ``0-2`` -> ``mon-tue,sun``, ``@daily`` -> ``0 0 * * *``.
    """
    check_cron(expression)
    text = expression.strip()
    fields = _MACRO_FIELDS[text.lower()].split() if text.startswith("@") else text.split()
    fields[3] = fields[3].lower()
    fields[4] = _weekday_names(fields[4])
    return " ".join(fields)


def _weekday_names(field: str) -> str:
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = 0, 6
        else:
            start, dash, end = base.partition("-")
            low = _cron_value(start, "day of week", 0, 7, _DAYS)
            high = _cron_value(end, "day of week", 0, 7, _DAYS) if dash else low
        days.update(day % 7 for day in range(low, high + 1, step))
    if days == set(range(7)):
        return "*"
    parts: list[str] = []
    run: list[int] = []
    for day in [*sorted(d for d in days if d != 0), None]:
        if run and (day is None or day != run[-1] + 1):
            parts.append(_DAYS[run[0]] if len(run) == 1 else f"{_DAYS[run[0]]}-{_DAYS[run[-1]]}")
            run = []
        if day is not None:
            run.append(day)
    if 0 in days:
        parts.append("sun")
    return ",".join(parts)


# --- time zones ---------------------------------------------------------------------------------


@functools.cache
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


@functools.lru_cache(maxsize=512)
def is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def suggest_timezone(name: str) -> str | None:
    names = _zone_names()
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None


# --- names --------------------------------------------------------------------------------------


def suggest_dns_label(text: str) -> str | None:
    """A valid DNS-1123 label close to ``text`` (``Orders_DB`` -> ``orders-db``), if there is one."""
    candidate = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-")
    return candidate if candidate and candidate != text and DNS_LABEL_RE.match(candidate) else None


_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL_RE: Final = re.compile(r"^https?://[^\s/?#]+([/?#]\S*)?$")


def _check_duration_format(value: object) -> bool:
    # Only the bound: a malformed duration is the pattern's to report.
    if isinstance(value, str) and value and _DURATION_RE.match(value):
        parse_duration(value)
    return True


def _check_bounded_quantity(value: object, limit: Decimal, shown: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return True
    try:
        amount = parse_quantity(value)
    except ValueError:
        return True  # the pattern (or the type) reports it
    if not amount <= limit:  # NaN and infinities too
        raise ValueError(f"more than the limit of {shown}")
    return True


def _check_quantity_format(value: object) -> bool:
    return _check_bounded_quantity(value, MAX_BYTES, "1Pi")


def _check_cpu_format(value: object) -> bool:
    return _check_bounded_quantity(value, MAX_CPU, "100000 cores")


def _check_cron_format(value: object) -> bool:
    if isinstance(value, str):
        check_cron(value)
    return True


def _check_timezone_format(value: object) -> bool:
    return not isinstance(value, str) or is_timezone(value)


def _check_email_format(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL_RE.match(value))


def _check_uri_format(value: object) -> bool:
    return not isinstance(value, str) or bool(_URL_RE.match(value))


#: Each format our schemas use, with its check (for both validators).
FORMAT_CHECKS: tuple[tuple[str, Callable[[object], bool]], ...] = (
    ("cron", lambda value: _checked(_check_cron_format, value)),
    ("duration", lambda value: _checked(_check_duration_format, value)),
    ("quantity", lambda value: _checked(_check_quantity_format, value)),
    ("cpu", lambda value: _checked(_check_cpu_format, value)),
    ("timezone", _check_timezone_format),
    ("email", _check_email_format),
    ("uri", _check_uri_format),
)


#: The largest number a format allows: jsonschema-rs checks formats of strings only, so its copy
#: of the schemas bounds numbers with ``maximum`` instead (see ``schemas.is_valid``).
NUMERIC_FORMAT_MAXIMUM: Final[dict[str, int]] = {"quantity": int(MAX_BYTES), "cpu": int(MAX_CPU)}


def _checked(check: Callable[[object], bool], value: object) -> bool:
    try:
        return check(value)
    except ValueError:
        return False


def format_checker() -> FormatChecker:
    """A checker for the formats our schemas use, and only those (jsonschema's own are lenient)."""
    checker = FormatChecker(formats=())
    checker.checks("cron", raises=ValueError)(_check_cron_format)
    checker.checks("duration", raises=ValueError)(_check_duration_format)
    checker.checks("quantity", raises=ValueError)(_check_quantity_format)
    checker.checks("cpu", raises=ValueError)(_check_cpu_format)
    checker.checks("timezone")(_check_timezone_format)
    checker.checks("email")(_check_email_format)
    checker.checks("uri")(_check_uri_format)
    return checker
