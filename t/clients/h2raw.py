#!/usr/bin/python3
"""A raw HTTP/2 peer for the tests: sends exactly the frames a script asks
for (valid or not) and prints every frame it receives, one per line.

  h2raw.py PORT 'ACTION; ACTION; ...'

Actions (whitespace-separated words; numbers decimal):
  preface                    the client connection preface
  settings [ID=VALUE ...]    SETTINGS (ids by number)
  settings-ack               SETTINGS with ACK
  headers SID [end] [noend-headers] NAME=VALUE...
                             HEADERS with an HPACK block (our encoder state);
                             a plain GET is 'headers 1 end' (pseudo-headers
                             are filled in unless given); 'req' headers only
                             those given when the first one is 'raw'
  cont SID [end-headers] NAME=VALUE...   CONTINUATION
  data SID LENGTH [end] [pad=N]          DATA of LENGTH 'x' bytes
  ping [ack] [PAYLOAD8]      PING
  rst SID CODE               RST_STREAM
  window SID INCREMENT       WINDOW_UPDATE
  priority SID DEP WEIGHT    PRIORITY
  goaway LAST CODE           GOAWAY
  frame TYPE FLAGS SID HEX   any frame: type, flags, stream id, payload hex
  bytes HEX                  raw bytes
  wait SECONDS               read what arrives for that long (or until EOF)
  until NAME SID FLAGS SECS  read until a frame NAME on stream SID with all
                             of FLAGS set has arrived (at most SECS, or EOF)
  auto                       from now on, ACK every SETTINGS and PING received
  close                      close our side
Output lines: "TYPE stream=N flags=F key=value ...", e.g.
  SETTINGS stream=0 flags=0 3=100
  HEADERS stream=1 flags=4 :status=200 ...
  GOAWAY stream=0 flags=0 last=1 code=1 data=...
  EOF   when the server closed the connection.
"""
import socket
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame,
                              HeadersFrame, PingFrame, PriorityFrame,
                              RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NAMES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
         5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE",
         9: "CONTINUATION"}


