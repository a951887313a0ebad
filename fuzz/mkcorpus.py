#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (fuzz/corpus/TARGET/NAME):
a few valid conversations each, which the fuzzer mutates. Frames come
from python3-h2's hyperframe and hpack. Run: /usr/bin/python3
fuzz/mkcorpus.py [DIR] (DIR defaults to fuzz/corpus next to this file)."""
import base64
import os
import struct
import sys

from hpack import Encoder
from hyperframe.frame import (AltSvcFrame, ContinuationFrame, DataFrame,
                              GoAwayFrame, HeadersFrame, PingFrame,
                              PriorityFrame, PushPromiseFrame, RstStreamFrame,
                              SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class Conv:
    """One side's bytes of a conversation, with its own HPACK state."""

    def __init__(self):
        self.enc = Encoder()
        self.out = b""

    def add(self, frame):
        self.out += frame.serialize()
        return self

    def settings(self, **values):
        f = SettingsFrame(0)
        for k, v in values.items():
            f.settings[getattr(SettingsFrame, k.upper())] = v
        return self.add(f)

    def ack(self):
        return self.add(SettingsFrame(0, flags=["ACK"]))

    def headers(self, sid, pairs, end=False, split=0):
        block = self.enc.encode(pairs)
        flags = ["END_STREAM"] if end else []
        if split and len(block) > split:
            first, rest = block[:split], block[split:]
            self.add(HeadersFrame(sid, first, flags=flags))
            while rest:
                part, rest = rest[:split], rest[split:]
                self.add(ContinuationFrame(sid, part, flags=[] if rest else ["END_HEADERS"]))
            return self
        return self.add(HeadersFrame(sid, block, flags=flags + ["END_HEADERS"]))

    def data(self, sid, body, end=False, pad=0):
        f = DataFrame(sid, body, flags=(["END_STREAM"] if end else []) + (["PADDED"] if pad else []))
        if pad:
            f.pad_length = pad
        return self.add(f)

    def raw(self, ftype, flags, sid, payload):
        self.out += struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
            struct.pack(">I", sid) + payload
        return self


def req(method, path, *extra):
    return [(":method", method), (":scheme", "http"), (":authority", "fuzz"),
            (":path", path)] + list(extra)


def server_seeds():
    s = {}
    s["get"] = Conv().settings().headers(1, req("GET", "/"), end=True).out
    connect = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
               (":authority", "fuzz"), (":path", "/ws"), ("sec-websocket-version", "13")]
    s["websocket"] = (Conv().settings().ack().headers(1, connect).data(1, ws_frames()[:60])
                      .data(1, ws_frames()[60:]).out)
    s["post-body"] = (Conv().settings().headers(1, req("POST", "/echo", ("content-length", "11")))
                      .data(1, b"hello ").data(1, b"world", end=True).out)
    s["settings-ping"] = (Conv().settings(initial_window_size=1 << 20, max_frame_size=1 << 15,
                                          header_table_size=0, enable_push=0)
                          .ack().add(PingFrame(0, b"12345678"))
                          .add(WindowUpdateFrame(0, window_increment=1 << 20))
                          .headers(1, req("GET", "/ping"), end=True).out)
    long_headers = req("GET", "/", *[("x-h%d" % i, "v" * 40) for i in range(10)])
    s["continuation"] = Conv().settings().headers(1, long_headers, end=True, split=64).out
    s["trailer"] = (Conv().settings().headers(1, req("POST", "/echo"))
                    .data(1, b"body", pad=8).headers(1, [("x-trailer", "t")], end=True).out)
    s["chunks"] = (Conv().settings().headers(1, req("POST", "/chunks"))
                   .data(1, b"a" * 100).data(1, b"b" * 100).data(1, b"", end=True).out)
    s["big-window"] = (Conv().settings().headers(1, req("GET", "/big"), end=True)
                       .add(WindowUpdateFrame(0, window_increment=1 << 20))
                       .add(WindowUpdateFrame(1, window_increment=1 << 20)).out)
    s["push"] = Conv().settings(enable_push=1).headers(1, req("GET", "/push"), end=True).out
    s["rst-priority"] = (Conv().settings().add(PriorityFrame(3, depends_on=1, stream_weight=200))
                         .headers(1, req("GET", "/rst"), end=True)
                         .headers(3, req("POST", "/echo")).data(3, b"x")
                         .add(RstStreamFrame(3, error_code=8)).out)
    multi = Conv().settings()
    for i, p in enumerate(["/", "/info", "/err", "/nothing", "/goaway"]):
        multi.headers(1 + 2 * i, req("GET", p), end=True)
    s["multi"] = multi.out
    s["peer-goaway"] = (Conv().settings().headers(1, req("GET", "/destroy"), end=True)
                        .add(GoAwayFrame(0, last_stream_id=0, error_code=0, additional_data=b"bye")).out)
    s["bad-frames"] = (Conv().settings().raw(0xfe, 0, 0, b"unknown").raw(0x1, 0x5, 2, b"\x82")
                       .headers(1, [(":method", "GET"), (":path", "/")], end=True).out)
    return s


