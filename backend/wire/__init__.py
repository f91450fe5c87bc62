"""The wire: framing, Request/Response, and the client transport. Uses only the core."""
