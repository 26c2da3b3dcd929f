"""Root filesystems of the local cloud: images keep theirs as gzipped tar archives in PostgreSQL (so
every worker sees them), a builder instance's root is a folder on the worker that customizes it.

Catalog images (the base images the built-in OS packs name) have no stored archive: their root is
a small generated skeleton of the distribution's configuration files that hardening roles edit.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

from psycopg import Connection

# name -> (os-release ID, VERSION_ID, PRETTY_NAME)
CATALOG = {
    "ubuntu-22.04": ("ubuntu", "22.04", "Ubuntu 22.04.5 LTS"),
    "ubuntu-24.04": ("ubuntu", "24.04", "Ubuntu 24.04.1 LTS"),
    "rhel-9": ("rhel", "9.4", "Red Hat Enterprise Linux 9.4 (Plow)"),
    "centos-stream-9": ("centos", "9", "CentOS Stream 9"),
}

ROOTS = Path(tempfile.gettempdir()) / "strata-localcloud-roots"


def _release(os_id: str, version: str, pretty: str) -> dict[str, str]:
    """The distribution's own release file, by which scanners (OpenSCAP's platform checks) recognise it."""
    if os_id == "ubuntu":
        codename = {"22.04": "jammy", "24.04": "noble"}[version]
        return {"etc/lsb-release": f"DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={version}\nDISTRIB_CODENAME={codename}\n"
                                   f'DISTRIB_DESCRIPTION="{pretty}"\n'}  # fmt: skip
    return {"etc/redhat-release": f"{pretty}\n"}


def _skeleton(name: str) -> dict[str, str]:
    os_id, version, pretty = CATALOG[name]
    return {
        **_release(os_id, version, pretty),
        "etc/os-release": f'ID={os_id}\nVERSION_ID="{version}"\nPRETTY_NAME="{pretty}"\n',
        "etc/hostname": "localhost\n",
        "etc/sysctl.conf": "# kernel parameters\n",
        "etc/sysctl.d/README.sysctl": "Files here are read by systemd-sysctl at boot.\n",
        "etc/modules-load.d/modules.conf": "# kernel modules to load at boot\n",
        "etc/ssh/sshd_config": "#PermitRootLogin prohibit-password\n#MaxAuthTries 6\nX11Forwarding yes\n",
        "etc/audit/auditd.conf": "log_file = /var/log/audit/audit.log\nmax_log_file = 8\n",
    }


def archive(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
    return buffer.getvalue()


def image_files(conn: Connection, image: str) -> dict[str, bytes]:
    """Every regular file of an image's root, by path relative to the root."""
    if image in CATALOG:
        return {path: text.encode() for path, text in _skeleton(image).items()}
    row = conn.execute("SELECT archive FROM lc_image_disks WHERE image_id = %s", (image,)).fetchone()
    if row is None:
        return {}
    files = {}
    with tarfile.open(fileobj=io.BytesIO(row["archive"]), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return files


def instance_root(conn: Connection, instance_id: str, image: str) -> Path:
    """The instance's root folder on this machine, made from its image's root when missing."""
    root = ROOTS / instance_id
    if not root.is_dir():
        ROOTS.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{instance_id}.", dir=ROOTS))
        for path, content in image_files(conn, image).items():
            target = staging / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        try:
            staging.rename(root)
        except OSError:  # another process made it first
            shutil.rmtree(staging, ignore_errors=True)
    return root


def discard_root(instance_id: str) -> None:
    shutil.rmtree(ROOTS / instance_id, ignore_errors=True)
