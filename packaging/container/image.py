#!/usr/bin/env python3
"""Write the kubealived image as an OCI image archive, reproducibly.

    image.py build --stage DIR --info DIR --bin KUBEALIVED --tag REF --version V
                   --arch DEB_ARCH --record FILE --out FILE.oci.tar
    image.py index --tag REF --out DIR ARCHIVE...   (multi-arch OCI layout for a push)
    image.py packages ARCHIVE                       (the record a rebuild takes)

`build` takes a directory where Debian packages were extracted (keepalived
and its dependencies, see packaging/container/build) and keeps only what runs:
/usr/sbin/keepalived, /usr/sbin/nft (the agent's VRRP filter and load
balancing), the kubealived binary, exactly the shared libraries the
dynamic loader resolves for the three (and the loader), the two files
keepalived's `script_user root` looks up (/etc/passwd, /etc/group), empty
/run and /tmp, and one dpkg status file per Debian package a file came from,
so image scanners see the packages and their versions. No shell, no `ip`.
The build's record (the Debian packages it was built from and the date of
apt's lists, --record) goes in as /usr/share/kubealived/debian-packages.txt
and into the labels; `packaging/container/build --packages` rebuilds from it.
For another architecture than this machine's, the extracted loader runs
under qemu-user (qemu-aarch64, qemu-x86_64).

Same inputs, same bytes: entries sorted, every mtime SOURCE_DATE_EPOCH (0
when unset), owner 0:0, no user or group names, uncompressed layer, JSON
with sorted keys. Only the Python standard library.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile

KEEPALIVED = "usr/sbin/keepalived"
NFT = "usr/sbin/nft"  # the agent's VRRP filter (--vrrp-from) and load balancing
KUBEALIVED = "usr/local/bin/kubealived"
RECORD = "usr/share/kubealived/debian-packages.txt"
LABEL_PACKAGES = "io.github.kubealived.debian.packages"
LABEL_LISTS_DATE = "io.github.kubealived.debian.package-lists-date"
# The entrypoint, `kubealived agent` (which runs keepalived); the manifest
# gives it in full: this, then the node's interface, VIPs, apiserver port
# and listen address.
CMD = [
    "/usr/local/bin/kubealived",
    "agent",
    "--keepalived-conf",
    "/etc/kubealived/keepalived.conf",
]
# Debian architecture -> OCI platform.
PLATFORMS = {
    "amd64": ("amd64", None),
    "arm64": ("arm64", "v8"),
}
# Debian architecture -> the qemu-user program that runs its binaries.
EMULATORS = {
    "amd64": "qemu-x86_64",
    "arm64": "qemu-aarch64",
}
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"


def die(msg):
    print(f"image.py: {msg}", file=sys.stderr)
    sys.exit(2)


def epoch():
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def interpreter(path):
    """PT_INTERP of an ELF executable: the dynamic loader it names."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        die(f"{path}: not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type, = struct.unpack_from("<I", data, off)
        if p_type == 3:  # PT_INTERP
            p_offset, = struct.unpack_from("<Q", data, off + 8)
            p_filesz, = struct.unpack_from("<Q", data, off + 32)
            return data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return None


def resolve(stage, path):
    """`path` inside the stage with every symlink followed as if the stage
    were the root (absolute link targets stay inside it)."""
    parts = [p for p in path.strip("/").split("/") if p]
    done = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            done = done[:-1]
            continue
        if part == ".":
            continue
        full = os.path.join(stage, *done, part)
        if os.path.islink(full):
            hops += 1
            if hops > 40:
                die(f"{path}: too many symlinks")
            target = os.readlink(full)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
        else:
            done.append(part)
    return "/" + "/".join(done)


