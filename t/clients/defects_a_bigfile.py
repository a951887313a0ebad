#!/usr/bin/python3
"""A large download in flight while more requests use the same connection,
for t/52-core-defects-a_spec.lua.

  defects_a_bigfile.py PORT BIGPATH N

One h2c connection (python3-h2). The connection window is opened wide at
once; the stream window of GET BIGPATH is left at its initial 65535, so the
server has the rest of that body waiting while N GET /small/<i> follow one
after the other, each awaited. Then the big stream's window is opened and
its body read to the end. Prints
  "small OK REFUSED"    how many small requests got 200 / anything else
  "refused <i> <why>"   for each that did not get 200 (at most 5 lines)
  "big BYTES SHA256 HOW" the big body (HOW: ended, reset CODE, closed)
  "goaway CODE"         if the server sent one
Exit status 0 unless the connection failed to start.
"""
import hashlib
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events


def main():
    port, big_path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.increment_flow_control_window(2 ** 30)  # the connection's window

    def hdrs(path):
        return [(":method", "GET"), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % port)]

    conn.send_headers(1, hdrs(big_path), end_stream=True)
    s.sendall(conn.data_to_send())
    digest, big_bytes, big_how = hashlib.sha256(), 0, None
    state = {}  # sid -> [status, done, why]
    goaway = [None]
    deadline = time.time() + 60

    def pump():
        data = s.recv(65536)
        if not data:
            return False
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                if ev.stream_id in state:
                    state[ev.stream_id][0] = dict(ev.headers).get(":status")
            elif isinstance(ev, h2.events.DataReceived):
                if ev.stream_id == 1:
                    nonlocal_big(ev.data)
                else:
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id == 1:
                    big_done("ended")
                elif ev.stream_id in state:
                    state[ev.stream_id][1] = True
            elif isinstance(ev, h2.events.StreamReset):
                if ev.stream_id == 1:
                    big_done("reset %d" % int(ev.error_code))
                elif ev.stream_id in state:
                    state[ev.stream_id][1] = True
                    state[ev.stream_id][2] = "reset %d" % int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway[0] = int(ev.error_code)
        out = conn.data_to_send()
        if out:
            s.sendall(out)
        return goaway[0] is None

    big = {"bytes": 0, "how": None}

    def nonlocal_big(data):
        digest.update(data)
        big["bytes"] += len(data)

    def big_done(how):
        big["how"] = how

    ok, refused, lines = 0, 0, []
    alive = True
    for i in range(n):
        if not alive or time.time() > deadline:
            refused += n - i
            lines.append("refused %d connection gone" % i)
            break
        sid = conn.get_next_available_stream_id()
        state[sid] = [None, False, None]
        conn.send_headers(sid, hdrs("/small/%d" % i), end_stream=True)
        s.sendall(conn.data_to_send())
        while not state[sid][1] and alive and time.time() < deadline:
            alive = pump()
        st = state[sid]
        if st[0] == "200" and st[1] and st[2] is None:
            ok += 1
        else:
            refused += 1
            lines.append("refused %d %s" % (i, st[2] or "status %s" % st[0]))
    print("small %d %d" % (ok, refused))
    for line in lines[:5]:
        print(line)
    if alive and big["how"] is None:
        conn.increment_flow_control_window(2 ** 30, stream_id=1)
        s.sendall(conn.data_to_send())
        while big["how"] is None and alive and time.time() < deadline:
            alive = pump()
    print("big %d %s %s" % (big["bytes"], digest.hexdigest(), big["how"] or "closed"))
    if goaway[0] is not None:
        print("goaway %d" % goaway[0])
    s.close()


if __name__ == "__main__":
    main()
