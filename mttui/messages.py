"""Messages the monitor's threads post to the UI thread.

Two kinds:

- *Look again* (``RegistryChanged``): no payload. The data is read by a
  worker and handed over as an immutable snapshot, so two pending ones are
  interchangeable and the queue keeps at most one (``can_replace``).
- *Results* (the dataclasses below): a thread worker posts one as its last
  step, carrying its frozen result. Each has its own ``on_<name>`` handler, so a
  result is routed by its type, never by a worker's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from backend.client.launcher import LaunchResult
from mttui.facts import DetailData
from mttui.model import Snapshot
from mttui.tasks import Outcome, PingOne, PingRound
from mttui.traffic import StatsRound


class RegistryChanged(Message):
    """Something in ``.servinfo/`` (or the area, before it exists) changed."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RegistryChanged)


# Plain (not frozen) dataclasses: Message.__init__, run from __post_init__,
# sets attributes of its own. The payloads themselves are immutable.


@dataclass
class SnapshotRead(Message):
    """The rescan worker read ``.servinfo/``."""

    snapshot: Snapshot


@dataclass
class PingsDone(Message):
    """The background ping worker pinged every registration once."""

    result: PingRound


@dataclass
class PingOneDone(Message):
    """``p``: one server was pinged on request."""

    result: PingOne


@dataclass
class ActionDone(Message):
    """``s``/``R``/``x``: stop, restart or prune of one server or a marked set
    finished; one outcome per server, shown as ONE notification."""

    action: str  # stop | restart | prune
    outcomes: tuple[Outcome, ...]


@dataclass
class ActionFailed(Message):
    """A worker raised: ``action`` (its name) failed with ``error`` (one line).

    The app shows it as one error notification and carries on; an events pane
    may list it too (it bubbles to the app like every result)."""

    action: str
    error: str


@dataclass
class StartDone(Message):
    """``n``: a start request for ``dbfname`` finished (started or declined)."""

    dbfname: str
    launch: LaunchResult


@dataclass
class DetailGathered(Message, bubble=False):
    """The detail screen's facts (None: the registration is gone); for that screen only."""

    data: DetailData | None


@dataclass
class LogRead(Message, bubble=False):
    """The log screen read its file's last lines; for that screen only."""

    lines: list[str]


@dataclass
class StatsRead(Message):
    """The stats worker read every server's counters (traffic columns and graphs)."""

    result: StatsRound


@dataclass
class EventsArrived(Message):
    """The events worker read events from ``logs/events.jsonl``, oldest first."""

    events: tuple[dict[str, Any], ...]
