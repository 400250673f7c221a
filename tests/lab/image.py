"""The lab's container image: the one `packaging/container/build` makes for
the packages and releases (keepalived, its libraries, the kubealived binary;
from Debian packages, no registry), loaded into podman. Built once per
kubealived binary."""
import hashlib
import tempfile
from pathlib import Path

from machine import REPO, binary, containers_conf, sh

LAB_IMAGE = "localhost/kubealived:lab"


def ensure_images(log=print):
    """The lab image's name, built first if missing."""
    return lab_image(binary(), containers_conf(), log)


def exists(image, env):
    return sh("podman", "image", "exists", image, check=False, env=env).returncode == 0


def lab_image(kubealived, env, log):
    """The release image with this kubealived binary. Its tag names the
    binary's digest, so labs of different builds on one machine never swap
    each other's image."""
    digest = hashlib.sha256(kubealived.read_bytes()).hexdigest()
    image = f"{LAB_IMAGE}-{digest[:16]}"
    if exists(image, env):
        return image
    log("building the kubealived lab image with packaging/container/build...")
    with tempfile.TemporaryDirectory() as out:
        archive = Path(out) / "kubealived.oci.tar"
        sh(REPO / "packaging/container/build", "--bin", kubealived, "--out", archive, "--tag", image)
        sh("podman", "load", "-i", str(archive), env=env)
    return image
