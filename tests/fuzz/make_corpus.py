"""Write the hostile-payload corpus: tests/fuzz/corpus/*.bin and tests/fuzz/corpus.json.

Run ``python -m tests.fuzz.make_corpus`` from the repository root; the output is the
same bytes every run (gzip without timestamps, no randomness). ``--check`` compares
instead of writing.

Each entry names the route, the headers, the body file and the exact answer: the
status and, for a refusal, the error code. The expected answers follow the rules of
api/chalicelib/validation.py and events.py: 4 MiB as sent, 16 MiB and 20,000 events
inflated, at most 64 gzip members, ``seq`` an integer 0..2^53-1, each event an object
with an integer ``type`` and a ``timestamp`` (integer or float) in 1..2^53-1.

Bodies above PACK_ABOVE bytes are kept on disk gzip-compressed (``*.bin.gz``, the
file is the gzip of the body to send), so the corpus stays small in git.
"""

from __future__ import annotations

import gzip
import itertools
import json
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "corpus"
INDEX = HERE / "corpus.json"
PACK_ABOVE = 64 * 1024

EVENTS = "POST /recordings/{id}/events"
CREATE = "POST /recordings"
JSON = {"Content-Type": "application/json"}
GZIP = {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}
BEACON = {"Content-Type": "text/plain"}  # what the recorder and sendBeacon send: gzip, no Content-Encoding

KIB = 1024
MIB = 1024 * 1024
MAX_SAFE = 2**53 - 1
STEP = 256 * KIB  # the inflater's output step


