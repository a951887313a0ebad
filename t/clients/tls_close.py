#!/usr/bin/python3
"""How the server ends a TLS connection: sends |mode|'s bytes, then reads
until the end and prints one line:
  close_notify   the server sent TLS close_notify before its FIN
  truncated      FIN without close_notify (Python's SSLEOFError)
  error: ...     anything else

  tls_close.py PORT h2|h1|h2-goaway
"""
import socket
import ssl
import sys

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    return (len(payload).to_bytes(3, "big") + bytes([ftype, flags]) +
            sid.to_bytes(4, "big") + payload)


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # Debian's Python turns this on by default: a truncation would pass
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0x80)
    ctx.set_alpn_protocols(["http/1.1"] if mode == "h1" else ["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    if mode == "h1":
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    else:
        s.sendall(PREFACE + frame(4, 0, 0) + frame(4, 1, 0))
        if mode == "h2-goaway":
            s.sendall(frame(7, 0, 0, (0).to_bytes(4, "big") + (0).to_bytes(4, "big")))
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                print("close_notify bytes=%d" % got)
                return
            got += len(d)
    except ssl.SSLEOFError:
        print("truncated bytes=%d" % got)
    except Exception as e:  # noqa: BLE001 - reported to the spec
        print("error: %r bytes=%d" % (e, got))


main()
