"""The lab's container image: packaging/container/Containerfile built on a
Debian base made here with debootstrap (no registry needed). Both are
cached in podman's store; a lab image is built once per kubealived binary."""
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from machine import REPO, binary, containers_conf, sh

BASE_IMAGE = "localhost/kubealived-base:lab"
LAB_IMAGE = "localhost/kubealived:lab"


def apt_mirror():
    """The Debian mirror apt on this machine uses, for debootstrap."""
    for path in sorted(Path("/etc/apt").rglob("*")):
        if path.suffix not in (".sources", ".list") or not path.is_file():
            continue
        for line in path.read_text().splitlines():
            m = re.match(r"URIs:\s*(\S+)", line) or re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", line)
            if m and "security" not in m.group(1):
                return m.group(1)
    raise RuntimeError("no Debian mirror found in apt's sources")


def ensure_images(log=print):
    """The lab image's name, built first if missing."""
    env = containers_conf()
    base_image(env, log)
    return lab_image(binary(), env, log)


def exists(image, env):
    return sh("podman", "image", "exists", image, check=False, env=env).returncode == 0


def base_image(env, log):
    """Debian minbase with keepalived, from debootstrap: made once."""
    if exists(BASE_IMAGE, env):
        return BASE_IMAGE
    log("building the base image with debootstrap (about a minute, once)...")
    with tempfile.TemporaryDirectory() as rootfs:
        sh("debootstrap", "--variant=minbase", "--include=keepalived", "bookworm", rootfs, apt_mirror())
        # `with` closes this end of the pipe and waits for tar
        with subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE) as tar:
            subprocess.run(["podman", "import", "-", BASE_IMAGE], stdin=tar.stdout, check=True, env=env,
                           capture_output=True)
    return BASE_IMAGE


def lab_image(kubealived, env, log):
    """The Containerfile on the base with this kubealived binary. Its tag
    names the binary's digest, so labs of different builds on one machine
    never swap each other's image."""
    digest = hashlib.sha256(kubealived.read_bytes()).hexdigest()
    image = f"{LAB_IMAGE}-{digest[:16]}"
    if exists(image, env):
        return image
    log("building the kubealived lab image...")
    with tempfile.TemporaryDirectory() as ctx:
        shutil.copy(REPO / "packaging/container/Containerfile", Path(ctx) / "Containerfile")
        shutil.copy(kubealived, Path(ctx) / "kubealived")
        sh("podman", "build", "--runtime", "runc", "--build-arg", f"BASE={BASE_IMAGE}",
           "--label", f"kubealived.binary={digest}", "-t", image, ctx, env=env)
    return image
