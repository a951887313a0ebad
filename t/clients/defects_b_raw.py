#!/usr/bin/python3
"""A raw HTTP/1.1 client for t/53-core-defects-b_spec.lua: sends bytes as
they are and reads responses until it has N of them, the server closes, or
SECS pass without the answers. Every read is bounded.

  defects_b_raw.py PORT HEX SECS N

Output: one line per final response (1xx are skipped, a 101 is reported):
  "response STATUS LENGTH BODY" (BODY with \\r \\n escaped), then the last
line: "done AFTER" (N responses), "eof AFTER" (the server closed),
"reset AFTER" (connection reset) or "timeout AFTER"; AFTER in seconds.
"""
import socket
import sys
import time

port, data, secs, want = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
t0 = time.time()
s = socket.create_connection(("127.0.0.1", port), timeout=secs)
s.sendall(data)
buf = b""
state = "timeout"
got = 0


def esc(b):
    return b.decode("latin-1").replace("\r", "\\r").replace("\n", "\\n")


def fill():
    """Reads more; False when the connection ended or time is up."""
    global buf, state
    left = secs - (time.time() - t0)
    if left <= 0:
        state = "timeout"
        return False
    s.settimeout(left)
    try:
        c = s.recv(65536)
    except socket.timeout:
        state = "timeout"
        return False
    except ConnectionResetError:
        state = "reset"
        return False
    if not c:
        state = "eof"
        return False
    buf += c
    return True


def parse():
    """One response from buf (reading more as needed): (status, body) or None."""
    global buf
    while b"\r\n\r\n" not in buf:
        if not fill():
            return None
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        fields[k.strip().lower()] = v.strip()
    if 100 <= status < 200 and status != 101:
        return (status, None)
    if status in (101, 204, 304):
        return (status, b"")
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        body = b""
        while True:
            while b"\r\n" not in buf:
                if not fill():
                    return None
            size, buf = buf.split(b"\r\n", 1)
            n = int(size.split(b";")[0], 16)
            if n == 0:
                while b"\r\n\r\n" not in b"\r\n" + buf:
                    if not fill():
                        return None
                _, buf = (b"\r\n" + buf).split(b"\r\n\r\n", 1)
                return (status, body)
            while len(buf) < n + 2:
                if not fill():
                    return None
            body += buf[:n]
            buf = buf[n + 2:]
    if b"content-length" in fields:
        n = int(fields[b"content-length"])
        while len(buf) < n:
            if not fill():
                return None
        body, buf = buf[:n], buf[n:]
        return (status, body)
    while fill():  # the body runs to the close
        pass
    body, buf = buf, b""
    return (status, body)


while got < want:
    r = parse()
    if r is None:
        break
    status, body = r
    if body is None:
        continue
    print("response %d %d %s" % (status, len(body), esc(body)))
    got += 1
    if status == 101:
        break
else:
    state = "done"
print("%s %.3f" % (state, time.time() - t0))
sys.stdout.flush()
