#!/usr/bin/python3
"""A small HTTP/2 (h2c, prior knowledge) client on python3-h2 for the tests:
many streams on one connection, many connections at once, and peers that
misbehave in ways curl and nghttp never do.

  h2c.py streams PORT N           N concurrent GET /s/<i> on one connection
  h2c.py conns PORT N             N connections at once, one GET /c/<i> each
  h2c.py noread PORT BYTES SECS   POST BYTES to /noread; report what the
                                  flow-control windows let through
  h2c.py rst-after-headers PORT   open a stream, then RST_STREAM(CANCEL) it
  h2c.py download PORT PATH WINDOW
                                  GET with SETTINGS_INITIAL_WINDOW_SIZE =
                                  WINDOW, opening it only as bytes are read;
                                  prints "bytes N frames F maxframe M sha256 H"
  h2c.py get1 PORT PATH [name=value ...]   the same over HTTP/1.1 (raw
                                  socket, Connection: close), trailers too
  h2c.py get PORT PATH [name=value|name!=value ...]
                                  one GET with extra headers (!= sends the
                                  header never-indexed); prints "h name value
                                  [never]" per response header, then the body
Output: one line per response: "<path> <status> <body>" (body with \\n
escaped), or "sent <n>" for noread; exit status 0 unless the connection
failed.
"""
import socket
import sys
import time

import h2.config
import hpack
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                       validate_outbound_headers=False))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    return s, conn


def headers(port, path, method="GET"):
    return [(":method", method), (":path", path), (":scheme", "http"),
            (":authority", "127.0.0.1:%d" % port)]


def pump(s, conn, results, want, deadline):
    """Read until |want| streams ended; results: sid -> [status, body]."""
    done = set()
    while len(done) < want:
        if time.time() > deadline:
            raise SystemExit("timeout with %d of %d done" % (len(done), want))
        data = s.recv(65536)
        if not data:
            raise SystemExit("connection closed with %d of %d done" % (len(done), want))
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                results[ev.stream_id][0] = dict(ev.headers).get(":status")
            elif isinstance(ev, h2.events.DataReceived):
                results[ev.stream_id][1] += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done.add(ev.stream_id)
        s.sendall(conn.data_to_send())


def show(path, status, body):
    print("%s %s %s" % (path, status, body.decode("latin-1").replace("\n", "\\n")))


def streams(port, n):
    s, conn = connect(port)
    paths, results = {}, {}
    for i in range(n):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, headers(port, "/s/%d" % i), end_stream=True)
        paths[sid] = "/s/%d" % i
        results[sid] = [None, b""]
    s.sendall(conn.data_to_send())
    pump(s, conn, results, n, time.time() + 30)
    for sid in sorted(paths):
        show(paths[sid], results[sid][0], results[sid][1])
    s.close()


def conns(port, n):
    socks = []
    for i in range(n):
        s, conn = connect(port)
        conn.send_headers(1, headers(port, "/c/%d" % i), end_stream=True)
        s.sendall(conn.data_to_send())
        socks.append((s, conn, "/c/%d" % i))
    for s, conn, path in socks:
        results = {1: [None, b""]}
        pump(s, conn, results, 1, time.time() + 30)
        show(path, results[1][0], results[1][1])
        s.close()


def noread(port, total, secs):
    s, conn = connect(port)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, headers(port, "/noread", "POST"))
    s.sendall(conn.data_to_send())
    s.settimeout(0.2)
    sent, block = 0, b"x" * 16384
    deadline = time.time() + secs
    while sent < total and time.time() < deadline:
        window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
        if window > 0:
            chunk = block[:min(window, total - sent)]
            conn.send_data(sid, chunk)
            sent += len(chunk)
            s.sendall(conn.data_to_send())
            continue
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        conn.receive_data(data)
        s.sendall(conn.data_to_send())
    print("sent %d" % sent)
    s.close()


def rst_after_headers(port):
    s, conn = connect(port)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, headers(port, "/rst", "POST"))
    s.sendall(conn.data_to_send())
    time.sleep(0.2)
    conn.reset_stream(sid, 8)
    s.sendall(conn.data_to_send())
    # a second request on the same connection must still work
    sid2 = conn.get_next_available_stream_id()
    conn.send_headers(sid2, headers(port, "/after"), end_stream=True)
    s.sendall(conn.data_to_send())
    results = {sid2: [None, b""]}
    pump(s, conn, results, 1, time.time() + 10)
    show("/after", results[sid2][0], results[sid2][1])
    s.close()


