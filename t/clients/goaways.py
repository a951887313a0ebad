#!/usr/bin/python3
"""Many short HTTP/2 connections that each end with the client's GOAWAY.

  goaways.py PORT N CODE [CONCURRENT]

Each connection sends the preface, an empty SETTINGS and GOAWAY(last
stream 0, CODE), then reads until the server closes (5 s at most).
CONCURRENT connections are open at a time (default 20). Prints one line:
  done=N eof=E
where eof counts connections the server closed within the 5 s.
"""
import selectors
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def goaway(code):
    return b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + struct.pack(">II", 0, code)


def main():
    port, n, code = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    concurrent = int(sys.argv[4]) if len(sys.argv) > 4 else 20
    sel = selectors.DefaultSelector()
    started = eof = 0
    live = {}
    while started < n or live:
        while started < n and len(live) < concurrent:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(PREFACE + SETTINGS + goaway(code))
            s.setblocking(False)
            live[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ)
            started += 1
        for key, _ in sel.select(0.1):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                eof += 1
                sel.unregister(s)
                del live[s]
                s.close()
        now = time.monotonic()
        for s, t0 in list(live.items()):
            if now - t0 > 5:
                sel.unregister(s)
                del live[s]
                s.close()
    print("done=%d eof=%d" % (started, eof))


if __name__ == "__main__":
    main()
