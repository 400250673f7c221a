"""The client: keeps opening TCP connections to VIP:6443 and prints every
change between reachable and not, with CLOCK_MONOTONIC times (the same
clock in every process of the machine).

    python3 probe.py ADDRESS [PORT] [INTERVAL]

Output lines: "up T" (first success, or first success after failures) and
"down T" (first failure after a success; T is the last success).
"""
import socket
import sys
import time

address = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 6443
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
family = socket.AF_INET6 if ":" in address else socket.AF_INET
state, last_ok = None, None
while True:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.1)
    try:
        s.connect((address, port))
        ok = True
    except OSError:
        ok = False
    finally:
        s.close()
    now = time.monotonic()
    if ok:
        if state is not True:
            print(f"up {now:.4f}", flush=True)
        last_ok, state = now, True
    elif state is True:
        print(f"down {last_ok:.4f}", flush=True)
        state = False
    time.sleep(interval)
