"""The client: keeps opening TCP connections to VIP:6443 and prints every
change between reachable and not, with CLOCK_MONOTONIC times (the same
clock in every process of the machine).

    python3 probe.py ADDRESS [PORT] [INTERVAL]

Output lines: "up T" (first success, or first success after failures),
"down T F WHY" (first failure after a success; T is the last success, F the
failure, WHY how the attempt failed: timeout, ECONNREFUSED, EHOSTUNREACH ...)
and "fail F WHY" (a failure during a gap that failed differently from the
one before).
"""
import errno
import socket
import sys
import time

address = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 6443
interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.01
family = socket.AF_INET6 if ":" in address else socket.AF_INET


def why(error):
    if isinstance(error, socket.timeout):
        return "timeout"
    return errno.errorcode.get(error.errno, type(error).__name__)


state, last_ok, last_why = None, None, None
while True:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(0.1)
    try:
        s.connect((address, port))
        failure = None
    except OSError as error:
        failure = why(error)
    finally:
        s.close()
    now = time.monotonic()
    if failure is None:
        if state is not True:
            print(f"up {now:.4f}", flush=True)
        last_ok, state = now, True
    elif state is True:
        print(f"down {last_ok:.4f} {now:.4f} {failure}", flush=True)
        state = False
    elif state is False and failure != last_why:
        print(f"fail {now:.4f} {failure}", flush=True)
    last_why = failure
    time.sleep(interval)
