"""The baseline: a minimal asyncio + msgpack server with the same framing.

``ping`` is answered like ours. Any other command does the same sqlite work as
our server, inline on the event loop, one transaction per request: the same
schema and pragmas (``backend.db.store.connect``) and the same command handler.
So the ratio to it measures what our server adds (sessions, auth, the db
thread, group commit, savepoints), not a different amount of database work.
Run: ``python -m bench.baseline_server PORTFILE DB_DIR``.
"""

import asyncio
import struct
import sys
from pathlib import Path

import msgpack

from backend.db import api, store

HDR = struct.Struct(">I")
META = {"sstate": "running", "sload": 0}


def main() -> None:
    portfile, db_dir = sys.argv[1], Path(sys.argv[2])
    conns = {}  # dbfname -> connection

    def execute(cmd: str, run_id: int | None, params: list) -> object:
        dbfname = "main.db" if run_id is None else f"{run_id % 10}.db"
        if dbfname not in conns:
            conns[dbfname] = store.connect(db_dir / dbfname)
        conn = conns[dbfname]
        conn.execute("BEGIN IMMEDIATE")
        result = api.lookup(cmd).handler(conn, api.CallContext(run_id, dbfname, 10, db_dir), params)
        conn.execute("COMMIT")
        return result

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (n,) = HDR.unpack(await reader.readexactly(4))
                cmd, run_id, params, _meta = msgpack.unpackb(await reader.readexactly(n), raw=False)
                result = "baseline" if cmd == "ping" else execute(cmd, run_id, params)
                body = msgpack.packb(["ok", None, result, META])
                writer.write(HDR.pack(len(body)) + body)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
        port = str(server.sockets[0].getsockname()[1])
        Path(portfile).write_text(port)  # noqa: ASYNC240 - once, before serving
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
