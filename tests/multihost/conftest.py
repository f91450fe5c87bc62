"""Fixtures of the multi-host tests (the two-namespace "hosts")."""

from tests.multihost.netns import two_hosts

__all__ = ["two_hosts"]
