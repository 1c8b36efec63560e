#!/usr/bin/python3
"""The HTTP(S) server the upload fetcher's unit tests fetch from.

fetch_server.py DIR: makes a self-signed certificate for 127.0.0.1 and
localhost in DIR (DIR/cert.pem, DIR/key.pem), serves the paths below on
127.0.0.1 (http and https) and on [::1] (http), prints one line
"READY http=P https=P v6=P" (v6=0 when the host has no IPv6 loopback) and
serves until its standard input closes (the test ends or dies).
"""
import os
import socket
import ssl
import subprocess
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def wait_client_gone(h):
    """Blocks until the client closes its side (the test's curl gave up)."""
    try:
        while h.rfile.read(1):
            pass
    except OSError:
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body=b"", ctype="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def do_GET(self):
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def route(self):
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        n = int(q.get("n", "0"))
        p = u.path
        if p == "/ok":
            self.send(200, b"hello, upload\n", "text/csv; charset=utf-8")
        elif p == "/bare":  # no Content-Type
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"abc")
        elif p == "/bytes":  # n bytes with Content-Length
            self.send(200, b"x" * n, "application/octet-stream")
        elif p == "/stream":  # n bytes chunked, length unknown in advance
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = n
            while left:
                k = min(left, 65536)
                self.chunk(b"y" * k)
                left -= k
            self.wfile.write(b"0\r\n\r\n")
        elif p == "/liar":  # announces a huge body, sends 10 bytes, waits
            self.send_response(200)
            self.send_header("Content-Length", q["len"])
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            wait_client_gone(self)
            self.close_connection = True
        elif p == "/slow":  # one chunk, then nothing until the client leaves
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b"first")
            self.wfile.flush()
            wait_client_gone(self)
            self.close_connection = True
        elif p == "/status":
            self.send(int(q["code"]), b"an error page the fetcher must not keep\n")
        elif p == "/redirect":
            self.send(int(q.get("code", "302")), b"", extra=[("Location", q["to"])])
        elif p == "/loop":
            self.send(302, b"", extra=[("Location", "/loop")])
        elif p == "/chain":
            if n > 0:
                self.send(302, b"moved\n", extra=[("Location", "/chain?n=%d" % (n - 1))])
            else:
                self.send(200, b"end of chain\n")
        elif p in ("/gzip", "/deflate", "/gzip-random"):
            c = zlib.compressobj(9, zlib.DEFLATED, 15 if p == "/deflate" else 31)
            data = os.urandom(n) if p == "/gzip-random" else b"a" * n
            body = c.compress(data) + c.flush()
            enc = "deflate" if p == "/deflate" else "gzip"
            self.send(200, body, "text/plain", [("Content-Encoding", enc)])
        elif p == "/bomb":
            # 10 GiB of zeros, gzip-compressed on the fly (about 10 MB on the
            # wire), chunked: only a fetcher that counts the decoded bytes
            # stops it.
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            c = zlib.compressobj(9, zlib.DEFLATED, 31)
            zeros = bytes(1 << 20)
            for _ in range(10 << 10):
                out = c.compress(zeros)
                if out:
                    self.chunk(out)
            self.chunk(c.flush())
            self.wfile.write(b"0\r\n\r\n")
        elif p == "/cookie":  # sets a cookie, then sends the client to /headers
            self.send(302, b"", extra=[("Set-Cookie", "track=1; Path=/"),
                                       ("Location", "/headers")])
        elif p == "/headers":  # the request's headers, one per line
            body = "".join("%s: %s\n" % (k.lower(), v) for k, v in self.headers.items())
            self.send(200, body.encode())
        else:
            self.send(404, b"no such path\n")


class V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def serve(srv):
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def main():
    d = sys.argv[1]
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    https.socket = ctx.wrap_socket(https.socket, server_side=True)
    try:
        v6 = serve(V6Server(("::1", 0), Handler))
    except OSError:
        v6 = 0
    print("READY http=%d https=%d v6=%d" % (serve(http), serve(https), v6), flush=True)
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
