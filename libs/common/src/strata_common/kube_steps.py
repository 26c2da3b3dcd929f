"""The step's edge of a cluster's Kubernetes API: a client of the cluster the step works on, kept
warm per worker process across a cluster's steps; an unreachable API or an error answer becomes a
StepError here and nowhere else."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from strata_common.engine.errors import StepError
from strata_common.engine.runner import StepContext
from strata_common.kube.access import KubeAccess, NotReachable, cluster_access
from strata_common.kube.client import KubeClient, KubeError

_clients: OrderedDict[tuple[str, KubeAccess], KubeClient] = OrderedDict()
_lock = threading.Lock()  # a health check asks several clusters at once
# Per worker process: connections and discovery stay warm across a cluster's steps. A fleet being built
# has hundreds of clusters in flight at once; a TLS handshake and discovery cost more than the kept socket.
CLIENTS_KEPT = 512


@contextmanager
def kube(ctx: StepContext) -> Iterator[KubeClient]:
    """A client of the cluster's API; an unreachable API or an error answer fails the step with its reason."""
    with ctx.db.connection() as conn:
        try:
            access = cluster_access(conn, ctx.step.cluster_id, ctx.settings)
        except NotReachable as err:
            raise StepError("ApiNotReachable", str(err)) from None
    try:
        with kept_client(str(ctx.step.cluster_id), access, ctx.deps.kube) as client:
            yield client
    except KubeError as err:
        raise StepError(f"Kube{err.reason}", err.message or str(err)) from None


@contextmanager
def kept_client(cluster_id: str, access: KubeAccess, make: Callable[[KubeAccess], KubeClient]) -> Iterator[KubeClient]:
    """The process's client of the cluster (made with `make` the first time): closed after an error
    answer, kept for the next use otherwise (a wait or a step's own error leave the connection good)."""
    key = (cluster_id, access)
    with _lock:
        client = _clients.pop(key, None)
    client = client or make(access)
    try:
        yield client
    except KubeError:
        client.close()
        raise
    except BaseException:
        _keep(key, client)
        raise
    _keep(key, client)


def _keep(key: tuple[str, KubeAccess], client: KubeClient) -> None:
    with _lock:
        _clients[key] = client
        dropped = [_clients.popitem(last=False)[1] for _ in range(len(_clients) - CLIENTS_KEPT)]
    for each in dropped:
        each.close()
