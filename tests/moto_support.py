"""moto_server behind a WSGI wrapper of ours, as a real process on a free loopback port.

moto answers the EC2, ELBv2, STS and IAM APIs; the wrapper adds what the tests need of real AWS
that moto does not do: refusals as AWS words them, injected per action (`POST /_strata/faults` with
action or "*", code, message, status, a count or a rate in 0..1, and `when`: request parameters
it applies to, e.g. {"InstanceType": "m5.xlarge"}; `DELETE /_strata/faults` clears them),
RunInstances' ClientToken semantics (the same token answers the first reservation; moto 5 records
the token but launches again), EC2's eventual consistency (`POST /_strata/lag` with seconds: a new
instance is InvalidInstanceID.NotFound to DescribeInstances for that long), a count of calls per
action (`GET /_strata/calls`), and what cloud-init does with a key pair: ImportKeyPair's public key
is appended to the file STRATA_MOTO_AUTHORIZED_KEYS names (the sshd standing in for builder VMs
takes it), and a root folder per launched instance under STRATA_MOTO_INSTANCE_ROOTS (what the sshd's
builders customize). Run as `python tests/moto_support.py PORT`."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qs

ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}'
         "</Message></Error></Errors><RequestID>{request}</RequestID></Response>")  # fmt: skip


class Wrapper:
    def __init__(self, app: Any):
        self.app = app
        self.lock = threading.Lock()
        self.faults: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.tokens: dict[str, bytes] = {}
        self.lag = 0.0
        self.random = random.Random(14)
        self.hidden: dict[str, float] = {}  # instance id -> when DescribeInstances may show it

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_strata/"):
            return self._control(environ, start_response, path)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        form = parse_qs(body.decode(errors="replace"))
        action = (form.get("Action") or parse_qs(environ.get("QUERY_STRING", "")).get("Action") or ["?"])[0]
        with self.lock:
            self.calls[action] += 1
            fault = next((f for f in self.faults if f["action"] in (action, "*") and self._matches(f, form)
                          and self._fires(f)), None)  # fmt: skip
        if fault:
            text = ERROR.format(code=fault["code"], message=fault["message"], request=uuid.uuid4())
            start_response(f"{fault['status']} Refused", [("Content-Type", "text/xml")])
            return [text.encode()]
        if action == "DescribeInstances" and (hidden := self._hidden(form)):
            return self._not_yet(start_response, form, hidden)
        token = (form.get("ClientToken") or [None])[0] if action == "RunInstances" else None
        if token and token in self.tokens:
            start_response("200 OK", [("Content-Type", "text/xml")])
            return [self.tokens[token]]
        environ["wsgi.input"] = _Body(body)
        captured: dict[str, Any] = {}

        def remember(status: str, headers: list[Any], exc_info: Any = None) -> Any:
            captured["status"] = status
            return start_response(status, headers, exc_info)

        answer = b"".join(self.app(environ, remember))
        if token and captured.get("status", "").startswith("200"):
            self.tokens[token] = answer
        if action == "ImportKeyPair" and captured.get("status", "").startswith("200"):
            self._authorize_key(form)
        if action == "RunInstances" and captured.get("status", "").startswith("200"):
            launched = [i.decode() for i in re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", answer)]
            self._boot(launched)
            with self.lock:
                for instance in launched if self.lag else []:
                    self.hidden.setdefault(instance, time.monotonic() + self.lag)
        return [answer]

    @staticmethod
    def _matches(fault: dict[str, Any], form: dict[str, list[str]]) -> bool:
        """A fault with `when` ({parameter: value}) fires only for requests that carry those values."""
        return all(value in form.get(key, []) for key, value in (fault.get("when") or {}).items())

    def _fires(self, fault: dict[str, Any]) -> bool:
        if fault.get("rate"):
            return self.random.random() < fault["rate"]
        if fault["count"] > 0:
            fault["count"] -= 1
            return True
        return False

    def _authorize_key(self, form: dict[str, list[str]]) -> None:
        keys = os.environ.get("STRATA_MOTO_AUTHORIZED_KEYS")
        material = (form.get("PublicKeyMaterial") or [""])[0]
        if keys and material:
            with self.lock, open(keys, "a") as out:
                out.write(base64.b64decode(material).decode().strip() + "\n")

    @staticmethod
    def _boot(instances: list[str]) -> None:
        """A launched instance gets a root filesystem under STRATA_MOTO_INSTANCE_ROOTS: the configuration
        folders of a booted Linux, which the image roles customize over SSH."""
        roots = os.environ.get("STRATA_MOTO_INSTANCE_ROOTS")
        for instance in instances if roots else []:
            etc = os.path.join(roots, instance, "etc")
            for folder in ("sysctl.d", "ssh", "audit", "modules-load.d"):
                os.makedirs(os.path.join(etc, folder), exist_ok=True)
            with open(os.path.join(etc, "os-release"), "w") as out:
                out.write('ID=ubuntu\nVERSION_ID="22.04"\n')

    def _hidden(self, form: dict[str, list[str]]) -> list[str]:
        """The instances a DescribeInstances would show that EC2 would not show yet (by id, or all by filter)."""
        now = time.monotonic()
        with self.lock:
            waiting = [i for i, until in self.hidden.items() if until > now]
        named = [v for k, values in form.items() if k.startswith("InstanceId.") for v in values]
        return [i for i in waiting if i in named] if named else waiting

    def _not_yet(self, start_response: Any, form: dict[str, list[str]], hidden: list[str]) -> Any:
        if any(k.startswith("InstanceId.") for k in form):
            message = f"The instance ID '{hidden[0]}' does not exist"
            text = ERROR.format(code="InvalidInstanceID.NotFound", message=message, request=uuid.uuid4())
            start_response("400 Bad Request", [("Content-Type", "text/xml")])
            return [text.encode()]
        empty = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/'
            f'doc/2016-11-15/"><requestId>{uuid.uuid4()}</requestId><reservationSet/></DescribeInstancesResponse>'
        )
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [empty.encode()]

    def _control(self, environ: dict[str, Any], start_response: Any, path: str) -> Any:
        if environ["REQUEST_METHOD"] == "DELETE":
            with self.lock:
                self.faults.clear()
            answer = {"ok": True}
        elif environ["REQUEST_METHOD"] == "POST":
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            with self.lock:
                if path == "/_strata/faults":
                    self.faults.append({"status": 400, "count": 1, **body})
                elif path == "/_strata/lag":
                    self.lag = float(body["seconds"])
            answer = {"ok": True}
        else:
            answer = dict(self.calls)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(answer).encode()]


class _Body:
    def __init__(self, data: bytes):
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size is None or size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def main(port: int) -> None:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import run_simple

    app = Wrapper(DomainDispatcherApplication(create_backend_app))
    run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main(int(sys.argv[1]))