def gz(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def batch(events: str, seq: str = "0", extra: str = "") -> bytes:
    return f'{{"seq":{seq},"events":[{events}]{extra}}}'.encode()


def event(timestamp: str = "1", type_: str = "3", data: str = "{}") -> str:
    return f'{{"type":{type_},"timestamp":{timestamp},"data":{data}}}'


GOOD = batch(event())


def padded_batch(size: int, *, fill: bytes = b"a", tail: bytes = b"", head: bytes = b"") -> bytes:
    """A valid one-event batch of exactly ``size`` bytes, its ``data`` a long string (``head``, ``fill``s, ``tail``)."""
    start, end = b'{"seq":0,"events":[{"type":2,"timestamp":1,"data":"' + head, b'"}]}'
    body = start + fill * ((size - len(start) - len(end) - len(tail)) // len(fill)) + tail
    body += b"a" * (size - len(body) - len(end))
    return body + end


def members_at(text: bytes, *cuts: int) -> bytes:
    """``text`` as several gzip members, split at the given offsets of the inflated text."""
    edges = [0, *cuts, len(text)]
    return b"".join(gz(text[a:b]) for a, b in itertools.pairwise(edges))


def with_flags(flags: int, extra: bytes) -> bytes:
    """A valid gzip member of GOOD whose header carries optional fields (or reserved bits)."""
    deflated = zlib.compress(GOOD, 9)[2:-4]  # raw deflate: drop the zlib header and Adler-32
    trailer = struct.pack("<II", zlib.crc32(GOOD), len(GOOD))
    return b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\x02\xff" + extra + deflated + trailer


def many_events(count: int, data: str | None = None) -> bytes:
    one = '{"type":3,"timestamp":1}' if data is None else event(data=data)
    return batch(",".join([one] * count))


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


# What makes an entry's body. A lambda that binds a loop's value as a default is cast to it:
# mypy cannot infer a lambda with more parameters than the callable it is passed as.
Make = Callable[[], bytes]


def entry(
    name: str,
    make: Make,
    status: int,
    code: str | None,
    *,
    route: str = EVENTS,
    headers: dict[str, str] | None = None,
    why: str,
) -> dict[str, Any]:
    return {
        "name": name,
        "route": route,
        "headers": headers if headers is not None else JSON,
        "status": status,
        "code": code,
        "why": why,
        "_make": make,
    }


def entries() -> list[dict[str, Any]]:
    e = entry
    bomb_64m = gz(b"\0" * (64 * MIB))
    good_gzip = gz(GOOD)
    return [
        # --- gzip: bombs, member boundaries, corruption -------------------------------
        e(
            "gzip-bomb-64mib-zeros",
            lambda: bomb_64m,
            413,
            "batch_too_large",
            headers=GZIP,
            why="64 MiB of zeros in ~64 KB: cut off at 16 MiB while inflating",
        ),
        e(
            "gzip-bomb-as-beacon",
            lambda: bomb_64m,
            413,
            "batch_too_large",
            headers=BEACON,
            why="the same bomb as text/plain with no Content-Encoding: sniffed by its magic bytes",
        ),
        e(
            "gzip-inflates-to-16mib-plus-1",
            lambda: gz(padded_batch(16 * MIB + 1)),
            413,
            "batch_too_large",
            headers=GZIP,
            why="one byte over the inflated limit",
        ),
        e(
            "gzip-inflates-to-exactly-16mib",
            lambda: gz(padded_batch(16 * MIB)),
            202,
            None,
            headers=GZIP,
            why="exactly the inflated limit is allowed",
        ),
        e(
            "gzip-member-ends-on-256kib-then-member",
            lambda: members_at(padded_batch(STEP + 4096), STEP),
            202,
            None,
            headers=GZIP,
            why="a member whose output ends exactly on the inflater's first 256 KiB step, then another member",
        ),
        e(
            "gzip-member-ends-on-512kib-then-member",
            lambda: members_at(padded_batch(2 * STEP + 100), 2 * STEP),
            202,
            None,
            headers=GZIP,
            why="a member ending on the second 256 KiB step, then another: hung the inflate loop of before ea560f1",
        ),
        e(
            "gzip-member-ends-on-1mib-then-member",
            lambda: members_at(padded_batch(4 * STEP + 100), 4 * STEP),
            202,
            None,
            headers=GZIP,
            why="the same on the fourth step (also hung before ea560f1)",
        ),
        e(
            "gzip-single-member-exactly-256kib",
            lambda: gz(padded_batch(STEP)),
            202,
            None,
            headers=GZIP,
            why="a body whose only member ends exactly on a step",
        ),
        e(
            "gzip-member-256kib-then-empty-member",
            lambda: gz(padded_batch(STEP)) + gz(b""),
            202,
            None,
            headers=GZIP,
            why="a step-sized member followed by an empty one",
        ),
        e(
            "gzip-three-members",
            lambda: members_at(GOOD, 5, 20),
            202,
            None,
            headers=GZIP,
            why="a batch split over three members (what a stream compressor's flushes make)",
        ),
        e(
            "gzip-63-empty-members-then-batch",
            lambda: gz(b"") * 63 + good_gzip,
            202,
            None,
            headers=GZIP,
            why="64 members is the most allowed",
        ),
        e(
            "gzip-64-empty-members-then-batch",
            lambda: gz(b"") * 64 + good_gzip,
            400,
            "invalid_gzip",
            headers=GZIP,
            why="65 members: refused",
        ),
        e(
            "gzip-5000-empty-members",
            lambda: gz(b"") * 5000,
            400,
            "invalid_gzip",
            headers=GZIP,
            why="many empty members: refused at the 65th, not looped over",
        ),
        e(
            "gzip-truncated-trailer",
            lambda: good_gzip[:-4],
            400,
            "invalid_gzip",
            headers=GZIP,
            why="the length field is missing",
        ),
        e(
            "gzip-truncated-mid-stream",
            lambda: gz(padded_batch(100 * KIB, fill=b"0123456789abcdef"))[:200],
            400,
            "invalid_gzip",
            headers=GZIP,
            why="cut in the middle of the deflate stream",
        ),
        e(
            "gzip-magic-only",
            lambda: b"\x1f\x8b",
            400,
            "invalid_gzip",
            headers=BEACON,
            why="two magic bytes and nothing else",
        ),
        e(
            "gzip-bad-crc",
            lambda: flip(good_gzip, len(good_gzip) - 8),
            400,
            "invalid_gzip",
            headers=GZIP,
            why="CRC-32 does not match",
        ),
        e(
            "gzip-bad-length",
            lambda: flip(good_gzip, len(good_gzip) - 1),
            400,
            "invalid_gzip",
            headers=GZIP,
            why="ISIZE does not match",
        ),
        e(
            "gzip-corrupt-deflate",
            lambda: good_gzip[:10] + b"\xff" * 40 + good_gzip[-8:],
            400,
            "invalid_gzip",
            headers=GZIP,
            why="garbage where the deflate stream should be",
        ),
        e(
            "gzip-bad-method",
            lambda: b"\x1f\x8b\x09" + good_gzip[3:],
            400,
            "invalid_gzip",
            headers=GZIP,
            why="compression method 9 does not exist",
        ),
        e(
            "gzip-reserved-flags",
            lambda: with_flags(0xE0, b""),
            400,
            "invalid_gzip",
            headers=GZIP,
            why="reserved header flag bits set",
        ),
        e(
            "gzip-header-name-comment-extra",
            lambda: with_flags(0x1C, b"\x04\0abcd../../etc/passwd\0comment\0"),
            202,
            None,
            headers=GZIP,
            why="FEXTRA, FNAME and FCOMMENT are legal and ignored",
        ),
        e(
            "gzip-then-trailing-garbage",
            lambda: good_gzip + b"garbage",
            400,
            "invalid_gzip",
            headers=GZIP,
            why="bytes after the member that are not another member",
        ),
        e(
            "gzip-then-zero-padding",
            lambda: good_gzip + b"\0" * 512,
            400,
            "invalid_gzip",
            headers=GZIP,
            why="zero padding after the member (tar style) is not a member",
        ),
        e(
            "zlib-stream-declared-gzip",
            lambda: zlib.compress(GOOD),
            400,
            "invalid_gzip",
            headers=GZIP,
            why="zlib wrapper, not gzip",
        ),
        e(
            "raw-deflate-declared-gzip",
            lambda: zlib.compress(GOOD, 9)[2:-4],
            400,
            "invalid_gzip",
            headers=GZIP,
            why="raw deflate, not gzip",
        ),
        e(
            "plain-json-declared-gzip",
            lambda: GOOD,
            400,
            "invalid_gzip",
            headers=GZIP,
            why="Content-Encoding: gzip on a body that is not gzip",
        ),
        e(
            "gzip-of-gzip",
            lambda: gz(bomb_64m),
            400,
            "invalid_json",
            headers=GZIP,
            why="inflated once only: the inner gzip is not JSON (nor UTF-8)",
        ),
        e(
            "gzip-as-beacon-no-encoding",
            lambda: good_gzip,
            202,
            None,
            headers=BEACON,
            why="text/plain gzip without Content-Encoding, as sendBeacon sends it",
        ),
        e(
            "content-encoding-deflate",
            lambda: zlib.compress(GOOD),
            415,
            "unsupported_encoding",
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "deflate"},
            why="only gzip and identity",
        ),
        e(
            "content-encoding-gzip-twice",
            lambda: good_gzip,
            415,
            "unsupported_encoding",
            headers={"Content-Type": "application/octet-stream", "Content-Encoding": "gzip, gzip"},
            why="stacked encodings are not supported",
        ),
        e(
            "content-type-form",
            lambda: b"seq=0&events=1",
            415,
            "unsupported_media_type",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            why="not a body type of the route",
        ),
        # --- size limits -----------------------------------------------------------
        e(
            "plain-body-4mib-plus-1",
            lambda: padded_batch(4 * MIB + 1),
            413,
            "body_too_large",
            why="one byte over the limit as sent",
        ),
        e("plain-body-exactly-4mib", lambda: padded_batch(4 * MIB), 202, None, why="exactly the limit as sent"),
        e(
            "stored-gzip-over-4mib",
            lambda: gz(b"\0" * (4 * MIB + 1), level=0),
            413,
            "body_too_large",
            headers=GZIP,
            why="an uncompressed (stored) gzip over 4 MiB: refused before inflating",
        ),
        e("events-25000-tiny", lambda: many_events(25_000), 413, "batch_too_large", why="more than 20,000 events"),
        e(
            "events-20001-gzip",
            lambda: gz(many_events(20_001)),
            413,
            "batch_too_large",
            headers=GZIP,
            why="one event over the limit",
        ),
        e("events-exactly-20000", lambda: many_events(20_000), 202, None, why="exactly the event limit"),
        e(
            "json-value-bomb-16mib-of-empty-objects",
            lambda: gz(
                b'{"seq":0,"events":[{"type":2,"timestamp":1,"data":[' + b"{}," * ((16 * MIB - 100) // 3) + b"{}]}]}"
            ),
            202,
            None,
            headers=GZIP,
            why="~16 KB of gzip, ~5.6 million values inside data: skipped, never built",
        ),
        e(
            "json-value-bomb-16mib-of-zeros",
            lambda: gz(
                b'{"seq":0,"events":[{"type":2,"timestamp":1,"data":[' + b"0," * ((16 * MIB - 100) // 2) + b"0]}]}"
            ),
            202,
            None,
            headers=GZIP,
            why="~8 million numbers inside data",
        ),
        e(
            "huge-string-with-one-emoji",
            lambda: gz(padded_batch(15 * MIB, tail="\U0001f600".encode())),
            202,
            None,
            headers=GZIP,
            why="15 MiB of ASCII and one 4-byte character: UTF-8 checked in steps",
        ),
        e(
            "deep-arrays-100k",
            lambda: gz(batch(event(data="[" * 100_000 + "]" * 100_000))),
            400,
            "too_deep",
            headers=GZIP,
            why="100,000 nested arrays in an event's data",
        ),
        e(
            "deep-objects-100k",
            lambda: gz(batch(event(data='{"a":' * 100_000 + "1" + "}" * 100_000))),
            400,
            "too_deep",
            headers=GZIP,
            why="100,000 nested objects (more braces than events allowed: counted first)",
        ),
        e(
            "deep-unclosed-100k",
            lambda: gz(b'{"seq":0,"events":[{"type":2,"timestamp":1,"data":' + b"[" * 100_000),
            400,
            "too_deep",
            headers=GZIP,
            why="nesting that never closes",
        ),
        e(
            "deep-4000-levels",
            lambda: batch(event(data="[" * 3996 + "]" * 3996)),
            202,
            None,
            why="4,000 levels (settings.MAX_JSON_DEPTH) are always accepted: a DOM snapshot 2,000 elements deep",
        ),
        e(
            "deep-6000-levels",
            lambda: batch(event(data="[" * 6000 + "]" * 6000)),
            400,
            "too_deep",
            why="past the recursion limit validation sets (MAX_JSON_DEPTH + 1,000)",
        ),
        # --- JSON syntax and text -----------------------------------------------------
        e("empty-body", lambda: b"", 400, "invalid_json", why="nothing"),
        e("whitespace-only", lambda: b" \n\t ", 400, "invalid_json", why="no value"),
        e("top-level-array", lambda: b"[" + GOOD + b"]", 400, "invalid_json", why="not an object"),
        e("top-level-string", lambda: b'"seq"', 400, "invalid_json", why="not an object"),
        e("utf8-bom-prefix", lambda: b"\xef\xbb\xbf" + GOOD, 400, "invalid_json", why="JSON text has no BOM"),
        e("utf16-body", lambda: GOOD.decode().encode("utf-16"), 400, "invalid_json", why="not UTF-8"),
        e("trailing-garbage", lambda: GOOD + b"garbage", 400, "invalid_json", why="bytes after the value"),
        e("trailing-second-object", lambda: GOOD + GOOD, 400, "invalid_json", why="two values"),
        e("trailing-whitespace", lambda: GOOD + b" \r\n\t", 202, None, why="whitespace after the value is JSON"),
        e("nul-byte-after-value", lambda: GOOD + b"\0", 400, "invalid_json", why="a NUL after the value"),
        e(
            "raw-nul-in-string",
            lambda: batch(event(data='"a\0b"')),
            400,
            "invalid_json",
            why="control characters must be escaped",
        ),
        e("escaped-nul-in-string", lambda: batch(event(data='"a\\u0000b"')), 202, None, why="escaped, it is legal"),
        e(
            "invalid-utf8-in-string",
            lambda: batch(event(data='"x"')).replace(b'"x"', b'"\xff\xfe"'),
            400,
            "invalid_json",
            why="bytes that are not UTF-8 inside a skipped string",
        ),
        e(
            "overlong-utf8-in-string",
            lambda: batch(event(data='"x"')).replace(b'"x"', b'"\xc0\xaf"'),
            400,
            "invalid_json",
            why="an overlong encoding of '/'",
        ),
        e(
            "utf8-encoded-surrogate",
            lambda: batch(event(data='"x"')).replace(b'"x"', b'"\xed\xa0\x80"'),
            400,
            "invalid_json",
            why="a surrogate encoded as UTF-8 is not UTF-8",
        ),
        e(
            "lone-high-surrogate-escape",
            lambda: batch(event(data='"\\ud800"')),
            202,
            None,
            why="browsers write these for text cut inside an emoji: stored as U+FFFD",
        ),
        e(
            "lone-low-surrogate-escape",
            lambda: batch(event(data='"\\udc00x"')),
            202,
            None,
            why="stored as U+FFFD",
        ),
        e(
            "paired-surrogate-escape",
            lambda: batch(event(data='"\\ud83d\\ude00"')),
            202,
            None,
            why="a proper pair is an emoji",
        ),
        e(
            "lone-surrogate-escape-bomb-16mib",
            lambda: gz(padded_batch(16 * MIB, fill=b"\\ud800")),
            400,
            "invalid_json",
            headers=GZIP,
            why="~24 KB of gzip, 2.8 million lone escapes in one string: refused in C, never repaired one by one",
        ),
        e(
            "lone-surrogate-escape-bomb-in-20000-events",
            lambda: gz(many_events(20_000, data='"' + "\\ud800" * 133 + '"')),
            400,
            "invalid_json",
            headers=GZIP,
            why="the same escapes spread over the most events a batch may hold",
        ),
        e(
            "lone-surrogate-escapes-between-characters-16mib",
            lambda: gz(padded_batch(16 * MIB, fill=b"x\\ud800")),
            400,
            "invalid_json",
            headers=GZIP,
            why="2.4 million lone escapes, none next to another: refused as the bomb is",
        ),
        e(
            "lone-surrogate-escapes-at-the-repair-limit",
            lambda: gz(many_events(1_000, data='"' + "x\\ud800" * 10 + '"')),
            202,
            None,
            headers=GZIP,
            why="10,000 lone escapes (settings.MAX_SURROGATE_ESCAPES) over 1,000 events: each becomes U+FFFD",
        ),
        e(
            "escaped-emoji-flood-16mib",
            lambda: gz(padded_batch(16 * MIB, fill=b"\\ud83d\\ude00")),
            202,
            None,
            headers=GZIP,
            why="1.4 million valid pairs (~33 KB of gzip): checked by the decoder and stored as sent, never searched",
        ),
        e(
            "lone-escape-then-escaped-emoji-flood-16mib",
            lambda: gz(padded_batch(16 * MIB, fill=b"\\ud83d\\ude00", head=b"\\ud800")),
            400,
            "invalid_json",
            headers=GZIP,
            why="one lone escape among 2.8 million escaped halves: past the repair limit, refused",
        ),
        e(
            "escaped-emoji-flood-cut-short",
            lambda: gz(padded_batch(16 * MIB, fill=b"\\ud83d\\ude00")[:-1]),
            400,
            "invalid_json",
            headers=GZIP,
            why="valid pairs in a body that is not JSON: refused as such",
        ),
        e("invalid-escape", lambda: batch(event(data='"\\x41"')), 400, "invalid_json", why="no \\x in JSON"),
        e("nan-token", lambda: batch(event(timestamp="NaN")), 400, "invalid_json", why="NaN is not JSON"),
        e(
            "infinity-token",
            lambda: batch(event(timestamp="Infinity")),
            400,
            "invalid_json",
            why="Infinity is not JSON",
        ),
        e(
            "minus-infinity-token",
            lambda: batch(event(timestamp="-Infinity")),
            400,
            "invalid_json",
            why="-Infinity is not JSON",
        ),
        e("leading-zero-number", lambda: batch(event(timestamp="01")), 400, "invalid_json", why="not JSON"),
        e(
            "hex-number",
            lambda: batch(event(timestamp="0x10")),
            400,
            "invalid_event",
            why="read as 0 (below the minimum) before the x is seen",
        ),
        # --- timestamps ------------------------------------------------------------------
        *[
            e(
                f"timestamp-{label}",
                cast(Make, lambda v=value: batch(event(timestamp=v))),
                400,
                "invalid_event",
                why=why,
            )
            for label, value, why in [
                ("1e200", "1e200", "above 2^53-1"),
                ("minus-1e308", "-1e308", "negative"),
                ("5e-324", "5e-324", "the smallest subnormal: below 1"),
                ("1e-131", "1e-131", "below 1 (and below DynamoDB's smallest number)"),
                ("1e400", "1e400", "overflows a double"),
                ("zero", "0", "below 1"),
                ("minus-zero", "-0", "below 1"),
                ("2pow53", str(MAX_SAFE + 1), "above 2^53-1"),
                ("2pow53-float", f"{MAX_SAFE + 1}.0", "above 2^53-1"),
                ("30-digit-integer", "1" * 30, "far above 2^53-1"),
                ("just-below-1", "0.9999999999999999", "below 1"),
                ("string", '"1700000000000"', "a string"),
                ("null", "null", "null"),
                ("bool", "true", "a boolean"),
                ("array", "[1]", "an array"),
            ]
        ],
        *[
            e(f"timestamp-{label}", cast(Make, lambda v=value: batch(event(timestamp=v))), 202, None, why=why)
            for label, value, why in [
                ("one", "1", "the minimum"),
                ("2pow53-minus-1", str(MAX_SAFE), "the maximum"),
                ("float", "1700000000000.5", "a float within range"),
                ("exponent", "1.7e12", "an exponent within range"),
            ]
        ],
        e("event-missing-timestamp", lambda: batch('{"type":3}'), 400, "invalid_event", why="required"),
        # --- type -------------------------------------------------------------------------
        *[
            e(f"type-{label}", cast(Make, lambda v=value: batch(event(type_=v))), 400, "invalid_event", why=why)
            for label, value, why in [
                ("bool", "true", "a boolean"),
                ("string", '"3"', "a string"),
                ("float", "3.5", "a float"),
                ("integral-float", "3.0", "a float, even integral"),
                ("2pow53", str(MAX_SAFE + 1), "above 2^53-1"),
                ("null", "null", "null"),
            ]
        ],
        e("event-missing-type", lambda: batch('{"timestamp":1}'), 400, "invalid_event", why="required"),
        e("event-not-an-object", lambda: batch(event() + ",5"), 400, "invalid_event", why="an event is an object"),
        # --- seq and the batch's shape ----------------------------------------------------
        *[
            e(f"seq-{label}", cast(Make, lambda v=value: batch(event(), seq=v)), 400, "invalid_batch", why=why)
            for label, value, why in [
                ("negative", "-1", "below 0"),
                ("2pow53", str(MAX_SAFE + 1), "above 2^53-1"),
                ("float", "1.5", "a float"),
                ("integral-float", "1.0", "a float, even integral"),
                ("exponent", "1e2", "an exponent makes a float"),
                ("bool", "true", "a boolean"),
                ("string", '"1"', "a string"),
                ("null", "null", "null"),
            ]
        ],
        e("seq-2pow53-minus-1", lambda: batch(event(), seq=str(MAX_SAFE)), 202, None, why="the maximum"),
        e(
            "unknown-top-level-field",
            lambda: batch(event(), extra=',"extra":1'),
            400,
            "invalid_batch",
            why="a batch has exactly seq and events",
        ),
        e(
            "unknown-top-level-proto",
            lambda: batch(event(), extra=',"__proto__":{"x":1}'),
            400,
            "invalid_batch",
            why="a batch has exactly seq and events",
        ),
        e("events-empty", lambda: batch(""), 400, "invalid_batch", why="at least one event"),
        e("events-null", lambda: b'{"seq":0,"events":null}', 400, "invalid_batch", why="not an array"),
        e(
            "duplicate-seq-second-bad",
            lambda: b'{"seq":0,"seq":-1,"events":[' + event().encode() + b"]}",
            400,
            "invalid_batch",
            why="every occurrence of a duplicate key is validated",
        ),
        e(
            "duplicate-seq-both-good",
            lambda: b'{"seq":0,"seq":1,"events":[' + event().encode() + b"]}",
            202,
            None,
            why="duplicate keys: both valid, accepted (the last wins)",
        ),
        e(
            "duplicate-timestamp-first-bad",
            lambda: batch('{"type":3,"timestamp":0,"timestamp":1}'),
            400,
            "invalid_event",
            why="a bad duplicate cannot hide behind a good one",
        ),
        # --- create bodies (POST /recordings) ---------------------------------------------
        e(
            "create-title-10kb",
            lambda: json.dumps({"title": "t" * 10_000}).encode(),
            400,
            "invalid_field",
            route=CREATE,
            why="title is at most 512 characters",
        ),
        e(
            "create-url-10kb",
            lambda: json.dumps({"url": "https://x.test/" + "u" * 10_000}).encode(),
            400,
            "invalid_field",
            route=CREATE,
            why="url is at most 2048 characters",
        ),
        e(
            "create-title-513",
            lambda: json.dumps({"title": "t" * 513}).encode(),
            400,
            "invalid_field",
            route=CREATE,
            why="one character over",
        ),
        e(
            "create-title-512-emoji",
            lambda: json.dumps({"title": "\U0001f600" * 512}, ensure_ascii=False).encode(),
            201,
            None,
            route=CREATE,
            why="512 characters of 4 bytes each: characters are counted, not bytes",
        ),
        e("create-title-not-a-string", lambda: b'{"title":["x"]}', 400, "invalid_field", route=CREATE, why="a string"),
        e(
            "create-title-lone-surrogate",
            lambda: b'{"title":"\\ud800"}',
            201,
            None,
            route=CREATE,
            why="a lone surrogate is stored as U+FFFD",
        ),
        e(
            "create-id-10kb",
            lambda: json.dumps({"id": "i" * 10_000}).encode(),
            400,
            "invalid_id",
            route=CREATE,
            why="8-64 characters",
        ),
        e("create-id-number", lambda: b'{"id":12345678}', 400, "invalid_id", route=CREATE, why="a string"),
        e("create-id-object", lambda: b'{"id":{"$ne":null}}', 400, "invalid_id", route=CREATE, why="a string"),
        e("create-id-array", lambda: b'{"id":["abcdefgh"]}', 400, "invalid_id", route=CREATE, why="a string"),
        e(
            "create-id-traversal",
            lambda: b'{"id":"../../../../etc/passwd"}',
            400,
            "invalid_id",
            route=CREATE,
            why="outside the strict pattern",
        ),
        e(
            "create-id-unicode",
            lambda: json.dumps({"id": "r\u00e9cording-1"}).encode(),
            400,
            "invalid_id",
            route=CREATE,
            why="ASCII only",
        ),
        e(
            "create-id-duplicate-key",
            lambda: b'{"id":"abcdefgh","id":5}',
            400,
            "invalid_id",
            route=CREATE,
            why="a bad duplicate cannot hide behind a good one",
        ),
        e(
            "create-unknown-fields",
            lambda: b'{"id":"fuzz-unknown-1","future":{"a":[1,2]},"x":null}',
            201,
            None,
            route=CREATE,
            why="other fields are ignored",
        ),
        e(
            "create-deep-unknown-field",
            lambda: b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
            400,
            "too_deep",
            route=CREATE,
            why="nesting in an ignored field",
        ),
        e(
            "create-seq-without-events",
            lambda: b'{"seq":0}',
            400,
            "invalid_batch",
            route=CREATE,
            why="a first batch needs both",
        ),
        e(
            "create-first-batch-bad-timestamp",
            lambda: b'{"id":"fuzz-bad-first","seq":0,"events":[' + event(timestamp="0").encode() + b"]}",
            400,
            "invalid_event",
            route=CREATE,
            why="a bad first batch creates nothing",
        ),
        e(
            "create-first-batch-25000-events",
            lambda: many_events(25_000)[:-1] + b',"id":"fuzz-big-first"}',
            413,
            "batch_too_large",
            route=CREATE,
            why="the events limit applies to a first batch",
        ),
        e(
            "create-gzip-bomb",
            lambda: bomb_64m,
            413,
            "batch_too_large",
            route=CREATE,
            headers=GZIP,
            why="the inflated limit applies to a create body",
        ),
        e(
            "create-body-4mib-plus-1",
            lambda: json.dumps({"x": "a" * (4 * MIB)}).encode(),
            413,
            "body_too_large",
            route=CREATE,
            why="the as-sent limit applies to a create body",
        ),
        # --- session fields: the visitor, errors, page views ---------------------------
        e(
            "errors-above-event-count",
            lambda: batch(event(), extra=',"errors":2'),
            400,
            "invalid_errors",
            why="a batch holds at most as many errors as events",
        ),
        e(
            "errors-out-of-range-number",
            lambda: batch(event(), extra=',"errors":1e400'),
            400,
            "invalid_errors",
            why="not a whole number",
        ),
        e(
            "user-traits-3mib",
            lambda: batch(
                event(),
                extra=',"user":{"id":"u","traits":{' + ",".join(f'"k{i}":"{"v" * 500}"' for i in range(6000)) + "}}",
            ),
            400,
            "invalid_user",
            why="refused unread: longer than any valid user can be",
        ),
        e(
            "user-deep-nesting",
            lambda: batch(event(), extra=',"user":' + "[" * 100_000 + "]" * 100_000),
            400,
            "too_deep",
            why="nesting where an object is expected",
        ),
        e("user-id-empty", lambda: batch(event(), extra=',"user":{"id":""}'), 400, "invalid_user", why="1..256"),
        e(
            "errors-and-user-good",
            lambda: batch(event(), extra=',"errors":1,"user":{"id":"fuzz-user","traits":{"plan":"pro"}}'),
            202,
            None,
            why="a batch after identify(), with one console error",
        ),
        e(
            "create-user-traits-3mib",
            lambda: b'{"user":{"id":"u","traits":{"k":"' + b"v" * (3 * MIB) + b'"}}}',
            400,
            "invalid_user",
            route=CREATE,
            why="refused unread",
        ),
        e(
            "create-viewport-huge",
            lambda: b'{"viewport":{"width":1e308,"height":1}}',
            400,
            "invalid_viewport",
            route=CREATE,
            why="0..100000",
        ),
        e("create-view-float", lambda: b'{"view":1.5}', 400, "invalid_view", route=CREATE, why="whole ms"),
        e(
            "create-errors-without-batch",
            lambda: b'{"errors":1}',
            400,
            "invalid_errors",
            route=CREATE,
            why="no events, no errors",
        ),
        e(
            "create-session-fields-good",
            lambda: json.dumps(
                {
                    "id": "fuzz-session-1",
                    "view": 1_700_000_000_000,
                    "referrer": "https://r.test/",
                    "viewport": {"width": 1280, "height": 720},
                    "user": {"id": "u", "traits": {"a": 1, "b": None, "c": True, "d": "x"}},
                }
            ).encode(),
            201,
            None,
            route=CREATE,
            why="every session field at once",
        ),
        e("create-invalid-utf8", lambda: b'{"title":"\xff"}', 400, "invalid_json", route=CREATE, why="not UTF-8"),
        e("create-top-level-array", lambda: b"[]", 400, "invalid_json", route=CREATE, why="not an object"),
        e(
            "create-gzip-members-with-batch",
            lambda: members_at(b'{"id":"fuzz-gzip-create","seq":0,"events":[' + event().encode() + b"]}", 7, 30),
            201,
            None,
            route=CREATE,
            headers=GZIP,
            why="a multi-member gzip create with its first batch",
        ),
    ]


def file_name(item: dict[str, Any], body: bytes) -> str:
    return f"{item['name']}.bin.gz" if len(body) > PACK_ABOVE else f"{item['name']}.bin"


def build() -> tuple[dict[str, bytes], bytes]:
    """Every file of the corpus by name, and the index."""
    files: dict[str, bytes] = {}
    index = []
    for item in entries():
        body = item["_make"]()
        name = file_name(item, body)
        assert name not in files, name
        files[name] = gz(body, level=9) if name.endswith(".gz") else body
        index.append(
            {
                **{k: v for k, v in item.items() if not k.startswith("_")},
                "file": f"corpus/{name}",
                "bytes": len(body),
            }
        )
    return files, (json.dumps(index, indent=1, ensure_ascii=True) + "\n").encode()


def main(argv: list[str]) -> int:
    files, index = build()
    if "--check" in argv:
        stale = [n for n, data in files.items() if (CORPUS_DIR / n).read_bytes() != data] if CORPUS_DIR.exists() else []
        extra = sorted({p.name for p in CORPUS_DIR.glob("*")} - set(files)) if CORPUS_DIR.exists() else []
        if not CORPUS_DIR.exists() or stale or extra or INDEX.read_bytes() != index:
            print(f"corpus is stale: {stale} {extra}", file=sys.stderr)
            return 1
        return 0
    CORPUS_DIR.mkdir(exist_ok=True)
    for old in CORPUS_DIR.glob("*"):
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        (CORPUS_DIR / name).write_bytes(data)
    INDEX.write_bytes(index)
    total = sum(len(d) for d in files.values())
    print(f"{len(files)} files, {total} bytes on disk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
