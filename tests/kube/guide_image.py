"""The image the kubeadm HA guide's keepalived static pod runs, built here:
Debian's keepalived with what the guide's check script calls (a shell,
curl, ip, grep), that is every file of those Debian packages and of their
dependencies as apt resolves them for an empty system (no Recommends), in
one layer. No registry and no image builder; cached by the package set.
The guide names osixia/keepalived:2.0.17, an image no longer maintained.

    python3 tests/kube/guide_image.py    # builds it, prints the archive and the name
"""
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import images
from constants import CACHE, IMAGE_REPO

PACKAGES = ("keepalived", "dash", "curl", "iproute2", "grep")


def _apt(*args, cwd=None):
    return subprocess.run(["apt-get", "-q", "-o", "APT::Sandbox::User=root", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


def resolve():
    """[(package, version)], what apt would install on an empty system."""
    out = _apt("-o", "Dir::State::status=/dev/null", "-o", "APT::Install-Recommends=false",
               "-s", "install", *PACKAGES)
    inst = [line.split()[1:3] for line in out.splitlines() if line.startswith("Inst ")]
    return sorted((name, ver.strip("(")) for name, ver in inst)


def archive():
    """(the archive's path, the image's name in it), built on first use."""
    packages = resolve()
    keepalived = dict(packages)["keepalived"]
    ref = f"{IMAGE_REPO}/keepalived-guide:{keepalived.split(':')[-1].replace('~', '-').replace('+', '-')}"
    key = hashlib.sha256("\n".join(f"{n}={v}" for n, v in packages).encode()).hexdigest()[:16]
    out = CACHE / f"guide-image-{key}.tar"
    if out.exists():
        return out, ref
    for old in CACHE.glob("guide-image-*"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        debs, stage = Path(tmp, "debs"), Path(tmp, "stage")
        debs.mkdir()
        _apt("download", *(f"{n}={v}" for n, v in packages), cwd=debs)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, stage], check=True)
        # What dash's maintainer script would link, and what a pod needs.
        if not (stage / "bin/sh").exists():
            os.symlink("dash", stage / "bin/sh")
        for d, mode in (("tmp", 0o1777), ("run", 0o755), ("etc/keepalived", 0o755)):
            (stage / d).mkdir(parents=True, exist_ok=True)
            os.chmod(stage / d, mode)
        (stage / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (stage / "etc/group").write_text("root:x:0:\n")
        images.write_images(str(out), [(ref, images.dir_layer(stage), ["/usr/sbin/keepalived"])])
    return out, ref


if __name__ == "__main__":
    print(*archive())