def libraries(stage, binary, loader, emulator):
    """Every shared library the stage's own loader resolves for `binary`,
    as paths inside the image (what ldd prints, but against the stage);
    the loader runs under `emulator` when it is for another architecture."""
    search = []
    for base in ("lib", "usr/lib"):
        full = os.path.join(stage, base)
        if os.path.isdir(full):
            search += [os.path.join(full, d) for d in sorted(os.listdir(full))
                       if d.endswith("-linux-gnu")]
            search.append(full)
    out = subprocess.run(
        emulator + [stage + resolve(stage, loader), "--inhibit-cache",
         "--library-path", ":".join(search), "--list", binary],
        check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" not in parts:
            continue  # the vDSO and the loader itself
        target = parts[parts.index("=>") + 1]
        if target == "not":
            die(f"{binary}: {parts[0]} not found among the extracted packages")
        if not target.startswith(stage + "/"):
            die(f"{binary}: {parts[0]} resolved outside the stage: {target}")
        libs.append(target[len(stage):])
    return libs


def owners(stage_info):
    """Map of path inside the image -> Debian package, from `dpkg-deb -c`
    listings the build script saved as STAGE_INFO/PACKAGE.list."""
    owner = {}
    for name in sorted(os.listdir(stage_info)):
        if not name.endswith(".list"):
            continue
        pkg = name[:-len(".list")]
        with open(os.path.join(stage_info, name)) as f:
            for line in f:
                path = line.rstrip("\n").lstrip(".")
                if path and not path.endswith("/"):
                    owner[path] = pkg
    return owner


class Layer:
    """A tar written in memory with fixed metadata."""

    def __init__(self):
        self.entries = {}

    def dir(self, path, mode=0o755):
        self.entries[path] = ("dir", mode, None)

    def file(self, path, data, mode):
        parent = os.path.dirname(path)
        while parent and parent not in self.entries:
            self.dir(parent)
            parent = os.path.dirname(parent)
        self.entries[path] = ("file", mode, data)

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, mode, data = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mtime = epoch()
                info.mode = mode
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                else:
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()


def blob(blobs, data, media_type, **extra):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return dict({"mediaType": media_type, "digest": digest, "size": len(data)}, **extra)


def write_archive(out, blobs, index):
    """An OCI image layout in one tar (what `podman save --format oci-archive`,
    `ctr images import` and `skopeo copy oci-archive:` read)."""
    files = {"oci-layout": canonical_json({"imageLayoutVersion": "1.0.0"}),
             "index.json": canonical_json(index)}
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = data
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch()
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, epoch()
            tar.addfile(info, io.BytesIO(files[name]))
    os.replace(tmp, out)


def read_archive(path):
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    return files


def read_record(path):
    """The build's record: `key: value` lines and name=version lines."""
    fields, names = {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if "=" in line and ": " not in line:
                names.append(line)
            else:
                key, _, value = line.partition(": ")
                fields[key] = value
    for key in ("architecture", "package-lists-date"):
        if key not in fields:
            die(f"{path}: no {key}")
    if not names:
        die(f"{path}: no packages")
    return fields, names


def build(args):
    stage = os.path.abspath(args.stage)
    if args.arch not in PLATFORMS:
        die(f"no OCI platform known for Debian architecture {args.arch}")
    fields, recorded = read_record(args.record)
    if fields["architecture"] != args.arch:
        die(f"{args.record} is for {fields['architecture']}, the build for {args.arch}")
    native = subprocess.run(["dpkg", "--print-architecture"], check=True,
                            capture_output=True, text=True).stdout.strip()
    emulator = [] if args.arch == native else [EMULATORS[args.arch]]
    binaries = {KEEPALIVED: os.path.join(stage, KEEPALIVED), NFT: os.path.join(stage, NFT), KUBEALIVED: args.bin}
    loader = interpreter(binaries[KEEPALIVED])
    if not loader:
        die("keepalived is not dynamically linked?")
    if interpreter(args.bin) not in (None, loader):
        die(f"{args.bin} wants the loader {interpreter(args.bin)}, keepalived {loader}: "
            "build kubealived for the same architecture and C library")
    owner = owners(args.info)
    layer = Layer()
    used = set()
    wanted = {loader}
    for path, source in binaries.items():
        wanted.update(libraries(stage, source, loader, emulator))
    for path in sorted(wanted):
        inside = resolve(stage, path)
        with open(stage + inside, "rb") as f:
            layer.file(path.lstrip("/"), f.read(), 0o755)
        # dpkg lists the path the package ships (merged-/usr aliases differ).
        pkg = owner.get(inside) or owner.get(path)
        if not pkg:
            die(f"{path}: no extracted package ships {inside}")
        used.add(pkg)
    for path in (KEEPALIVED, NFT):
        with open(binaries[path], "rb") as f:
            layer.file(path, f.read(), 0o755)
        used.add(owner["/" + path])
    # Root-owned, writable by root only: keepalived's script security
    # refuses a health-check binary that anyone else could change.
    with open(args.bin, "rb") as f:
        layer.file(KUBEALIVED, f.read(), 0o755)
    layer.file("etc/passwd", b"root:x:0:0:root:/:/nonexistent\n", 0o644)
    layer.file("etc/group", b"root:x:0:\n", 0o644)
    with open(args.record, "rb") as f:
        layer.file(RECORD, f.read(), 0o644)
    layer.dir("run")
    layer.dir("tmp", 0o1777)
    for pkg in sorted(used):
        with open(os.path.join(args.info, pkg + ".control")) as f:
            control = f.read().rstrip("\n") + "\n"
        layer.file(f"var/lib/dpkg/status.d/{pkg}", control.encode(), 0o644)

    oci_arch, variant = PLATFORMS[args.arch]
    layer_tar = layer.tar()
    created = datetime.datetime.fromtimestamp(epoch(), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    labels = {
        "org.opencontainers.image.title": "kubealived",
        "org.opencontainers.image.description":
            "keepalived and kubealived: the API VIP of a kubeadm cluster",
        "org.opencontainers.image.version": args.version,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.source": "https://github.com/kubealived/kubealived",
        # What a rebuild takes (packaging/container/build --packages).
        LABEL_PACKAGES: " ".join(recorded),
        LABEL_LISTS_DATE: fields["package-lists-date"],
    }
    config = {
        "architecture": oci_arch,
        "os": "linux",
        "created": created,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": CMD,
            "WorkingDir": "/",
            "User": "0:0",
            "Labels": labels,
        },
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created": created, "created_by": "packaging/container/build"}],
    }
    if variant:
        config["variant"] = variant
    blobs = {}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": blob(blobs, canonical_json(config), MEDIA_CONFIG),
        "layers": [blob(blobs, layer_tar, MEDIA_LAYER)],
        "annotations": {"org.opencontainers.image.created": created,
                        "org.opencontainers.image.version": args.version,
                        LABEL_LISTS_DATE: fields["package-lists-date"]},
    }
    platform = {"architecture": oci_arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    descriptor = blob(blobs, canonical_json(manifest), MEDIA_MANIFEST, platform=platform)
    # Both names: containerd's importer reads io.containerd.image.name,
    # podman/skopeo read org.opencontainers.image.ref.name.
    descriptor["annotations"] = {"io.containerd.image.name": args.tag,
                                 "org.opencontainers.image.ref.name": args.tag}
    write_archive(args.out, blobs, {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                                    "manifests": [descriptor]})
    print(f"{args.out}: {args.tag} {oci_arch} manifest {descriptor['digest']}, "
          f"layer {len(layer_tar)} bytes, {len(layer.entries)} entries, "
          f"packages: {' '.join(sorted(used))}")


def index(args):
    """Several single-platform archives into one OCI layout directory whose
    index lists them all: `skopeo copy --all oci:DIR docker://REF` pushes it
    as one multi-arch image, digests unchanged."""
    blobs, manifests = {}, []
    for path in args.archives:
        files = read_archive(path)
        for name, data in files.items():
            if name.startswith("blobs/sha256/"):
                blobs["sha256:" + name.rsplit("/", 1)[1]] = data
        for m in json.loads(files["index.json"])["manifests"]:
            manifests.append({k: m[k] for k in ("mediaType", "digest", "size", "platform")})
    manifests.sort(key=lambda m: (m["platform"]["architecture"], m["digest"]))
    idx = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests}
    idx_blob = canonical_json(idx)
    digest = "sha256:" + hashlib.sha256(idx_blob).hexdigest()
    blobs[digest] = idx_blob
    os.makedirs(os.path.join(args.out, "blobs/sha256"), exist_ok=True)
    for d, data in blobs.items():
        with open(os.path.join(args.out, "blobs/sha256", d.split(":", 1)[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(args.out, "oci-layout"), "wb") as f:
        f.write(canonical_json({"imageLayoutVersion": "1.0.0"}))
    top = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [
        {"mediaType": MEDIA_INDEX, "digest": digest, "size": len(idx_blob),
         "annotations": {"org.opencontainers.image.ref.name": args.tag}}]}
    with open(os.path.join(args.out, "index.json"), "wb") as f:
        f.write(canonical_json(top))
    print(digest)


def layer_file(archive, path):
    """One file of a single-platform archive's layer."""
    files = read_archive(archive)
    manifests = json.loads(files["index.json"])["manifests"]
    if len(manifests) != 1:
        die(f"{archive}: {len(manifests)} manifests, expected one")

    def blob_of(digest):
        return files["blobs/sha256/" + digest.split(":", 1)[1]]

    manifest = json.loads(blob_of(manifests[0]["digest"]))
    with tarfile.open(fileobj=io.BytesIO(blob_of(manifest["layers"][0]["digest"]))) as tar:
        try:
            return tar.extractfile(path).read()
        except KeyError:
            die(f"{archive}: no {path} in the image")


def packages(args):
    """Print an image archive's record, for packaging/container/build --packages."""
    sys.stdout.buffer.write(layer_file(args.archive, RECORD))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--stage", required=True)
    b.add_argument("--info", required=True)
    b.add_argument("--bin", required=True)
    b.add_argument("--tag", required=True)
    b.add_argument("--version", required=True)
    b.add_argument("--arch", required=True)
    b.add_argument("--record", required=True)
    b.add_argument("--out", required=True)
    i = sub.add_parser("index")
    i.add_argument("--tag", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("archives", nargs="+")
    p = sub.add_parser("packages")
    p.add_argument("archive")
    args = parser.parse_args()
    {"build": build, "index": index, "packages": packages}[args.command](args)


if __name__ == "__main__":
    main()
