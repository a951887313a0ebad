#!/usr/bin/python3
"""GET one path and report how the server ended the connection, for
t/52-core-defects-a_spec.lua.

  defects_a_goaway.py PORT PATH [CAFILE [SENTFILE]]

Plain h2c (prior knowledge), or TLS with ALPN h2 verified against CAFILE
(server name "localhost") when CAFILE is given ("-" for h2c when SENTFILE
follows). SENTFILE, when given, is created once the request is sent (a
server can hold its loop until then). Reads until the server
closes (10 s at most). Prints one line per event of note:
  "goaway CODE LAST"   a GOAWAY, decoded (ConnectionTerminated)
  "response STATUS"    response headers
  "reset SID CODE"     RST_STREAM
  "eof"                the server closed the connection
  "error KIND DETAIL"  a TLS or protocol failure (e.g. ssl wrong version)
  "timeout"            nothing ended the connection within 10 s
"""
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    cafile = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    sentfile = sys.argv[4] if len(sys.argv) > 4 else None
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        print("alpn %s" % s.selected_alpn_protocol())
    else:
        s = raw
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", path),
                          (":scheme", "https" if cafile else "http"),
                          (":authority", "localhost:%d" % port)], end_stream=True)
    s.sendall(conn.data_to_send())
    if sentfile:
        open(sentfile, "w").close()
    deadline = time.time() + 10
    while True:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data = s.recv(65536)
        except socket.timeout:
            print("timeout")
            break
        except ssl.SSLError as e:
            print("error ssl %s" % (e.reason or e))
            break
        except OSError as e:
            print("error os %s" % e.__class__.__name__)
            break
        if not data:
            print("eof")
            break
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            print("error h2 %s" % e.__class__.__name__)
            break
        for ev in events:
            if isinstance(ev, h2.events.ConnectionTerminated):
                print("goaway %d %d" % (int(ev.error_code), ev.last_stream_id))
            elif isinstance(ev, h2.events.ResponseReceived):
                print("response %s" % dict(ev.headers).get(":status"))
            elif isinstance(ev, h2.events.StreamReset):
                print("reset %d %d" % (ev.stream_id, int(ev.error_code)))
        try:
            s.sendall(conn.data_to_send())
        except OSError:
            pass
        sys.stdout.flush()
    s.close()


if __name__ == "__main__":
    main()
