"""A client of the load balancing: COUNT requests to
https://ADDRESS:PORT/name, each on a fresh TLS connection, one after the
other; prints one JSON object: which stand-in apiserver answered how
often ("-" for a failed request), how long it all took, and every failed
request's CLOCK_MONOTONIC time (the same clock in every process of the
machine).

    python3 spread.py ADDRESS PORT COUNT

or from a test, spread.ask(ns, count, address, port).
"""
import json
import socket
import ssl
import sys
import time
from pathlib import Path


def ask(ns, count, address, port=6443):
    """This client's report, run in network namespace ns."""
    from machine import sh  # the lab's, not needed in the namespace
    return json.loads(sh("ip", "netns", "exec", ns, sys.executable, Path(__file__).resolve(), address, str(port),
                         str(count)).stdout)


def main(address, port, count):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = f"GET /name HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode()
    names, failed = {}, []
    start = time.monotonic()
    for _ in range(count):
        try:
            with socket.create_connection((address, port), timeout=1) as raw, ctx.wrap_socket(raw) as s:
                s.sendall(request)
                reply = b""
                while chunk := s.recv(4096):
                    reply += chunk
            name = reply.split(b"\r\n\r\n", 1)[1].decode() if reply.startswith(b"HTTP/1.1 200") else "-"
        except OSError:
            name = "-"
        if name == "-":
            failed.append(time.monotonic())
        names[name] = names.get(name, 0) + 1
    print(json.dumps({"names": names, "seconds": time.monotonic() - start, "failed_at": failed}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
