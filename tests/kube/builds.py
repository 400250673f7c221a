"""Everything the nodes run, built before any node exists: the Kubernetes
components (tests/kube/build, cached by version), the kubealived binary,
the kubealived image archive as the packages ship it, and one archive of
control-plane images made from the components (images.py). All cached
outside the repository."""
import hashlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import images
from constants import CACHE, HERE, IMAGE_REPO, KUBE_VIP_REPO, PAUSE_TAG, REPO
from host import Failed, sh


@dataclass
class Build:
    bin_dir: Path  # kubelet, kubeadm, kubectl, kube-apiserver ..., etcd, pause, vipclient, kube-vip
    version: str  # Kubernetes, e.g. v1.35.4
    etcd_tag: str  # etcd's image tag, e.g. 3.6.5-0
    kube_vip_image: str  # the name `kube-vip manifest pod` gives its image, e.g. ghcr.io/kube-vip/kube-vip:v1.2.2
    kubealived: Path  # the binary under test
    kubealived_archive: Path
    control_plane_archive: Path


def build_all(report):
    t = time.monotonic()
    bin_dir = components()
    version = bin_dir.parent.name
    report.timed(1, f"build components {version} (cached when warm)", time.monotonic() - t)
    etcd_tag = sh(bin_dir / "etcd", "--version").stdout.split("etcd Version: ")[1].split()[0] + "-0"
    kube_vip_image = f"{KUBE_VIP_REPO}:" + sh(bin_dir / "kube-vip", "version").stdout.split("Version:")[1].split()[0]
    for b in ("kubelet", "kubeadm"):
        v = sh(bin_dir / b, "--version" if b == "kubelet" else "version", *(["-o", "short"] if b == "kubeadm" else [])).stdout
        if version not in v:
            raise Failed(f"{b} reports {v.strip()!r}, not {version}: version stamping is broken")

    t = time.monotonic()
    kubealived = kubealived_binary()
    ka_archive = kubealived_image_archive(kubealived)
    cp_archive = control_plane_archive(bin_dir, version, etcd_tag, kube_vip_image)
    report.timed(0, "images: kubealived (packaging/container/build) + control plane (from binaries)", time.monotonic() - t)
    return Build(bin_dir, version, etcd_tag, kube_vip_image, kubealived, ka_archive, cp_archive)


def components():
    out = sh(HERE / "build", timeout=7200)
    sys.stderr.write(out.stderr)
    return Path(out.stdout.strip().splitlines()[-1])


def kubealived_binary():
    path = Path(os.environ.get("KUBEALIVED_BIN", REPO / "target/release/kubealived"))
    if not path.exists():
        sh("cargo", "build", "--locked", "--release", "--manifest-path", REPO / "Cargo.toml", timeout=3600)
    return path


def kubealived_image_archive(binary):
    """The kubealived image archive as the packages ship it:
    packaging/container/build (from Debian packages, no registry), under its
    default name. Cached by the digest of the binary and of the scripts
    that build the image."""
    h = hashlib.sha256(binary.read_bytes())
    for script in ("packaging/container/build", "packaging/container/image.py"):
        h.update((REPO / script).read_bytes())
    digest = h.hexdigest()[:16]
    archive = CACHE / f"kubealived-image-{digest}.oci.tar"
    if not archive.exists():
        for old in CACHE.glob("kubealived-image-*"):
            old.unlink()
        sh(REPO / "packaging/container/build", "--bin", binary, "--out", archive, timeout=1800)
    return archive


def control_plane_archive(bin_dir, version, etcd_tag, kube_vip_image):
    """kubeadm's images, and kube-vip's under the name its generated
    manifest gives it (imagePullPolicy IfNotPresent: no registry needed)."""
    refs = {
        "kube-apiserver": f"{IMAGE_REPO}/kube-apiserver:{version}",
        "kube-controller-manager": f"{IMAGE_REPO}/kube-controller-manager:{version}",
        "kube-scheduler": f"{IMAGE_REPO}/kube-scheduler:{version}",
        "etcd": f"{IMAGE_REPO}/etcd:{etcd_tag}",
        "pause": f"{IMAGE_REPO}/pause:{PAUSE_TAG}",
        "kube-vip": kube_vip_image,
    }
    archive = bin_dir.parent / "control-plane-images.tar"
    stamp = max((bin_dir / n).stat().st_mtime for n in refs)
    if not archive.exists() or archive.stat().st_mtime < stamp:
        images.build_archive(str(bin_dir), str(archive), refs)
    return archive
