"""A server's states, as it reports them in every answer's ``sstate`` (SPEC §4).

In the core, not the wire: the pure rules (``rules.py``) decide on them and the
core must not depend on the wire layer.
"""

from __future__ import annotations

from typing import Final, Literal

ServerState = Literal["starting", "running", "shutting-down"]
STARTING: Final = "starting"
RUNNING: Final = "running"
SHUTTING_DOWN: Final = "shutting-down"

# How a server process exits. The supervisor (``serve``) tells a decline apart
# from a crash: a declined start (enough servers, wrong host) is not retried soon.
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_DECLINED: Final = 3
