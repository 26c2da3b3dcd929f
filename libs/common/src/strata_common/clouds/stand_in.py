"""What every driver does on a stand-in cloud (moto, vcsim) whose instances are not machines: a
builder is reached over the SSH server the account's `builderSsh` names instead, with a folder per
builder standing for its root filesystem."""

from __future__ import annotations

from pathlib import Path


def builder_over_stand_in_ssh(builder_ssh: dict[str, str], builder_id: str, user: str | None) -> dict[str, str]:
    """Ansible variables for builder `builder_id` on the stand-in's sshd (`builderSsh`: address, root,
    and optionally user and python)."""
    host, _, port = builder_ssh["address"].rpartition(":")
    return {"ansible_connection": "ssh", "ansible_host": host, "ansible_port": port,
            "ansible_user": builder_ssh.get("user", user or "root"),
            "ansible_python_interpreter": builder_ssh.get("python", "/usr/bin/python3"),
            "image_root": str(Path(builder_ssh["root"]) / builder_id)}  # fmt: skip
