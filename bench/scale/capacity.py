"""DynamoDB sizes and units as DynamoDB bills them, and a shadow of each item to size its writes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_TYPE_TAGS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def _typed(value: Any) -> tuple[str, Any] | None:
    """(tag, inner) for a low-level attribute value such as ``{"S": "x"}``, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in _TYPE_TAGS:
            return tag, inner
    return None


def _number_size(text: str) -> int:
    """A number's size: about one byte per two significant digits, plus one."""
    digits = re.sub(r"[^0-9]", "", text.lower().split("e")[0]).strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Any) -> int:
    """The bytes DynamoDB counts for an attribute value (Python or low-level form).

    Strings and binaries by length, numbers by significant digits, sets by their
    elements, maps and lists 3 bytes plus a byte per element, null and booleans 1.
    """
    typed = _typed(value)
    if typed is not None:
        tag, inner = typed
        if tag == "S":
            return len(inner.encode())
        if tag == "N":
            return _number_size(str(inner))
        if tag == "B":
            return len(inner)
        if tag in ("SS", "NS", "BS"):
            return sum(value_size({tag[0]: element}) for element in inner)
        if tag == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
        if tag == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        return 1
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int | float | Decimal):
        return _number_size(str(value))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return len(value.value)
    if isinstance(value, set | frozenset):
        return sum(value_size(element) for element in value)
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode()) + value_size(v) + 1 for k, v in value.items())
    if isinstance(value, list | tuple):
        return 3 + sum(value_size(v) + 1 for v in value)
    return len(str(value).encode())


def item_size(item: dict[str, Any]) -> int:
    """An item's size: its attribute names and values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def plain(value: Any) -> Any:
    """A key value as a plain Python string (from either form), for grouping and reports."""
    typed = _typed(value)
    if typed is not None:
        value = typed[1]
    if isinstance(value, Decimal | int | float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value)


def write_units(before: int, after: int, *, transactional: bool = False) -> int:
    """WCU of one item write: 1 per KB of the larger of the item before and after (twice in a transaction)."""
    return max(1, math.ceil(max(before, after) / 1024)) * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    """RCU of reading ``size`` bytes: 1 per 4 KB consistent, half that eventually consistent."""
    units = max(1, math.ceil(size / 4096))
    return units * (2 if transactional else 1) * (1.0 if consistent else 0.5)


@dataclass(frozen=True)
class Index:
    """A secondary index as ``describe_table`` reports it."""

    name: str
    hash_key: str
    range_key: str | None
    projection: str
    non_key: tuple[str, ...]
    local: bool

    @property
    def keys(self) -> tuple[str, ...]:
        """The index's key attributes."""
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)


@dataclass(frozen=True)
class TableInfo:
    """A table's keys and indexes, from ``describe_table`` (never assumed)."""

    name: str
    hash_key: str
    range_key: str | None
    indexes: tuple[Index, ...]

    @classmethod
    def describe(cls, description: dict[str, Any]) -> TableInfo:
        """From a ``describe_table`` answer's ``Table``."""

        def keys(schema: list[dict[str, str]]) -> tuple[str, str | None]:
            hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
            range_key = next((k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"), None)
            return hash_key, range_key

        indexes = []
        for is_local, entries in ((False, "GlobalSecondaryIndexes"), (True, "LocalSecondaryIndexes")):
            for entry in description.get(entries, []):
                hash_key, range_key = keys(entry["KeySchema"])
                projection = entry.get("Projection", {})
                indexes.append(
                    Index(
                        name=entry["IndexName"],
                        hash_key=hash_key,
                        range_key=range_key,
                        projection=projection.get("ProjectionType", "ALL"),
                        non_key=tuple(projection.get("NonKeyAttributes", ())),
                        local=is_local,
                    )
                )
        hash_key, range_key = keys(description["KeySchema"])
        return cls(name=description["TableName"], hash_key=hash_key, range_key=range_key, indexes=tuple(indexes))

    @property
    def has_lsi(self) -> bool:
        """Whether the table has a local secondary index (so a 10 GB item collection limit)."""
        return any(index.local for index in self.indexes)

    def item_key(self, attributes: dict[str, Any]) -> tuple[str, str | None]:
        """(partition key value, sort key value) of an item or a ``Key``."""
        sort = plain(attributes[self.range_key]) if self.range_key and self.range_key in attributes else None
        return plain(attributes[self.hash_key]), sort


@dataclass
class Shadow:
    """What the meter knows of an item: each attribute's size, and the values of index keys."""

    sizes: dict[str, int] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The item's size: attribute names plus values."""
        return sum(len(name.encode()) + size for name, size in self.sizes.items())

    def copy(self) -> Shadow:
        """An independent copy."""
        return Shadow(dict(self.sizes), dict(self.values))

    @classmethod
    def of(cls, item: dict[str, Any], watched: set[str]) -> Shadow:
        """An item's exact shadow (``watched``: attributes whose values are kept)."""
        return cls(
            sizes={name: value_size(value) for name, value in item.items()},
            values={name: plain(value) for name, value in item.items() if name in watched},
        )


_CLAUSE = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r":[A-Za-z0-9_]+")
_IF_NOT_EXISTS = re.compile(r"if_not_exists\s*\(\s*([^,]+?)\s*,\s*(:[A-Za-z0-9_]+)\s*\)")


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:at])
            start = at + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _attribute(path: str, names: dict[str, str]) -> str:
    """The top-level attribute a document path names (``#n.x[0]`` -> what ``#n`` stands for)."""
    top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
    return names.get(top, top)


