"""rrweb's numeric codes by name, as rrweb's own types spell them (``@rrweb/types``, ``rrweb-snapshot``).

The benchmarks build and read rrweb events; an event's ``type``, an incremental
event's ``data.source`` and a snapshot node's ``type`` are these numbers on the
wire. ``IntEnum`` members are ints, so they serialise and compare as the numbers do.
"""

from __future__ import annotations

from enum import IntEnum


class EventType(IntEnum):
    """An event's ``type``."""

    DomContentLoaded = 0
    Load = 1
    FullSnapshot = 2
    IncrementalSnapshot = 3
    Meta = 4
    Custom = 5
    Plugin = 6


class IncrementalSource(IntEnum):
    """An incremental snapshot's ``data.source``."""

    Mutation = 0
    MouseMove = 1
    MouseInteraction = 2
    Scroll = 3
    ViewportResize = 4
    Input = 5
    TouchMove = 6
    MediaInteraction = 7
    StyleSheetRule = 8
    CanvasMutation = 9
    Font = 10
    Log = 11
    Drag = 12
    StyleDeclaration = 13
    Selection = 14
    AdoptedStyleSheet = 15
    CustomElement = 16


class MouseInteractions(IntEnum):
    """A mouse interaction's ``data.type``."""

    MouseUp = 0
    MouseDown = 1
    Click = 2
    ContextMenu = 3
    DblClick = 4
    Focus = 5
    Blur = 6
    TouchStart = 7
    TouchMove_Departed = 8
    TouchEnd = 9
    TouchCancel = 10


class NodeType(IntEnum):
    """A serialised DOM node's ``type`` in a full snapshot or a mutation's ``adds``."""

    Document = 0
    DocumentType = 1
    Element = 2
    Text = 3
    CDATA = 4
    Comment = 5
