#!/usr/bin/env python3
# N HTTP/1.1 requests, each on its own connection, opened as fast as one
# process can; after N/2 connects, SIG goes to the pid in PIDFILE. Prints
# how many got their 200 "ok". What bench/RESULTS.md (Workers) measured the
# loss of a reload with: the server answers "ok\n" with allowHTTP1.
#   python3 bench/flood.py PORT N PIDFILE SIGTERM|SIGHUP
import os, selectors, signal, socket, sys, time

port, n, pidfile, sig = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
sel = selectors.DefaultSelector()
req = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
socks = {}
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks[s] = b""
    sel.register(s, selectors.EVENT_WRITE)
    if i == n // 2:
        os.kill(int(open(pidfile).read()), getattr(signal, sig))
ok = bad = 0
deadline = time.time() + 20
while socks and time.time() < deadline:
    for key, ev in sel.select(0.5):
        s = key.fileobj
        try:
            if ev & selectors.EVENT_WRITE:
                s.send(req)
                sel.modify(s, selectors.EVENT_READ)
                continue
            d = s.recv(65536)
        except OSError:
            d = None
        if d:
            socks[s] += d
            continue
        if socks[s].startswith(b"HTTP/1.1 200") and b"ok\n" in socks[s]:
            ok += 1
        else:
            bad += 1
        sel.unregister(s)
        s.close()
        del socks[s]
print("ok", ok, "failed", bad + len(socks))
