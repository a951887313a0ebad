#!/usr/bin/python3
"""A raw WebSocket client for the tests: writes exactly the frames a
scenario asks for (valid or not) and prints what the server sends back.

  ws_raw.py h1|h2 PORT SCENARIO...

h1 speaks RFC 6455's HTTP/1.1 Upgrade over a plain socket; h2 speaks
RFC 8441 (an extended CONNECT stream) with raw HTTP/2 frames (hyperframe,
hpack). Each scenario opens a connection of its own and prints
"== NAME", then one line per event:
  HANDSHAKE STATUS [accept-ok|accept-bad]   (h2: SETTINGS 8=V first)
  FRAME op=N fin=0|1 masked=0|1 len=N data=REPR
  MSG text|binary REPR      a whole message (fragments joined)
  CLOSE CODE REASON         the server's close frame
  EOF | END_STREAM | RST CODE | TIMEOUT
"""
import base64
import hashlib
import os
import socket
import struct
import sys
import time

import hpack
from hyperframe.frame import (DataFrame, Frame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def out(*parts):
    print(" ".join(str(p) for p in parts), flush=True)


def frame(op, payload=b"", fin=True, mask=True, rsv=0, length=None):
    n = len(payload) if length is None else length
    b1 = (0x80 if fin else 0) | rsv | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b1, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b1, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b1, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


class H1:
    def __init__(self, port, path, version="13", variant=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: %s\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n"
               % (path, port, key, version))
        if variant == "noconnection":  # no Connection: Upgrade: no tunnel
            req = req.replace("Connection: Upgrade\r\n", "")
        elif variant == "http10":
            req = req.replace("HTTP/1.1", "HTTP/1.0")
        elif variant == "badkey":
            req = req.replace(key, "c2hvcnQ=")
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            c = self.sock.recv(65536)
            if not c:
                break
            head += c
        head, _, self.rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        fields = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            fields[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        ok = "accept-ok" if fields.get("sec-websocket-accept") == want else "accept-bad"
        out("HANDSHAKE", self.status, ok, "protocol=" + fields.get("sec-websocket-protocol", ""))

    def send(self, b):
        try:
            self.sock.sendall(b)
        except OSError:
            pass

    def recv(self):
        if self.rest:
            r, self.rest = self.rest, b""
            return r
        try:
            c = self.sock.recv(65536)
        except socket.timeout:
            return "TIMEOUT"
        except OSError:
            c = b""
        return c if c else "EOF"

    def end(self):
        pass


class H2:
    def __init__(self, port, path, version="13"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.enc, self.dec = hpack.Encoder(), hpack.Decoder()
        self.buf = b""
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" +
                          SettingsFrame(0, settings={4: 2**31 - 1}).serialize() +
                          WindowUpdateFrame(0, window_increment=2**31 - 1 - 65535).serialize())
        while True:
            f = self.frame()
            if f is None:
                out("HANDSHAKE EOF")
                return
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                out("SETTINGS 8=%d" % f.settings.get(8, 0))
                self.sock.sendall(SettingsFrame(0, flags=["ACK"]).serialize())
                break
        hdrs = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                (":path", path), (":authority", "127.0.0.1:%d" % port),
                ("sec-websocket-version", version), ("sec-websocket-protocol", "chat, superchat")]
        self.sock.sendall(HeadersFrame(1, data=self.enc.encode(hdrs), flags=["END_HEADERS"]).serialize())
        self.pending = []
        while True:
            f = self.frame()
            if f is None:
                out("HANDSHAKE EOF")
                return
            if isinstance(f, HeadersFrame):
                h = dict((k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                         for k, v in self.dec.decode(f.data))
                out("HANDSHAKE", h.get(":status"), "protocol=" + h.get("sec-websocket-protocol", ""))
                if "END_STREAM" in f.flags:
                    self.pending.append("END_STREAM")
                break
            if isinstance(f, RstStreamFrame):
                out("HANDSHAKE RST", f.error_code)
                return

    def frame(self):
        while True:
            if len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) >= 9 + length:
                    f.parse_body(memoryview(self.buf[9:9 + length]))
                    self.buf = self.buf[9 + length:]
                    if isinstance(f, PingFrame) and "ACK" not in f.flags:
                        self.sock.sendall(PingFrame(0, opaque_data=f.opaque_data, flags=["ACK"]).serialize())
                    return f
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                return "TIMEOUT"
            except OSError:
                c = b""
            if not c:
                return None
            self.buf += c

    def send(self, b):
        try:
            while b:  # the server's default window is 64 KiB: small DATA frames
                self.sock.sendall(DataFrame(1, data=b[:16384]).serialize())
                b = b[16384:]
        except OSError:
            pass

    def recv(self):
        if self.pending:
            return self.pending.pop(0)
        while True:
            f = self.frame()
            if f is None:
                return "EOF"
            if f == "TIMEOUT":
                return f
            if isinstance(f, DataFrame) and f.stream_id == 1:
                if "END_STREAM" in f.flags:
                    self.pending.append("END_STREAM")
                if f.data:
                    return f.data
                return self.pending.pop(0)
            if isinstance(f, RstStreamFrame) and f.stream_id == 1:
                return "RST %d" % f.error_code
            if isinstance(f, HeadersFrame) and "END_STREAM" in f.flags:
                return "END_STREAM"

    def end(self):
        try:
            self.sock.sendall(DataFrame(1, data=b"", flags=["END_STREAM"]).serialize())
        except OSError:
            pass


class Reader:
    """Parses the server's frames; prints each, and whole messages."""

    def __init__(self, t):
        self.t, self.buf, self.msg, self.op, self.done = t, b"", None, 0, False

    def next(self, verbose=True, until_close=False):
        """Reads up to the next message, control frame or end; returns the
        printed kind ("MSG", "CLOSE", "PING", "PONG" or an end)."""
        while True:
            while len(self.buf) >= 2:
                b1, b2 = self.buf[0], self.buf[1]
                n, hl = b2 & 0x7F, 2
                if n == 126:
                    if len(self.buf) < 4:
                        break
                    n, hl = struct.unpack("!H", self.buf[2:4])[0], 4
                elif n == 127:
                    if len(self.buf) < 10:
                        break
                    n, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
                masked = b2 & 0x80
                if masked:
                    hl += 4
                if len(self.buf) < hl + n:
                    break
                payload = self.buf[hl:hl + n]
                if masked:
                    key = self.buf[hl - 4:hl]
                    payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
                self.buf = self.buf[hl + n:]
                fin, op = b1 >> 7, b1 & 0x0F
                if verbose:
                    out("FRAME op=%d fin=%d masked=%d len=%d data=%r" % (op, fin, 1 if masked else 0, n, payload[:40]))
                if op == 8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else "none"
                    out("CLOSE", code, payload[2:].decode("utf-8", "replace"))
                    return "CLOSE"
                if op == 9:
                    out("PING", payload.decode("latin-1"))
                    return "PING"
                if op == 10:
                    out("PONG", payload.decode("latin-1"))
                    return "PONG"
                if op in (1, 2):
                    self.msg, self.op = payload, op
                else:
                    self.msg = (self.msg or b"") + payload
                if fin:
                    m = self.msg
                    self.msg = None
                    if self.op == 1:
                        out("MSG text", repr(m.decode("utf-8"))[:80], "len=%d" % len(m))
                    else:
                        out("MSG binary", repr(m)[:80], "len=%d" % len(m))
                    return "MSG"
            c = self.t.recv()
            if isinstance(c, str):
                out(c)
                return c
            self.buf += c

    def drain(self):
        """Everything up to the end of the transport (bounded)."""
        for _ in range(20):
            k = self.next()
            if k in ("EOF", "TIMEOUT") or k.startswith("RST"):
                return k
            if k == "END_STREAM":
                self.t.end()


def run(mode, port, name):
    out("==", name)
    path = {"toobig": "/small", "toobigfrag": "/small", "serverfrag": "/frag",
            "serverclose": "/bye", "boom": "/boom", "serverping": "/ping",
            "plain": "/plain", "refuse": "/refuse", "flood": "/lazy", "floodbytes": "/lazybytes", "events": "/events"}.get(name, "/ws")
    T = H1 if mode == "h1" else H2
    if mode == "h1":
        t = H1(port, path, "8" if name == "badversion" else "13", name)
    else:
        t = H2(port, path, "8" if name == "badversion" else "13")
    r = Reader(t)
    if name in ("badversion", "plain", "refuse", "noconnection", "http10", "badkey"):
        if mode == "h1":
            rest = t.rest
            while True:
                c = t.recv()
                if isinstance(c, str):
                    break
                rest += c
            out("BODY", repr(rest[:60]))
            out(c)
        return
    if name == "echo":
        t.send(frame(1, "héllo ☃".encode()))
        r.next()
        t.send(frame(2, bytes([0, 1, 2, 255])))
        r.next()
        big = b"y" * 70000  # a 64-bit length on the way back
        t.send(frame(2, big))
        r.next(verbose=False)
        t.send(frame(8, struct.pack("!H", 1000) + b"bye"))
        r.drain()
    elif name == "frag":
        # a text message in three fragments, a ping between them, and a
        # character split across two of them
        snow = "☃".encode()
        t.send(frame(1, b"ab" + snow[:1], fin=False))
        t.send(frame(9, b"in between"))
        t.send(frame(0, snow[1:], fin=False))
        t.send(frame(0, b"cd", fin=True))
        r.next()
        r.next()
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "serverfrag":
        t.send(frame(1, b"0123456789"))  # echoed in fragments of 4
        r.next()
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "unmasked":
        t.send(frame(1, b"hello", mask=False))
        r.drain()
    elif name == "badutf8":
        t.send(frame(1, b"ok\xff\xfe"))
        r.drain()
    elif name == "toobig":
        t.send(frame(2, b"", length=2000))  # the header only: no payload comes
        r.drain()
    elif name == "toobigfrag":
        t.send(frame(2, b"z" * 600, fin=False))
        t.send(frame(0, b"z" * 600, fin=True))
        r.drain()
    elif name == "badclose":
        t.send(frame(8, struct.pack("!H", 1005)))
        r.drain()
    elif name == "badreason":
        t.send(frame(8, struct.pack("!H", 1000) + b"\xc3("))
        r.drain()
    elif name == "nocode":
        t.send(frame(8, b""))
        r.drain()
    elif name == "rsv":
        t.send(frame(1, b"x", rsv=0x40))
        r.drain()
    elif name == "bigping":
        t.send(frame(9, b"p" * 126))
        r.drain()
    elif name == "orphan":
        t.send(frame(0, b"lost"))
        r.drain()
    elif name == "interleaved":
        t.send(frame(1, b"first", fin=False))
        t.send(frame(1, b"second"))
        r.drain()
    elif name == "serverclose":
        r.next()  # "soon"
        r.next()  # its close
        t.send(frame(8, struct.pack("!H", 4000)))
        r.drain()
    elif name == "boom":
        t.send(frame(1, b"explode"))
        r.drain()
    elif name == "serverping":
        r.next()  # the server's ping
        t.send(frame(10, b"hi"))
        r.next()  # "got pong hi"
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "flood":
        t.send(b"".join(frame(1, b"m%d" % i) for i in range(1, 201)))
        r.next()  # the server's count, once it took them all
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "floodbytes":
        t.send(b"".join(frame(1, b"m%d" % i + b"." * 398) for i in range(1, 11)))
        r.next()
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "events":
        t.send(frame(1, b"a"))
        r.next()
        t.send(frame(9, b"x"))
        r.next()
        r.next()
        t.send(frame(1, b"parts"))
        r.next()
        t.send(frame(8, struct.pack("!H", 1000)))
        r.drain()
    elif name == "vanish":
        t.send(frame(1, b"then gone"))
        r.next()
        t.sock.close()
        time.sleep(0.2)
        out("GONE")


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    for name in sys.argv[3:]:
        run(mode, port, name)


if __name__ == "__main__":
    main()
