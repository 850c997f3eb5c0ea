"""A deterministic, realistic rrweb event stream.

Shaped like what ``rrweb.record`` emits on a documentation page: a Meta event, a
full snapshot of a long page (nested sections, paragraphs, links, code blocks, an
inline stylesheet), then incremental snapshots in rrweb's proportions (mouse moves
dominate, then scrolls, mutations, clicks and masked input).
"""

from __future__ import annotations

import random
from typing import Any

# A Zipf-like vocabulary: prose on real pages repeats common words, which is what
# makes rrweb JSON compress well; uniform random words would understate that.
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "for",
    "that",
    "with",
    "on",
    "as",
    "by",
    "this",
    "are",
    "be",
    "it",
    "from",
    "or",
    "an",
    "at",
    "which",
    "python",
    "module",
    "function",
    "class",
    "return",
    "value",
    "new",
    "release",
    "version",
    "changes",
    "support",
    "default",
    "type",
    "error",
    "object",
    "method",
    "string",
    "list",
    "dict",
    "file",
    "path",
    "data",
    "system",
    "code",
    "example",
    "see",
    "also",
    "documentation",
    "library",
    "standard",
    "added",
    "removed",
    "deprecated",
    "now",
    "argument",
    "parameter",
    "attribute",
    "instance",
    "import",
    "package",
    "syntax",
    "feature",
    "improved",
    "performance",
    "interpreter",
    "thread",
    "async",
    "await",
    "generator",
    "exception",
    "traceback",
]
_WEIGHTS = [1 / (rank + 1) for rank in range(len(_WORDS))]
_CSS = ".body{margin:0 auto;max-width:960px;font-family:sans-serif}" * 40


class StreamBuilder:
    """Builds events with increasing node ids and timestamps."""

    def __init__(self, seed: int = 7, start: int = 1_700_000_000_000) -> None:
        self.random = random.Random(seed)
        self.next_id = 1
        self.now = start

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def text(self, words: int) -> str:
        """A run of prose."""
        return " ".join(self.random.choices(_WORDS, _WEIGHTS, k=words))

    def _text_node(self, words: int) -> dict[str, Any]:
        return {"type": 3, "textContent": self.text(words), "id": self._id()}

    def _element(self, tag: str, children: list[dict[str, Any]], **attributes: str) -> dict[str, Any]:
        return {"type": 2, "tagName": tag, "attributes": attributes, "childNodes": children, "id": self._id()}

    def section(self, depth: int) -> dict[str, Any]:
        """A documentation section: heading, paragraphs with links, code, subsections."""
        r = self.random
        children = [self._element(f"h{min(depth + 1, 6)}", [self._text_node(r.randint(2, 8))], id=self.text(1))]
        for _ in range(r.randint(2, 6)):
            parts = [self._text_node(r.randint(10, 40))]
            if r.random() < 0.6:
                href = f"/library/{self.text(1)}.html#{self.text(1)}"
                parts.append(
                    self._element("a", [self._text_node(r.randint(1, 4))], href=href, **{"class": "reference internal"})
                )
                parts.append(self._text_node(r.randint(5, 25)))
            children.append(self._element("p", parts))
        if r.random() < 0.4:
            code = "\n".join(f">>> {self.text(r.randint(2, 6))}" for _ in range(r.randint(2, 8)))
            children.append(
                self._element("pre", [self._text_node(0) | {"textContent": code}], **{"class": "highlight"})
            )
        if depth < 3:
            children.extend(self.section(depth + 1) for _ in range(r.randint(1, 3)))
        return self._element("section", children, id=self.text(1))

    def full_snapshot(self, sections: int) -> list[dict[str, Any]]:
        """Meta and full-snapshot events for a page of ``sections`` top-level sections."""
        style = self._element("style", [self._text_node(0) | {"textContent": _CSS, "isStyle": True}])
        head = self._element("head", [style, self._element("title", [self._text_node(4)])])
        body = self._element("body", [self.section(1) for _ in range(sections)], **{"class": "body"})
        html = self._element("html", [head, body], lang="en")
        document = {
            "type": 0,
            "childNodes": [{"type": 1, "name": "html", "publicId": "", "systemId": "", "id": self._id()}, html],
            "id": 1,
        }
        self.now += 5
        meta = {
            "type": 4,
            "data": {"href": "https://docs.example.com/whatsnew.html", "width": 1280, "height": 800},
            "timestamp": self.now,
        }
        self.now += 3
        snapshot = {
            "type": 2,
            "data": {"node": document, "initialOffset": {"left": 0, "top": 0}},
            "timestamp": self.now,
        }
        return [meta, snapshot]

    def incremental(self) -> dict[str, Any]:
        """One incremental-snapshot event."""
        r = self.random
        self.now += r.randint(8, 120)
        pick = r.random()
        target = r.randint(2, max(2, self.next_id))
        if pick < 0.55:
            data: dict[str, Any] = {
                "source": 1,
                "positions": [
                    {"x": r.randint(0, 1280), "y": r.randint(0, 800), "id": target, "timeOffset": -r.randint(0, 450)}
                    for _ in range(r.randint(1, 8))
                ],
            }
        elif pick < 0.75:
            data = {"source": 3, "id": 1, "x": 0, "y": r.randint(0, 20000)}
        elif pick < 0.88:
            data = {
                "source": 0,
                "texts": [],
                "attributes": [
                    {"id": target, "attributes": {"class": "highlighted" if r.random() < 0.5 else "reference"}}
                ],
                "removes": [],
                "adds": [
                    {
                        "parentId": target,
                        "nextId": None,
                        "node": self._element("span", [self._text_node(r.randint(1, 6))]),
                    }
                ],
            }
        elif pick < 0.95:
            data = {
                "source": 2,
                "type": r.choice([1, 2, 5, 6]),
                "id": target,
                "x": r.randint(0, 1280),
                "y": r.randint(0, 800),
            }
        else:
            data = {"source": 5, "text": "*" * r.randint(1, 24), "isChecked": False, "id": target}
        return {"type": 3, "data": data, "timestamp": self.now}


def session(*, sections: int = 60, incremental: int = 3000, seed: int = 7, pages: int = 1) -> list[dict[str, Any]]:
    """A whole recording: per page view, meta and full snapshot, then ``incremental`` events."""
    builder = StreamBuilder(seed)
    events: list[dict[str, Any]] = []
    for _ in range(pages):
        events += builder.full_snapshot(sections)
        events += [builder.incremental() for _ in range(incremental)]
    return events


def batches(events: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    """Split a stream into recorder-sized batches."""
    return [events[at : at + size] for at in range(0, len(events), size)]
