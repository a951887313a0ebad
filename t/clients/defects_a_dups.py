#!/usr/bin/python3
"""Duplicate header fields by HPACK reference, for t/52-core-defects-a_spec.lua.

  defects_a_dups.py PORT TRIALS SIZE N [N ...]

One h2c connection. For each trial and each N: GET /mark (a cheap request
the server timestamps), then GET /dup/N whose header block carries
"x-dup: <SIZE bytes>" once as a literal with incremental indexing (it
becomes dynamic-table entry 62; SIZE + 37 must fit the default 4096-byte
table) followed by N-1 references to it (the one-byte indexed
representation 0xbe). Each request waits for its answer.
The blocks are hand-encoded, so that they are exactly this.
Output: one line per /dup request, "dup N STATUS BODY" (or "dup N rst CODE"),
then "done"; exit status 1 when the connection failed.
"""
import socket
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
VALUE = b""  # set from SIZE


def frame(ftype, flags, sid, payload):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            sid.to_bytes(4, "big") + payload)


def hint(value, prefix_bits, first):
    """HPACK integer with a |prefix_bits| prefix; |first| holds the flags."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_no_index(name_index, value):
    return hint(name_index, 4, 0x00) + hint(len(value), 7, 0x00) + value


def base_block(port, path):
    # :method GET (2), :scheme http (6), then :path and :authority literals
    return (b"\x82\x86" + literal_no_index(4, path.encode()) +
            literal_no_index(1, ("127.0.0.1:%d" % port).encode()))


def dup_block(port, n):
    name = b"x-dup"
    block = base_block(port, "/dup/%d" % n)
    # literal with incremental indexing, new name: dynamic entry 62
    block += b"\x40" + hint(len(name), 7, 0) + name + hint(len(VALUE), 7, 0) + VALUE
    block += b"\xbe" * (n - 1)
    return block


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buf = b""
        self.sock.sendall(PREFACE + frame(4, 0, 0, b""))

    def frames(self):
        while True:
            while len(self.buf) >= 9:
                length = int.from_bytes(self.buf[0:3], "big")
                if len(self.buf) < 9 + length:
                    break
                ftype, flags = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload = self.buf[9:9 + length]
                self.buf = self.buf[9 + length:]
                yield ftype, flags, sid, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("connection closed by the server")
            self.buf += chunk

    def request(self, sid, block):
        """Sends a HEADERS (END_STREAM|END_HEADERS); returns (status, body)."""
        self.sock.sendall(frame(1, 0x5, sid, block))
        body, status = b"", "none"
        for ftype, flags, fsid, payload in self.frames():
            if ftype == 4 and not flags & 1:
                self.sock.sendall(frame(4, 1, 0, b""))
            elif ftype == 6 and not flags & 1:
                self.sock.sendall(frame(6, 1, 0, payload))
            elif ftype == 7:
                code = int.from_bytes(payload[4:8], "big")
                raise SystemExit("GOAWAY code %d" % code)
            elif fsid != sid:
                continue
            elif ftype == 3:
                return "rst", str(int.from_bytes(payload[0:4], "big"))
            elif ftype == 1:
                block = payload
                if flags & 0x8:  # PADDED
                    block = block[1:len(block) - block[0]]
                if flags & 0x20:  # PRIORITY
                    block = block[5:]
                # :status 200 is static entry 8, indexed: 0x88
                status = "200" if block[:1] == b"\x88" else "status?"
                if flags & 1:
                    return status, body.decode("latin-1")
            elif ftype == 0:
                body += payload
                if payload:  # give the windows back
                    inc = len(payload).to_bytes(4, "big")
                    self.sock.sendall(frame(8, 0, 0, inc) + frame(8, 0, sid, inc))
                if flags & 1:
                    return status, body.decode("latin-1")


def main():
    global VALUE
    port, trials, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    VALUE = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    sizes = [int(a) for a in sys.argv[4:]]
    c = Conn(port)
    sid = 1
    deadline = time.time() + 60
    for _ in range(trials):
        for n in sizes:
            if time.time() > deadline:
                raise SystemExit("timeout")
            c.request(sid, base_block(port, "/mark"))
            sid += 2
            status, body = c.request(sid, dup_block(port, n))
            sid += 2
            print("dup %d %s %s" % (n, status, body))
            sys.stdout.flush()
    print("done")


if __name__ == "__main__":
    main()
