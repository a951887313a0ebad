#!/usr/bin/python3
"""Opens many HTTP/2 streams that stay idle, for t/81-h2spec_spec.lua's
bounds: on each of CONNS connections, STREAMS request HEADERS (POST, no
END_STREAM, no body ever follows), as fast as the socket takes them.

  idle_streams.py PORT CONNS STREAMS SECS MODE [reconnect]

MODE
  ack     the server's SETTINGS are acknowledged: its maxConcurrentStreams
          is in force, a stream past it is a connection error
  noack   they never are: the limit is only pending, streams past it are
          refused one by one
  mixed   even connections ack, odd ones do not

Reads everything the server sends meanwhile; keeps every connection open
(idle streams and all) until SECS have passed or the server closed it;
with "reconnect", a connection the server closed is replaced by a new one
until SECS have passed, so CONNS attack at any time.
Prints one line per connection slot (counts summed over its connections):
  "conn I mode=M conns=K sent=N refused=R rst_protocol=P rst_other=O goaway=CODE:COUNT,...|- eof=0|1 max_streams=V|-"
(refused: RST_STREAM(REFUSED_STREAM); goaway: the codes of the server's
GOAWAYs, each with how many connections got it; eof: the last connection was closed by the server;
max_streams: SETTINGS_MAX_CONCURRENT_STREAMS it advertised).
"""
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# :method POST, :scheme http, :path /, :authority localhost (literal, not
# indexed: the same bytes fit every stream)
BLOCK = b"\x83\x86\x84\x01\x09localhost"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


class Conn:
    def __init__(self, i, port, ack, streams):
        self.i, self.ack, self.want = i, ack, streams
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setblocking(False)
        self.out = bytearray(PREFACE + frame(4, 0, 0))
        self.inbuf = b""
        self.next_id, self.sent = 1, 0
        self.refused = self.rst_protocol = self.rst_other = 0
        self.goaway, self.eof, self.max_streams = None, False, None
        self.acked = False

    def fill(self):
        # queue more HEADERS while little is waiting
        if self.ack and self.max_streams is None and not self.acked:
            return  # the limit is in force first: ACK, then the streams
        while len(self.out) < 65536 and self.sent < self.want and self.goaway is None:
            self.out += frame(1, 4, self.next_id, BLOCK)  # END_HEADERS only
            self.next_id += 2
            self.sent += 1

    def on_frame(self, ftype, flags, sid, payload):
        if ftype == 4 and not flags & 1:
            for off in range(0, len(payload) - 5, 6):
                ident, value = struct.unpack(">HI", payload[off:off + 6])
                if ident == 3:
                    self.max_streams = value
            if self.ack:
                self.out += frame(4, 1, 0)
                self.acked = True
        elif ftype == 3:
            code = struct.unpack(">I", payload[:4])[0]
            if code == 7:
                self.refused += 1
            elif code == 1:
                self.rst_protocol += 1
            else:
                self.rst_other += 1
        elif ftype == 7:
            self.goaway = struct.unpack(">I", payload[4:8])[0]
        elif ftype == 6 and not flags & 1:
            self.out += frame(6, 1, 0, payload)

    def read(self):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.eof = True
            return
        if not data:
            self.eof = True
            return
        self.inbuf += data
        while len(self.inbuf) >= 9:
            length = struct.unpack(">I", b"\0" + self.inbuf[:3])[0]
            if len(self.inbuf) < 9 + length:
                break
            ftype, flags = self.inbuf[3], self.inbuf[4]
            sid = struct.unpack(">I", self.inbuf[5:9])[0] & 0x7fffffff
            self.on_frame(ftype, flags, sid, self.inbuf[9:9 + length])
            self.inbuf = self.inbuf[9 + length:]

    def write(self):
        try:
            n = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.eof = True
            return
        del self.out[:n]


class Slot:
    def __init__(self, i, port, ack, streams):
        self.i, self.port, self.ack, self.streams = i, port, ack, streams
        self.done = []
        self.conn = Conn(i, port, ack, streams)

    def renew(self):
        self.conn.sock.close()  # its counts stay; select() takes < 1024 fds
        self.done.append(self.conn)
        self.conn = Conn(self.i, self.port, self.ack, self.streams)

    def report(self):
        cs = self.done + [self.conn]
        counts = {}
        for c in cs:
            if c.goaway is not None:
                counts[c.goaway] = counts.get(c.goaway, 0) + 1
        codes = ["%d:%d" % (k, counts[k]) for k in sorted(counts)]
        ms = sorted(set(str(c.max_streams) for c in cs if c.max_streams is not None))
        return ("conn %d mode=%s conns=%d sent=%d refused=%d rst_protocol=%d rst_other=%d goaway=%s eof=%d max_streams=%s"
                % (self.i, "ack" if self.ack else "noack", len(cs), sum(c.sent for c in cs),
                   sum(c.refused for c in cs), sum(c.rst_protocol for c in cs),
                   sum(c.rst_other for c in cs), ",".join(codes) or "-",
                   1 if self.conn.eof else 0, ",".join(ms) or "-"))


def main():
    port, nconns, streams = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    secs, mode = float(sys.argv[4]), sys.argv[5]
    reconnect = len(sys.argv) > 6 and sys.argv[6] == "reconnect"
    slots = []
    for i in range(nconns):
        ack = mode == "ack" or (mode == "mixed" and i % 2 == 0)
        slots.append(Slot(i, port, ack, streams))
    deadline = time.time() + secs
    while time.time() < deadline:
        if reconnect:
            for sl in slots:
                if sl.conn.eof:
                    try:
                        sl.renew()
                    except OSError:
                        pass
        live = [sl.conn for sl in slots if not sl.conn.eof]
        if not live:
            if reconnect:
                time.sleep(0.05)
                continue
            break
        for c in live:
            c.fill()
        wr = [c.sock for c in live if c.out]
        r, w, _ = select.select([c.sock for c in live], wr, [], 0.05)
        for c in live:
            if c.sock in r:
                c.read()
            if c.sock in w and not c.eof:
                c.write()
    for sl in slots:
        print(sl.report())
        sl.conn.sock.close()
    sys.stdout.flush()


main()
