"""A stand-in kube-apiserver for the lab: HTTPS on port 6443 (every
address, IPv4 and IPv6, so it also answers on the VIP while this master
holds it), HTTP/1.1 with keep-alive like the real one. The health file
says how it behaves:

- "ok": /livez and /readyz answer 200;
- "fail" (or anything else, or no file): both answer 500;
- "graceful": /readyz 500 and /livez 200, as kube-apiserver does during
  its --shutdown-delay-duration (still serving, asking load balancers to
  go elsewhere); the test kills the process when the delay is over;
- "hang": connections are accepted and requests never answered.

GET /name answers NAME (default: empty), so a test can tell which of
several stand-ins a connection reached.

    python3 apiserver.py CERT KEY HEALTH_FILE [NAME]
"""
import http.server
import socket
import ssl
import sys
import time


def mode():
    try:
        with open(HEALTH) as f:
            return f.read().strip()
    except OSError:
        return "fail"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        m = mode()
        while m == "hang":
            time.sleep(0.2)
            m = mode()
        if self.path == "/name":
            body = NAME.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/livez":
            healthy = m in ("ok", "graceful")
        elif self.path == "/readyz":
            healthy = m == "ok"
        else:
            healthy = m in ("ok", "graceful")
        code = 200 if healthy else 500
        body = b"ok" if code == 200 else b"unhealthy"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DualStackServer(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128  # the lab's client opens 100 connections a second

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's own thread, with a
        # timeout: done in accept(), one client that went silent mid-handshake
        # (a link cut) would stop this server accepting anyone, and the VIP
        # would look dead on a master that holds it.
        request.settimeout(5)
        super().finish_request(CTX.wrap_socket(request, server_side=True), client_address)

    def handle_error(self, request, client_address):
        pass  # the probe connects and closes without a handshake


if __name__ == "__main__":
    cert, key, HEALTH = sys.argv[1], sys.argv[2], sys.argv[3]
    NAME = sys.argv[4] if len(sys.argv) > 4 else ""
    CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CTX.load_cert_chain(cert, key)
    server = DualStackServer(("::", 6443), Handler)
    print("ready", flush=True)
    server.serve_forever()
