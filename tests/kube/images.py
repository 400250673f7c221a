"""Container images made from the binaries tests/kube/build produced, with no
registry and no image builder: one layer per image holding the static binary
at /usr/local/bin (where upstream's images put it, so kubeadm's manifests find
it on PATH), written as one archive in both the OCI layout and the docker
`save` layout (manifest.json with RepoTags), which `ctr images import` reads.

Everything in the archive is deterministic (mtime 0, root-owned, sorted), so
the same binaries give the same image digests.

    python3 tests/kube/images.py BIN_DIR OUT.tar NAME=REF ...
e.g.  kube-apiserver=localhost/kubealived-e2e/kube-apiserver:v1.35.4
"""

import hashlib
import io
import json
import os
import sys
import tarfile


def _info(name, size=0, mode=0o644, kind=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.type, ti.mtime = size, mode, kind, 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def _layer(binary, name):
    """An uncompressed layer tar: /tmp, a root passwd entry, the binary."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("etc", "tmp", "usr", "usr/local", "usr/local/bin"):
            tar.addfile(_info(d, mode=0o1777 if d == "tmp" else 0o755, kind=tarfile.DIRTYPE))
        passwd = b"root:x:0:0:root:/:/sbin/nologin\n"
        tar.addfile(_info("etc/passwd", len(passwd)), io.BytesIO(passwd))
        group = b"root:x:0:\n"
        tar.addfile(_info("etc/group", len(group)), io.BytesIO(group))
        with open(binary, "rb") as f:
            tar.addfile(_info(f"usr/local/bin/{name}", os.path.getsize(binary), 0o755), f)
    return buf.getvalue()


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build_archive(bin_dir, out, images):
    """images: {binary name: image reference}. Writes one archive at out."""
    return write_images(out, [(ref, _layer(os.path.join(bin_dir, name), name), [f"/usr/local/bin/{name}"])
                              for name, ref in sorted(images.items())])


def dir_layer(root):
    """An uncompressed layer tar of everything under root (files, links,
    directories, their modes), root-owned with mtime 0, sorted."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                st = os.lstat(path)
                if os.path.islink(path):
                    ti = _info(rel, kind=tarfile.SYMTYPE)
                    ti.linkname = os.readlink(path)
                    tar.addfile(ti)
                elif os.path.isdir(path):
                    tar.addfile(_info(rel, mode=st.st_mode & 0o7777, kind=tarfile.DIRTYPE))
                else:
                    with open(path, "rb") as f:
                        tar.addfile(_info(rel, st.st_size, st.st_mode & 0o7777), f)
    return buf.getvalue()


def write_images(out, images):
    """images: [(reference, layer tar, entrypoint)], one layer each.
    Writes one archive at out."""
    blobs = {}
    index = []
    docker = []

    def blob(data):
        d = _digest(data)
        blobs[d] = data
        return d

    for ref, layer, entrypoint in images:
        layer_d = blob(layer)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Entrypoint": entrypoint,
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_d]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"kubealived tests/kube: {os.path.basename(entrypoint[0])}"}],
        }
        config_b = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_d = blob(config_b)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": len(config_b)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_d, "size": len(layer)}],
        }
        manifest_b = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        manifest_d = blob(manifest_b)
        index.append({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_d,
            "size": len(manifest_b),
            "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]},
            "platform": {"architecture": "amd64", "os": "linux"},
        })
        path = lambda d: "blobs/sha256/" + d.split(":", 1)[1]  # noqa: E731
        docker.append({"Config": path(config_d), "RepoTags": [ref], "Layers": [path(layer_d)]})

    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                  "manifests": index}, sort_keys=True).encode(),
        "manifest.json": json.dumps(docker, sort_keys=True).encode(),
    }
    for d, data in blobs.items():
        files["blobs/sha256/" + d.split(":", 1)[1]] = data
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_info(d, mode=0o755, kind=tarfile.DIRTYPE))
        for name in sorted(files):
            tar.addfile(_info(name, len(files[name])), io.BytesIO(files[name]))
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    build_archive(sys.argv[1], sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:]))
