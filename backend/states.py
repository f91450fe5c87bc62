"""A server's states, as it reports them in every answer's ``sstate`` (SPEC §4).

In the core, not the wire: the pure rules (``rules.py``) decide on them and the
core must not depend on the wire layer.
"""

from __future__ import annotations

STARTING, RUNNING, SHUTTING_DOWN = "starting", "running", "shutting-down"
