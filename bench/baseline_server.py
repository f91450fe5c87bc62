"""The baseline: a minimal asyncio + msgpack server with the same framing.

It answers ``ping`` like ours and ``write`` by running the same sqlite
statement inline (autocommit, same pragmas), one transaction per request.
Run: ``python -m bench.baseline_server PORTFILE DBPATH``.
"""

import asyncio
import sqlite3
import struct
import sys

import msgpack

HDR = struct.Struct(">I")
META = {"sstate": "running", "sload": 0}


def main() -> None:
    portfile, dbpath = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(dbpath, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS tests (id INTEGER PRIMARY KEY, run_id INTEGER, testname TEXT,"
        " item_path TEXT DEFAULT '', state TEXT, status TEXT, event_time INTEGER,"
        " UNIQUE (run_id, testname, item_path))"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (n,) = HDR.unpack(await reader.readexactly(4))
                cmd, run_id, params, _meta = msgpack.unpackb(await reader.readexactly(n), raw=False)
                if cmd == "ping":
                    resp = ["ok", None, "baseline", META]
                else:
                    db.execute(
                        "INSERT OR IGNORE INTO tests (run_id, testname, item_path, state, status,"
                        " event_time) VALUES (?, ?, ?, 'NOT_STARTED', 'n/a', strftime('%s','now'))",
                        (run_id, params[0], params[1]),
                    )
                    resp = ["ok", None, True, META]
                body = msgpack.packb(resp)
                writer.write(HDR.pack(len(body)) + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        with open(portfile, "w") as f:
            f.write(str(server.sockets[0].getsockname()[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