def apply_update(
    shadow: Shadow, expression: str, names: dict[str, str], values: dict[str, Any], watched: set[str]
) -> set[str]:
    """Apply an UpdateExpression to a shadow, approximately; returns the attributes it touches.

    SET takes the size of the value it assigns (``if_not_exists`` only when absent; an
    arithmetic SET keeps the larger size), ADD adds a set's elements or keeps a number's
    larger size, REMOVE drops the attribute, DELETE subtracts a set's elements. Exact
    enough for WCU (a KB granularity) and item growth; exact sizes replace it whenever
    a response carries the item (ReturnValues=ALL_NEW, a read).
    """
    touched: set[str] = set()
    marks = list(_CLAUSE.finditer(expression))
    for at, mark in enumerate(marks):
        end = marks[at + 1].start() if at + 1 < len(marks) else len(expression)
        action, body = mark.group(1).upper(), expression[mark.end() : end]
        for part in _split_top(body):
            if action == "SET":
                path, _, rhs = part.partition("=")
                name = _attribute(path, names)
                touched.add(name)
                conditional = _IF_NOT_EXISTS.search(rhs)
                placeholders = _PLACEHOLDER.findall(rhs)
                if conditional:
                    if name not in shadow.sizes:
                        assign(shadow, name, values.get(conditional.group(2)), watched)
                elif not placeholders:
                    continue  # copied from another attribute: size unknown, left as it was
                elif "+" in rhs or re.search(r"\s-\s", rhs):
                    new = value_size(values.get(placeholders[-1]))
                    shadow.sizes[name] = max(shadow.sizes.get(name, 0), new)
                    shadow.values.pop(name, None)
                elif "list_append" in rhs:
                    shadow.sizes[name] = shadow.sizes.get(name, 3) + value_size(values.get(placeholders[-1])) - 3
                else:
                    assign(shadow, name, values.get(placeholders[0]), watched)
            else:
                path, _, placeholder = part.strip().partition(" ")
                name = _attribute(path, names)
                touched.add(name)
                value = values.get(placeholder.strip())
                if action == "REMOVE":
                    shadow.sizes.pop(name, None)
                    shadow.values.pop(name, None)
                elif action == "ADD":
                    is_set = isinstance(value, set | frozenset) or (_typed(value) or ("",))[0] in ("SS", "NS", "BS")
                    current = shadow.sizes.get(name, 0)
                    shadow.sizes[name] = current + value_size(value) if is_set else max(current, value_size(value))
                    shadow.values.pop(name, None)
                elif action == "DELETE":
                    remaining = shadow.sizes.get(name, 0) - value_size(value)
                    if remaining > 0:
                        shadow.sizes[name] = remaining
                    else:
                        shadow.sizes.pop(name, None)
    return touched


def assign(shadow: Shadow, name: str, value: Any, watched: set[str]) -> None:
    """Set attribute ``name`` of the shadow: its size, and its value if watched (a key of the table or an index)."""
    shadow.sizes[name] = value_size(value)
    if name in watched:
        shadow.values[name] = plain(value)
    else:
        shadow.values.pop(name, None)


def index_entry_size(info: TableInfo, index: Index, shadow: Shadow) -> int:
    """An index entry: the table's and index's keys, the projected attributes, and 100 bytes."""
    if index.projection == "ALL":
        return shadow.size + 100
    names = {info.hash_key, *(k for k in (info.range_key,) if k), *index.keys}
    if index.projection == "INCLUDE":
        names |= set(index.non_key)
    return sum(len(n.encode()) + shadow.sizes.get(n, 0) for n in names) + 100
