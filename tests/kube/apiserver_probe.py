"""Inside one node's network namespace, every 50 ms: the node's own
apiserver on HOST:PORT, the node's address as kubelet's probes of
kube-apiserver.yaml ask (127.0.0.1 refuses once --bind-address is set to
it). Prints each change as "T LEVEL", T on
CLOCK_MONOTONIC (the same clock in every process of the machine), LEVEL 0
nothing accepts, 1 it accepts but /readyz is not 200, 2 ready.

    python3 apiserver_probe.py HOST PORT
"""
import http.client
import socket
import ssl
import sys
import time

host, port, last = sys.argv[1], int(sys.argv[2]), None
ctx = ssl._create_unverified_context()
while True:
    api = 0
    try:
        c = http.client.HTTPSConnection(host, port, timeout=0.3, context=ctx)
        c.request("GET", "/readyz")
        api = 2 if c.getresponse().status == 200 else 1
        c.close()
    except ssl.SSLError:
        api = 1
    except (OSError, http.client.HTTPException) as e:
        api = 1 if not isinstance(e, (ConnectionRefusedError, socket.timeout)) else 0
    if api != last:
        print(f"{time.monotonic():.3f} {api}", flush=True)
        last = api
    time.sleep(0.05)
