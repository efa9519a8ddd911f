"""Heroku's Range header pagination: `Range: id ..; max=200, order=desc`."""

import re
from dataclasses import dataclass

DEFAULT_MAX = 200
MAX_MAX = 1000
_RANGE = re.compile(r"^\s*(?P<field>[a-z_]+)\s*(?P<bounds>[^;,]*)(?P<options>.*)$")


@dataclass
class Listing:
    """A list response; `items` are (json, {sort field: value}) pairs."""

    items: list
    fields: tuple = ("id",)


@dataclass
class RangeSpec:
    field: str
    start: str | None
    exclusive: bool
    end: str | None
    max: int
    desc: bool

    def header(self, start, exclusive=False):
        text = f"{self.field} {']' if exclusive else ''}{start}..; max={self.max}"
        return text + (", order=desc" if self.desc else "")


def parse_range(header, fields):
    spec = RangeSpec(fields[0], None, False, None, DEFAULT_MAX, False)
    match = _RANGE.match(header or "")
    if not match or match["field"] not in fields:
        return spec
    spec.field = match["field"]
    start, _, end = match["bounds"].strip().partition("..")
    spec.exclusive = start.startswith("]")
    spec.start = start.lstrip("]") or None
    spec.end = end or None
    for option in re.split(r"[;,]", match["options"]):
        name, _, value = option.strip().partition("=")
        if name == "max" and value.isdigit():
            spec.max = max(1, min(int(value), MAX_MAX))
        elif name == "order":
            spec.desc = value.strip() == "desc"
    return spec


def _key(value):
    return (0, value, "") if isinstance(value, int) else (1, 0, str(value))


def _coerce(value, sample):
    if isinstance(sample, int) and value is not None and value.lstrip("-").isdigit():
        return int(value)
    return value


def _in_bounds(value, spec, start, end):
    """Bounds follow the order: with order=desc the range starts at the highest value."""
    sign = -1 if spec.desc else 1
    value = _key(value)
    if start is not None:
        offset = (value > _key(start)) - (value < _key(start))
        if sign * offset < 0 or (spec.exclusive and offset == 0):
            return False
    if end is not None:
        offset = (value > _key(end)) - (value < _key(end))
        if sign * offset > 0:
            return False
    return True


def paginate(listing, range_header):
    """Return (status, page of json items, headers)."""
    spec = parse_range(range_header, listing.fields)
    items = sorted(listing.items, key=lambda pair: _key(pair[1][spec.field]), reverse=spec.desc)
    sample = items[0][1][spec.field] if items else None
    start, end = _coerce(spec.start, sample), _coerce(spec.end, sample)
    selected = [pair for pair in items if _in_bounds(pair[1][spec.field], spec, start, end)]
    page = selected[: spec.max]
    headers = {"Accept-Ranges": ", ".join(listing.fields)}
    if page:
        first, last = page[0][1][spec.field], page[-1][1][spec.field]
        headers["Content-Range"] = f"{spec.field} {first}..{last}; max={spec.max}" + (
            ", order=desc" if spec.desc else ""
        )
    if len(selected) > len(page):
        headers["Next-Range"] = spec.header(page[-1][1][spec.field], exclusive=True)
        return 206, [pair[0] for pair in page], headers
    return 200, [pair[0] for pair in page], headers