class Peer:
    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 20
        self.buf = b""
        self.eof = False
        self.auto = False
        self.seen = []

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            print("SENDERR %s" % e.__class__.__name__)

    def block(self, sid, words):
        hdrs = []
        for w in words:
            k, v = w.split("=", 1)
            hdrs.append((k, v))
        return self.enc.encode(hdrs)

    def request_headers(self, words):
        given = [w.split("=", 1)[0] for w in words]
        if words and words[0] == "raw":
            return words[1:]
        base = []
        for k, v in ((":method", "GET"), (":scheme", "http"), (":path", "/"),
                     (":authority", "127.0.0.1:%d" % self.port)):
            if k not in given:
                base.append("%s=%s" % (k, v))
        return base + words

    def read_for(self, secs, done=lambda: False):
        deadline = time.time() + secs
        while time.time() < deadline and not self.eof and not done():
            self.sock.settimeout(max(0.01, deadline - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                print("EOF")
                break
            self.buf += chunk
            self.parse()
        sys.stdout.flush()

    def parse(self):
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            self.show(ftype, flags, sid, payload)
            if self.auto and ftype == 4 and not flags & 1:
                self.send(SettingsFrame(0, flags=["ACK"]).serialize())
            elif self.auto and ftype == 6 and not flags & 1:
                self.send(raw_frame(6, 1, 0, payload))

    def show(self, ftype, flags, sid, payload):
        name = NAMES.get(ftype, "TYPE%d" % ftype)
        self.seen.append((name, sid, flags))
        out = ["%s stream=%d flags=%d len=%d" % (name, sid, flags, len(payload))]
        if ftype == 4 and not flags & 1:
            for i in range(0, len(payload) - 5, 6):
                out.append("%d=%d" % (int.from_bytes(payload[i:i + 2], "big"),
                                      int.from_bytes(payload[i + 2:i + 6], "big")))
        elif ftype == 1:
            data = payload
            if flags & 0x8:
                pad = data[0]
                data = data[1:len(data) - pad]
                out.append("padded=%d" % pad)
            if flags & 0x20:
                data = data[5:]
            try:
                for k, v in self.dec.decode(data, raw=True):
                    out.append("%s=%s" % (k.decode("latin-1"), v.decode("latin-1")))
            except Exception as e:  # noqa: BLE001 - report any HPACK failure
                out.append("hpack-error=%s" % e.__class__.__name__)
        elif ftype == 0:
            if flags & 0x8:
                out.append("padded=%d" % payload[0])
        elif ftype == 3:
            out.append("code=%d" % int.from_bytes(payload[0:4], "big"))
        elif ftype == 7:
            out.append("last=%d" % (int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF))
            out.append("code=%d" % int.from_bytes(payload[4:8], "big"))
            out.append("data=%s" % payload[8:].decode("latin-1"))
        elif ftype == 6:
            out.append("payload=%s" % payload.hex())
        elif ftype == 8:
            out.append("incr=%d" % (int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF))
        print(" ".join(out))

    def run(self, action):
        w = action.split()
        if not w:
            return
        cmd, args = w[0], w[1:]
        if cmd == "preface":
            self.send(PREFACE)
        elif cmd == "settings":
            f = SettingsFrame(0)
            for a in args:
                k, v = a.split("=")
                f.settings[int(k)] = int(v)
            self.send(f.serialize())
        elif cmd == "settings-ack":
            self.send(SettingsFrame(0, flags=["ACK"]).serialize())
        elif cmd == "headers":
            sid = int(args[0])
            flags, words = [], []
            end_headers = True
            for a in args[1:]:
                if a == "end":
                    flags.append("END_STREAM")
                elif a == "noend-headers":
                    end_headers = False
                else:
                    words.append(a)
            if end_headers:
                flags.append("END_HEADERS")
            f = HeadersFrame(sid, flags=flags)
            f.data = self.block(sid, self.request_headers(words))
            self.send(f.serialize())
        elif cmd == "cont":
            sid = int(args[0])
            flags = ["END_HEADERS"] if "end-headers" in args else []
            f = ContinuationFrame(sid, flags=flags)
            f.data = self.block(sid, [a for a in args[1:] if a != "end-headers"])
            self.send(f.serialize())
        elif cmd == "data":
            sid, length = int(args[0]), int(args[1])
            flags = ["END_STREAM"] if "end" in args else []
            f = DataFrame(sid, flags=flags)
            f.data = b"x" * length
            for a in args[2:]:
                if a.startswith("pad="):
                    f.flags.add("PADDED")
                    f.pad_length = int(a[4:])
            self.send(f.serialize())
        elif cmd == "ping":
            ack = "ack" in args
            rest = [a for a in args if a != "ack"]
            f = PingFrame(0, flags=["ACK"] if ack else [])
            f.opaque_data = (rest[0].encode() if rest else b"h2raw-pg")
            self.send(f.serialize())
        elif cmd == "rst":
            f = RstStreamFrame(int(args[0]))
            f.error_code = int(args[1])
            self.send(f.serialize())
        elif cmd == "window":
            # built by hand: hyperframe refuses an increment of 0
            self.send(raw_frame(8, 0, int(args[0]), int(args[1]).to_bytes(4, "big")))
        elif cmd == "priority":
            f = PriorityFrame(int(args[0]))
            f.depends_on = int(args[1])
            f.stream_weight = int(args[2]) - 1
            self.send(f.serialize())
        elif cmd == "goaway":
            f = GoAwayFrame(0)
            f.last_stream_id = int(args[0])
            f.error_code = int(args[1])
            self.send(f.serialize())
        elif cmd == "frame":
            payload = bytes.fromhex(args[3]) if len(args) > 3 else b""
            self.send(raw_frame(int(args[0]), int(args[1]), int(args[2]), payload))
        elif cmd == "bytes":
            self.send(bytes.fromhex(args[0]))
        elif cmd == "wait":
            self.read_for(float(args[0]))
        elif cmd == "until":
            name, sid, mask = args[0], int(args[1]), int(args[2])
            self.read_for(float(args[3]), lambda: any(
                n == name and i == sid and f & mask == mask for n, i, f in self.seen))
        elif cmd == "auto":
            self.auto = True
        elif cmd == "close":
            self.sock.shutdown(socket.SHUT_WR)
        else:
            raise SystemExit("unknown action " + cmd)


def raw_frame(ftype, flags, sid, payload):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            sid.to_bytes(4, "big") + payload)


def main():
    peer = Peer(int(sys.argv[1]))
    for action in sys.argv[2].split(";"):
        peer.run(action.strip())
    peer.read_for(0.3)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
