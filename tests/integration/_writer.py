"""Child process of test_durability: unique writes through the client library.

    python _writer.py AREA TAG COUNT ACKFILE PACEFILE PACE

Writes ``set-var TAG-<i> TAG-<i>`` for i in 0..COUNT-1 on main.db with one
``Client`` (auto-start on, idempotency keys attached by the client). Each key
is appended to ACKFILE and fsync'd as soon as its write is acknowledged, before
the next write starts. While PACEFILE exists it sleeps PACE seconds between
writes, so the writes span the whole fault phase. A call that ends in
``NoServerError`` is not acknowledged; any other error is reported. Prints one
JSON summary line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

from backend.client.client import Client
from backend.errors import BackendError, NoServerError


def main(argv: list[str]) -> int:
    area, tag, count, ackfile, pacefile, pace = argv
    n, pause = int(count), float(pace)
    acked = no_server = 0
    errors: list[str] = []
    started = time.monotonic()
    fd = os.open(ackfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        with Client(area) as client:
            for i in range(n):
                if os.path.exists(pacefile):
                    time.sleep(pause)
                key = f"{tag}-{i:04d}"
                try:
                    client.call("set-var", key, key)
                except NoServerError as exc:
                    no_server += 1
                    errors.append(f"{key}: NoServerError: {exc}")
                    continue
                except BackendError as exc:
                    errors.append(f"{key}: {type(exc).__name__}: {exc}")
                    continue
                os.write(fd, (key + "\n").encode("ascii"))
                os.fsync(fd)
                acked += 1
    finally:
        os.close(fd)
    print(json.dumps({"tag": tag, "acked": acked, "no_server": no_server,
                      "errors": errors[:20], "seconds": round(time.monotonic() - started, 2)}),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
