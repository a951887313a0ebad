#!/usr/bin/python3
"""Floods an HTTP/1.1 connection whose first request is still unanswered,
for t/52-core-defects-a_spec.lua.

  defects_a_flood.py PORT MODE MAXBYTES SECS STALL

MODE
  pipeline   GET /first, then pipelined "GET /p" requests, back to back
  bytes      GET /first, then a flood of 'x' bytes (not a valid request)
  upgrade    an RFC 7540 3.2 upgrade request without "Connection: Upgrade"
             (Upgrade: h2c and HTTP2-Settings only), then pipelined GETs
Sends as fast as the socket takes it (non-blocking, select) until MAXBYTES
are out, SECS have passed, or the socket took nothing for STALL seconds
(the server stopped reading: TCP pushes back). Reads and discards whatever
the server sends meanwhile. Prints "sent N why" (why: limit, deadline,
stalled, closed) and "received M".
"""
import select
import socket
import sys
import time

HEAD = {
    "pipeline": b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n",
    "bytes": b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n",
    "upgrade": (b"GET /first HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
                b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
}


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    limit, secs, stall = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    if mode == "bytes":
        unit = b"x" * 65536
    else:
        req = b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n"
        unit = req * (65536 // len(req))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(HEAD[mode])
    s.setblocking(False)
    sent, received, why = 0, 0, "deadline"
    start = time.time()
    last_progress = start
    pending = memoryview(unit)
    while True:
        now = time.time()
        if sent >= limit:
            why = "limit"
            break
        if now - start >= secs:
            why = "deadline"
            break
        if now - last_progress >= stall:
            why = "stalled"
            break
        r, w, _ = select.select([s], [s], [], 0.1)
        if r:
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                why = "closed"
                break
            if data == b"":
                why = "closed"
                break
            if data:
                received += len(data)
        if w:
            try:
                n = s.send(pending)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                why = "closed"
                break
            if n > 0:
                sent += n
                last_progress = time.time()
                pending = pending[n:]
                if len(pending) == 0:
                    pending = memoryview(unit)
    print("sent %d %s" % (sent, why))
    print("received %d" % received)
    sys.stdout.flush()
    s.close()


if __name__ == "__main__":
    main()
