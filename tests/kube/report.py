"""What the run prints at its end: kubeadm's and kubectl's outputs that the
steps kept (prints) and the table of measured times (timed)."""
import time

from host import START, log


class Report:
    def __init__(self):
        self.prints = {}  # "init", "server", "nodes", "pods", "pods_end"
        self.times = []  # (step, what, seconds)

    def timed(self, step, what, seconds):
        self.times.append((step, what, seconds))
        log(f"step {step}: {what}: {seconds:.2f} s")

    def write(self):
        prints = self.prints
        print("\n==== kubeadm init:", prints.get("init"))
        print("==== admin.conf:", prints.get("server"))
        if "nodes" in prints:
            print("==== kubectl get nodes -o wide (from the client, through the VIP):\n" + prints["nodes"])
            print("==== kubectl get pods -n kube-system -o wide:\n" + prints["pods"])
        print("==== measured times (one run; the machine is shared, expect noise)")
        print(f"{'step':>4}  {'seconds':>8}  what")
        for step, what, s in self.times:
            print(f"{step:>4}  {s:8.2f}  {what}")
        if "pods_end" in prints:
            print("==== kubectl get pods -n kube-system -o wide (at the end):\n" + prints["pods_end"])
        print(f"total wall time: {time.monotonic() - START:.1f} s")
