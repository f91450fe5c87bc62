"""The server process: asyncio server, sessions, db worker, the standby's forking side.

Uses db, wire and the core; never the client side.
"""
