#!/usr/bin/python3
"""Slow peers for the timeout tests: N connections that each send bytes
too slowly (or not at all), and note when the server closed them.

  slowloris.py PORT MODE N INTERVAL DURATION

MODE:
  silent      connect, send nothing (plaintext or TLS: no ClientHello)
  preface     the HTTP/2 client preface, one byte per INTERVAL seconds
  h2headers   the preface and SETTINGS, then a HEADERS frame (a request),
              one byte per INTERVAL
  h2cont      the preface and SETTINGS, a HEADERS frame without
              END_HEADERS, then a CONTINUATION frame every INTERVAL, never
              the last one
  h2idle      the preface and SETTINGS, then nothing (no stream)
  h1head      an HTTP/1.1 request head, one byte per INTERVAL
  h1idle      one whole HTTP/1.1 request; the response is read; then
              nothing (keep-alive)
Every connection is opened at the start. The script stops once all are
closed by the server, or after DURATION seconds. Output, one line:
  opened=N closed=C goaway=G status408=S min=SECONDS max=SECONDS
where min and max are the first and the latest close, in seconds after
the connection was opened, and goaway
counts connections that got an HTTP/2 GOAWAY before their close.
"""
import selectors
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


CONTINUATION = b"\x00\x00\x00\x09\x00\x00\x00\x00\x01"  # empty, stream 1


def request_block(port):
    import hpack
    return hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"),
                                   (":path", "/"),
                                   (":authority", "127.0.0.1:%d" % port),
                                   ("user-agent", "slowloris")])


class Conn:
    def __init__(self, port, mode):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.opened = time.monotonic()
        self.sock.setblocking(False)
        self.mode = mode
        self.buf = b""
        self.closed_at = None
        self.goaway = False
        self.status408 = False
        self.pos = 0
        self.forever = False
        head, trickle = b"", b""
        block = request_block(port) if mode in ("h2headers", "h2cont") else b""
        if mode == "preface":
            trickle = PREFACE + SETTINGS
        elif mode == "h2headers":
            head = PREFACE + SETTINGS
            trickle = frame(1, 0x5, 1, block)
        elif mode == "h2cont":
            head = PREFACE + SETTINGS + frame(1, 0x1, 1, block[:1])
            trickle = CONTINUATION
            self.step = len(CONTINUATION)
            self.forever = True
        elif mode == "h2idle":
            head = PREFACE + SETTINGS
        elif mode == "h1head":
            trickle = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"x-slow: 1\r\n" * 1000
        elif mode == "h1idle":
            head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        self.trickle = trickle
        if not hasattr(self, "step"):
            self.step = 1
        if head:
            self.send(head)

    def send(self, data):
        try:
            self.sock.send(data)
        except OSError:
            pass

    def tick(self):
        if self.closed_at is None and self.forever:
            self.send(self.trickle)
        elif self.closed_at is None and self.pos < len(self.trickle):
            self.send(self.trickle[self.pos:self.pos + self.step])
            self.pos += self.step

    def readable(self, now):
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.closed_at = now
            return
        self.buf += data
        if self.mode == "h1idle" or self.mode == "h1head":
            if b" 408 " in self.buf:
                self.status408 = True
            return
        # HTTP/2 frames from the server: look for a GOAWAY
        while len(self.buf) >= 9:
            length = struct.unpack(">I", b"\x00" + self.buf[:3])[0]
            if len(self.buf) < 9 + length:
                break
            if self.buf[3] == 7:
                self.goaway = True
            self.buf = self.buf[9 + length:]


def main():
    port, mode, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    interval, duration = float(sys.argv[4]), float(sys.argv[5])
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    conns = []
    for _ in range(n):
        c = Conn(port, mode)
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    next_tick = start + interval
    while time.monotonic() - start < duration:
        if all(c.closed_at is not None for c in conns):
            break
        timeout = max(0.0, next_tick - time.monotonic())
        for key, _ in sel.select(timeout):
            c = key.data
            c.readable(time.monotonic() - c.opened)
            if c.closed_at is not None:
                sel.unregister(c.sock)
                c.sock.close()
        if time.monotonic() >= next_tick:
            next_tick += interval
            for c in conns:
                c.tick()
    closed = [c.closed_at for c in conns if c.closed_at is not None]
    print("opened=%d closed=%d goaway=%d status408=%d min=%.3f max=%.3f" % (
        len(conns), len(closed), sum(1 for c in conns if c.goaway),
        sum(1 for c in conns if c.status408), min(closed) if closed else -1,
        max(closed) if closed else -1))
    for c in conns:
        if c.closed_at is None:
            c.sock.close()


if __name__ == "__main__":
    main()
