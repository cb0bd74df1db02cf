"""Run file jobs on a Dask cluster (``pip install 'tomopy-dl[distributed]'``).

Slabs of detector rows need nothing from each other, so a reconstruction
spreads over a cluster as one :func:`tomopy_dl.pipeline.recon_slab` task per
slab, with ``dask.distributed`` as the engine: its scheduler places the
tasks, re-runs a task whose worker died, and reports one that raised. This
module only makes or finds the client; importing ``tomopy_dl`` never imports
Dask.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

__all__ = ["connect"]

logger = logging.getLogger(__name__)

#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT = 5


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("a Dask cluster needs dask.distributed: pip install 'tomopy-dl[distributed]'") from exc
    return distributed


@contextmanager
def connect(cluster: str, workers: int | None = None, threads_per_worker: int | None = None,
            timeout: float = CONNECT_TIMEOUT):  # fmt: skip
    """A ``distributed.Client`` for ``cluster``, closed (with any cluster it started) on exit.

    Parameters
    ----------
    cluster : str
        ``'local'``: start a ``LocalCluster`` of ``workers`` worker processes
        on this machine. Otherwise the address of a running scheduler, e.g.
        ``'tcp://10.0.0.5:8786'`` (one started by ``dask-jobqueue`` on
        SLURM/PBS, by ``dask-cuda``'s ``LocalCUDACluster``, or by
        ``dask scheduler`` by hand).
    workers : int, optional
        Worker processes of a local cluster; 2 by default.
    threads_per_worker : int, optional
        Torch threads of each local worker; by default the machine's cores
        shared out among the workers. Each worker runs one slab at a time
        (torch already spreads one slab over its threads, and tomopy-dl
        serialises work on a device within a process).
    timeout : float
        Seconds to reach a scheduler.

    Raises
    ------
    ImportError
        Without ``dask.distributed``.
    OSError
        When the scheduler cannot be reached within ``timeout``.

    Examples
    --------
    >>> from tomopy_dl.distributed import connect
    >>> from tomopy_dl.pipeline import recon_file
    >>> with connect("local", workers=2) as client:  # doctest: +SKIP
    ...     recon_file("scan.h5", "rec", algorithm="sirt", slab=16, client=client)
    """
    distributed = _import_distributed()
    if cluster == "local":
        n = 2 if workers is None else int(workers)
        if n < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        threads = threads_per_worker or max(1, (os.cpu_count() or 1) // n)
        # Dask's nanny sets OMP_NUM_THREADS=1 in its workers (pre-spawn-environ),
        # which would leave torch one thread whatever the worker's share of cores.
        import dask

        env = {f"distributed.nanny.pre-spawn-environ.{k}": threads
               for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}  # fmt: skip
        with dask.config.set(env):
            local = distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=logging.WARNING,
            )  # fmt: skip
        client = distributed.Client(local)
        logger.info("started a local Dask cluster: %d workers, %d torch threads each", n, threads)
        try:
            yield client
        finally:
            client.close()
            local.close()
        return
    if workers is not None:
        logger.warning("--workers applies to --cluster local only; the cluster at %s has its own", cluster)
    try:
        client = distributed.Client(cluster, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise OSError(
            f"cannot reach a Dask scheduler at {cluster!r} within {timeout:g} s ({type(exc).__name__}); "
            "check the address, or use --cluster local"
        ) from None
    logger.info("connected to the Dask scheduler at %s (%d workers)", cluster,
                len(client.scheduler_info().get("workers", {})))  # fmt: skip
    try:
        yield client
    finally:
        client.close()
