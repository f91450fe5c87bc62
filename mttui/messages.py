"""Messages posted to the app from other threads.

They carry no payload: a message only says "look again"; the data itself is
read by a worker and handed over as an immutable snapshot. That makes any two
pending messages interchangeable, so the queue keeps at most one of each.
"""

from __future__ import annotations

from textual.message import Message


class RegistryChanged(Message):
    """Something in ``.servinfo/`` (or the area, before it exists) changed."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RegistryChanged)


class WatchFallback(Message):
    """The observer had to fall back to polling (e.g. inotify limits)."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, WatchFallback)