def ws_frame(op, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    n = len(payload)
    head = struct.pack("!BB", (0x80 if fin else 0) | op, (0x80 if mask else 0) | n) if n < 126 else \
        struct.pack("!BBH", (0x80 if fin else 0) | op, (0x80 if mask else 0) | 126, n)
    if not mask:
        return head + payload
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def ws_frames():
    """A WebSocket conversation (RFC 6455 frames, masked as a client's)."""
    return (ws_frame(1, b"hello") + ws_frame(1, b"frag", fin=False) + ws_frame(9, b"pp")
            + ws_frame(0, b"ment") + ws_frame(2, b"\x00\xff" * 100) + ws_frame(1, b"ping")
            + ws_frame(10, b"p") + ws_frame(1, b"close") + ws_frame(8, struct.pack("!H", 1000) + b"ok"))


def h1_seeds():
    s = {}
    s["get"] = b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n"
    s["post-length"] = b"POST /echo HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 11\r\n\r\nhello world"
    s["chunked-trailer"] = (b"POST /chunks HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n"
                            b"Trailer: x-t\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-t: 1\r\n\r\n")
    s["pipelined"] = (b"GET / HTTP/1.1\r\nHost: fuzz\r\n\r\n"
                      b"POST /echo HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 3\r\n\r\nabc"
                      b"GET /nothing HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n")
    s["expect-continue"] = (b"POST /continue HTTP/1.1\r\nHost: fuzz\r\nExpect: 100-continue\r\n"
                            b"Content-Length: 4\r\n\r\nbody")
    s["http10"] = b"GET /hints HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /big HTTP/1.0\r\n\r\n"
    s["errors"] = (b"GET /err HTTP/1.1\r\nHost: fuzz\r\n\r\n"
                   b"GET /destroy HTTP/1.1\r\nHost: fuzz\r\n\r\n")
    settings = SettingsFrame(0)
    settings.settings[SettingsFrame.INITIAL_WINDOW_SIZE] = 65535
    payload = base64.urlsafe_b64encode(settings.serialize_body()).rstrip(b"=")
    upgrade = (b"GET /echo HTTP/1.1\r\nHost: fuzz\r\nConnection: Upgrade, HTTP2-Settings\r\n"
               b"Upgrade: h2c\r\nHTTP2-Settings: " + payload + b"\r\n\r\n")
    s["upgrade-h2c"] = upgrade + PREFACE + Conv().settings().headers(3, req("GET", "/"), end=True).out
    s["preface-h2"] = PREFACE + Conv().settings().headers(1, req("GET", "/chunks"), end=True).out
    s["websocket"] = (b"GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      + ws_frames())
    s["bad-request"] = b"GET /\x01 HTTP/9.9\r\nContent-Length: -1\r\nTransfer-Encoding: chunked\r\n\r\n"
    # once a crash: a NUL in a value split h1.c's name/value list (an empty name)
    s["nul-in-value"] = (b"POST /cho HTTP/1.1\r\nHot ufszz:\r\nContent-L%ngth:\0POST /con,inueecho HTTP/1.1\r\n"
                         b"Hot ufszz:\r\nContent-L%ngth:\0POST /con,inue .\r\ng: chunked\r\nTraiier: x-t\r\n\r\n")
    return s


def resp(status, *extra):
    return [(":status", str(status))] + list(extra)


def client_seeds():
    # the client opens streams 1 (GET /), 3 (POST /echo), 5 (HEAD /h)
    s = {}
    s["responses"] = (Conv().settings().ack()
                      .headers(1, resp(200, ("content-type", "text/plain"))).data(1, b"hello", end=True)
                      .headers(3, resp(200)).data(3, b"hello world")
                      .headers(3, [("x-trailer", "1")], end=True)
                      .headers(5, resp(204), end=True).out)
    push = (Conv().settings().ack()
            .add(PushPromiseFrame(1, promised_stream_id=2,
                                  data=Encoder().encode(req("GET", "/pushed")), flags=["END_HEADERS"])))
    # the PUSH_PROMISE's block used its own encoder: keep the main one in step
    push.enc = Encoder()
    push.enc.encode(req("GET", "/pushed"))
    push.headers(1, resp(200)).headers(2, resp(200)).data(2, b"pushed", end=True) \
        .data(1, b"body", end=True).headers(3, resp(404), end=True).headers(5, resp(200), end=True)
    s["push"] = push.out
    s["goaway"] = (Conv().settings().ack().headers(1, resp(200), end=True)
                   .add(GoAwayFrame(0, last_stream_id=1, error_code=0)).out)
    s["altsvc-origin"] = (Conv().settings().ack()
                          .add(AltSvcFrame(0, origin=b"http://fuzz", field=b'h2=":443"'))
                          .add(AltSvcFrame(1, field=b'h2="alt:443"'))
                          .raw(0xc, 0, 0, b"\x00\x0bhttp://fuzz")
                          .headers(1, resp(200), end=True).out)
    s["informational"] = (Conv().settings().ack().headers(3, resp(100))
                          .headers(1, resp(103, ("link", "</x>"))).headers(1, resp(200)).data(1, b"x", end=True)
                          .headers(3, resp(200), end=True).out)
    s["rst-ping"] = (Conv().settings(max_concurrent_streams=1).add(PingFrame(0, b"abcdefgh"))
                     .add(RstStreamFrame(3, error_code=7)).add(WindowUpdateFrame(0, window_increment=100))
                     .headers(1, resp(200, *[("x-h%d" % i, "v" * 40) for i in range(10)]), split=50)
                     .data(1, b"", end=True).out)
    s["settings-only"] = Conv().settings(header_table_size=100, initial_window_size=10).out
    return s


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for target, seeds in (("server", server_seeds()), ("h1", h1_seeds()), ("client", client_seeds())):
        d = os.path.join(base, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


main()