def get(port, path, extra):
    s, conn = connect(port)
    hdrs = headers(port, path)
    if extra and extra[0].startswith(":method="):
        method = extra.pop(0).split("=", 1)[1]
        hdrs = [(":method", method), (":authority", "127.0.0.1:%d" % port)]
        if method != "CONNECT":
            hdrs += [(":path", path), (":scheme", "http")]
    for item in extra:
        if "!=" in item:
            k, v = item.split("!=", 1)
            hdrs.append(hpack.NeverIndexedHeaderTuple(k, v))
        else:
            k, v = item.split("=", 1)
            hdrs.append((k, v))
    conn.send_headers(1, hdrs, end_stream=True)
    s.sendall(conn.data_to_send())
    body, done = b"", False
    s.settimeout(10)
    while not done:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, (h2.events.ResponseReceived,
                               h2.events.InformationalResponseReceived)):
                for h in ev.headers:
                    never = isinstance(h, hpack.NeverIndexedHeaderTuple)
                    print("h %s %s%s" % (h[0], h[1], " [never]" if never else ""))
            elif isinstance(ev, h2.events.TrailersReceived):
                for h in ev.headers:
                    print("t %s %s" % (h[0], h[1]))
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                print("reset %d" % ev.error_code)
                done = True
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
        s.sendall(conn.data_to_send())
    sys.stdout.write(body.decode("latin-1"))
    s.close()


def download(port, path, window):
    import hashlib
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.local_settings = h2.settings.Settings(
        client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
    conn.initiate_connection()
    conn.send_headers(1, headers(port, path), end_stream=True)
    s.sendall(conn.data_to_send())
    digest, total, frames, biggest, done = hashlib.sha256(), 0, 0, 0, False
    deadline = time.time() + 60
    while not done and time.time() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.DataReceived):
                digest.update(ev.data)
                total += len(ev.data)
                frames += 1
                biggest = max(biggest, len(ev.data))
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        s.sendall(conn.data_to_send())
    print("bytes %d frames %d maxframe %d sha256 %s" % (total, frames, biggest, digest.hexdigest()))
    s.close()


def flood(port, kind, count):
    s, conn = connect(port)
    if kind == "ping":
        frame = bytes.fromhex("000008060000000000") + b"floodfld"
    else:
        frame = bytes.fromhex("000000040000000000")
    try:
        s.sendall(frame * count)
        s.settimeout(5)
        while True:
            data = s.recv(65536)
            if not data:
                print("closed by the server")
                break
    except socket.timeout:
        print("still open")
    except OSError as e:  # reset by the server while we were sending
        print("closed by the server (%s)" % e.__class__.__name__)


def get1(port, path, extra):
    method = "GET"
    hdrs = [("Host", "127.0.0.1:%d" % port)]
    body = b""
    if extra and extra[0].startswith(":method="):
        method = extra.pop(0).split("=", 1)[1]
    for item in extra:
        k, v = item.split("=", 1)
        hdrs.append((k, v))
    lines = ["%s %s HTTP/1.1" % (method, path)] + ["%s: %s" % kv for kv in hdrs]
    lines.append("Connection: close")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    text = data.decode("latin-1")
    # interim responses first (100, 103), then the final one
    while True:
        head, _, rest = text.partition("\r\n\r\n")
        status = int(head.split(" ", 2)[1])
        fields = head.split("\r\n")[1:]
        print("h :status %d" % status)
        for f in fields:
            k, _, v = f.partition(":")
            print("h %s %s" % (k.strip().lower(), v.strip()))
        text = rest
        if status >= 200:
            break
    if any(f.lower().startswith("transfer-encoding: chunked") for f in fields):
        out = ""
        while True:
            size, _, text = text.partition("\r\n")
            n = int(size, 16)
            if n == 0:
                for t in text.split("\r\n"):
                    if t:
                        k, _, v = t.partition(":")
                        print("t %s %s" % (k.strip().lower(), v.strip()))
                break
            out += text[:n]
            text = text[n + 2:]
        text = out
    sys.stdout.write(text)


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == "streams":
        streams(port, int(sys.argv[3]))
    elif cmd == "conns":
        conns(port, int(sys.argv[3]))
    elif cmd == "noread":
        noread(port, int(sys.argv[3]), float(sys.argv[4]))
    elif cmd == "download":
        download(port, sys.argv[3], int(sys.argv[4]))
    elif cmd == "flood":
        flood(port, sys.argv[3], int(sys.argv[4]))
    elif cmd == "get1":
        get1(port, sys.argv[3], sys.argv[4:])
    elif cmd == "get":
        get(port, sys.argv[3], sys.argv[4:])
    elif cmd == "rst-after-headers":
        rst_after_headers(port)
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
