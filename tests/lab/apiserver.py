"""A stand-in kube-apiserver for the lab: HTTPS on port 6443 (every
address, IPv4 and IPv6, so it also answers on the VIP while this master
holds it). /livez answers 200 while the health file says "ok", else 500.

    python3 apiserver.py CERT KEY HEALTH_FILE
"""
import http.server
import socket
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            with open(HEALTH) as f:
                healthy = f.read().strip() == "ok"
        except OSError:
            healthy = False
        code = 200 if self.path == "/livez" and healthy else 500
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
    CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CTX.load_cert_chain(cert, key)
    server = DualStackServer(("::", 6443), Handler)
    print("ready", flush=True)
    server.serve_forever()
