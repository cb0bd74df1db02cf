"""Output folders that appear whole or not at all, and stack writers."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = ["OutputDir", "Manifest", "StackWriter", "write_stack", "write_named_slices", "write_contact_sheet"]

logger = logging.getLogger(__name__)

#: The output formats of the file jobs: a TIFF stack, or one HDF5 file.
FORMATS = ("tiff", "h5")


class OutputDir:
    """A folder written under a temporary name and renamed into place on success.

    Used as a context manager around the whole job. It guarantees:

    * **Nothing of the user's is deleted.** The output may not be, contain,
      or be an ancestor of any input. ``overwrite`` replaces only a folder
      that tomopy-dl wrote (it holds ``params.json``); any other is refused.
    * **One job per output.** An exclusive lock (``.NAME.lock`` beside the
      folder, ``flock``) is taken at construction and held to the end; a
      second job is refused at once. The final rename refuses to replace a
      folder that appeared meanwhile (unless ``overwrite``), and keeps the
      result in its temporary folder, named in the error.
    * **Complete or nothing.** On an exception, SIGINT or SIGTERM the
      temporary folder is removed (a resumable one is kept, see
      ``resumable``). Temporary folders left by a killed job (SIGKILL) are
      removed by the next job on the same output when their owner process
      is gone.
    * **A stop is a stop.** SIGINT and SIGTERM raise ``SystemExit(128 +
      signal)``, and the signal is also recorded: a stop that some library
      swallowed on its way up (an exception raised inside a ``__del__`` is
      only printed) is raised again by :meth:`check`, which jobs call
      between units of work, and at the end, which then renames nothing.
    * **Failures before the work.** The parent folder must be writable, and
      its disk must have ``expected_bytes`` free, when the guard is made.

    Parameters
    ----------
    path : str or path-like
        The output folder.
    overwrite : bool
        Replace an existing output that tomopy-dl wrote.
    inputs : sequence of path-like
        Files the job reads; the output may not be or enclose any of them.
    expected_bytes : int
        Size of the output, checked against the disk's free space.
    resumable : bool
        Work in ``.NAME.partial`` (reused if it exists) instead of a fresh
        temporary folder, and keep it when the job fails with an error, so
        that a rerun can pick up what was done (the caller keeps a manifest
        there); SIGINT and SIGTERM keep it too, as a crash does (a batch
        system's time limit is a SIGTERM, and the work done is worth keeping).
        With ``overwrite``, an existing partial folder is discarded first.

    Raises
    ------
    FileExistsError
        The output exists (without ``overwrite``), is not ours, or another
        job holds it.
    ValueError
        The output is, contains or encloses an input.
    PermissionError, OSError
        The parent folder cannot be written, or the disk is too full.
    """

    OWNER_FILE = ".tomopy-dl-owner"

    def __init__(
        self,
        path: str | os.PathLike,
        overwrite: bool = False,
        inputs=(),
        expected_bytes: int = 0,
        resumable: bool = False,
    ):
        self.path = Path(path).absolute()
        self.overwrite = overwrite
        self.resumable = resumable
        self.tmp: Path | None = None
        self._lock_fd: int | None = None
        self._old_handlers: dict = {}
        self.signal: int | None = None
        real = Path(os.path.realpath(self.path))
        for item in inputs:
            inp = Path(os.path.realpath(item))
            if inp == real or real in inp.parents:
                raise ValueError(
                    f"output {str(self.path)!r} would hold the input {str(item)!r}; "
                    "choose an output folder outside the input's folder"
                )
        if self.path.exists():
            if not overwrite:
                raise FileExistsError(f"{str(self.path)!r} already exists; pass --overwrite to replace it")
            if not self.path.is_dir() or not (self.path / "params.json").is_file():
                raise FileExistsError(
                    f"{str(self.path)!r} was not written by tomopy-dl (no params.json); --overwrite replaces only "
                    "tomopy-dl output folders: remove it yourself or choose another --out"
                )
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PermissionError(f"cannot create the output's folder {str(parent)!r}: {exc.strerror}") from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise PermissionError(f"the output's folder {str(parent)!r} is not writable; choose another --out")
        self.require_free(expected_bytes, where=parent)
        self._lock()
        self._remove_stale()
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        if resumable and overwrite and self.partial.exists():
            shutil.rmtree(self.partial)

    def require_free(self, nbytes: int, *, where: Path | None = None) -> None:
        """Raise an OSError naming the output unless its disk has ``nbytes`` (and 5%) free.

        Jobs call it before each unit of work as well as at the start: a disk
        shared with other writers fills up while a job runs.
        """
        where = self.tmp if where is None and self.tmp is not None and self.tmp.exists() else where or self.path.parent
        free = shutil.disk_usage(where).free
        if nbytes and free < nbytes * 1.05:
            raise OSError(
                f"{str(where)!r} has {free / 2**20:.0f} MB free, the output {str(self.path)!r} needs about "
                f"{nbytes / 2**20:.0f} MB more; free some space (a rerun resumes) or choose another --out"
            )

    # -- the lock and stale temporaries ------------------------------------------------
    def _lock(self) -> None:
        self._lock_path = self.path.with_name(f".{self.path.name}.lock")
        while True:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise FileExistsError(
                    f"another tomopy-dl job (pid {holder}) is writing {str(self.path)!r}; wait for it or choose "
                    "another --out"
                ) from None
            # The holder before us removes the file as it lets go; a lock on
            # that removed file guards nothing, so take the lock again.
            try:
                same = os.stat(self._lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            self._lock_path.unlink(missing_ok=True)  # while still held: see _lock
            os.close(self._lock_fd)
            self._lock_fd = None

    def _remove_stale(self) -> None:
        """Remove temporary folders of this output whose owner process is gone."""
        host = socket.gethostname()
        for tmp in self.path.parent.glob(f".{self.path.name}.*"):
            owner = tmp / self.OWNER_FILE
            if not tmp.is_dir() or not owner.is_file() or tmp.name.endswith(".partial"):
                continue  # a partial folder is kept on purpose, for a rerun to resume
            try:
                their_host, pid = owner.read_text().split()
                pid = int(pid)
            except (OSError, ValueError):
                continue
            if their_host == host and not _alive(pid):
                shutil.rmtree(tmp, ignore_errors=True)
                logger.warning("removed %s, left by a tomopy-dl job (pid %d) that was killed", tmp, pid)
            elif their_host != host:
                logger.warning("%s belongs to a tomopy-dl job on %s (pid %d); left alone", tmp, their_host, pid)

    # -- the context -----------------------------------------------------------------
    def __enter__(self) -> Path:
        if self.resumable:
            self.tmp = self.partial
            self.tmp.mkdir(exist_ok=True)
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        (self.tmp / self.OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")
        if threading.current_thread() is threading.main_thread():
            # SIGTERM would end the process without unwinding; make both stops unwind, so that
            # __exit__ cleans up, and remember them, in case the unwinding is swallowed.
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old_handlers[sig] = signal.signal(sig, self._on_signal)
            self._old_unraisable = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable
        return self.tmp

    def _on_unraisable(self, info) -> None:
        # The stop raised inside a __del__ or a weakref callback is printed there and dropped:
        # not printed here (check() and __exit__ raise it again); anything else as before.
        if not (self.signal is not None and isinstance(info.exc_value, SystemExit)):
            self._old_unraisable(info)

    def _on_signal(self, signum, frame):
        self.signal = signum
        raise SystemExit(128 + signum)

    def check(self) -> None:
        """Raise ``SystemExit(128 + signal)`` if a SIGINT or SIGTERM arrived (even one swallowed since)."""
        if self.signal is not None:
            raise SystemExit(128 + self.signal)

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.tmp is not None
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        if self._old_handlers:
            sys.unraisablehook = self._old_unraisable
        self._old_handlers.clear()
        swallowed = exc_type is None and self.signal is not None
        try:
            if exc_type is not None or swallowed:
                if self.resumable:
                    if self.tmp.exists():  # INFO: the job's own error or stop message says so
                        logger.info("%s kept: rerun the same command to resume", self.tmp)
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)
                if swallowed:  # the stop was printed and dropped on its way up: it still is one
                    raise SystemExit(128 + self.signal)
                return False
            (self.tmp / self.OWNER_FILE).unlink(missing_ok=True)
            if self.path.exists():
                if not self.overwrite:
                    raise FileExistsError(
                        f"{str(self.path)!r} appeared while this job ran and was left alone; this job's result "
                        f"is in {str(self.tmp)!r}"
                    )
                old = self.path.with_name(f".{self.path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(self.path, old)
                os.replace(self.tmp, self.path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                # rename() onto an empty folder that appeared meanwhile would
                # succeed silently; mkdir-then-check is not atomic either, so
                # rely on the lock among our jobs and on this last check.
                os.rename(self.tmp, self.path)
            return False
        finally:
            self._unlock()

    def __del__(self):
        self._unlock()



def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Manifest:
    """The record of a resumable job, in its partial folder: what the job is, and each unit done with its checksum.

    Written before the first unit and after each one, atomically (a crash
    leaves the old record or the new, never half of one). A rerun of the same
    job reads it back and skips the units whose data on disk still match
    their SHA-256; a rerun of another job (other parameters, or the input
    changed) is refused, so that nothing of two jobs is mixed.

    Parameters
    ----------
    folder : Path
        The job's partial folder (:class:`OutputDir` with ``resumable``).
    job : dict
        What identifies the job (JSON-able): its input, parameters and layout.

    Raises
    ------
    FileExistsError
        When ``folder`` holds the record of another job.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> m = Manifest(folder, {"algorithm": "fbp"})
    >>> m.record("0:2", np.zeros((2, 4, 4)))
    >>> Manifest(folder, {"algorithm": "fbp"}).verified("0:2", np.zeros((2, 4, 4)))
    True
    """

    NAME = "manifest.json"

    def __init__(self, folder: Path, job: dict):
        self.path, self.job = Path(folder) / self.NAME, job
        self.done: dict[str, dict] = {}
        if self.path.is_file():
            old = json.loads(self.path.read_text())
            if _as_json(old.get("job")) != _as_json(job):
                raise FileExistsError(
                    f"{str(folder)!r} holds a partial run with other parameters or input; rerun it as it was, or "
                    "pass --overwrite to discard it"
                )
            self.done = old.get("slabs", {})
        self._write()

    @staticmethod
    def checksum(block: np.ndarray) -> str:
        """SHA-256 of ``block`` as float32."""
        return hashlib.sha256(np.ascontiguousarray(block, np.float32).tobytes()).hexdigest()

    @classmethod
    def units_in(cls, folder: Path) -> list[str]:
        """The units a partial folder records as done, whatever its job (none where it has no readable record)."""
        try:
            return list(json.loads((Path(folder) / cls.NAME).read_text()).get("slabs", {}))
        except (OSError, ValueError, AttributeError):
            return []

    def verified(self, key: str, block: np.ndarray | None) -> bool:
        """Whether ``key`` is recorded and ``block`` (read back; None: unreadable) matches; if not, it is forgotten."""
        entry = self.done.get(key)
        if entry is not None and block is not None and self.checksum(block) == entry.get("sha256"):
            return True
        self.done.pop(key, None)
        return False

    def record(self, key: str, block: np.ndarray) -> None:
        """``key`` is done, with these data."""
        self.done[key] = {"sha256": self.checksum(block)}
        self._write()

    def _write(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"job": self.job, "slabs": self.done}, indent=2, default=str) + "\n")
        os.replace(tmp, self.path)


def _as_json(value):
    """``value`` as it reads back from JSON (tuples as lists, paths as strings), to compare jobs."""
    return json.loads(json.dumps(value, default=str))


class StackWriter:
    """Write a 3D stack block by block: TIFFs ``NAME_00000.tiff, ...`` or one ``NAME.h5``.

    Blocks may arrive in any order; each goes straight to disk, so memory
    holds one block, never the stack.

    Parameters
    ----------
    folder : Path
    name : str
        File stem.
    fmt : {'tiff', 'h5'}
    shape : (int, int, int)
        The whole stack, for the HDF5 dataset.
    """

    def __init__(self, folder: Path, name: str, fmt: str, shape: tuple[int, int, int], resume: bool = False):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(map(repr, FORMATS))}, got {fmt!r}")
        self.folder, self.name, self.fmt, self.shape = Path(folder), name, fmt, tuple(int(n) for n in shape)
        self._h5 = None
        if fmt == "h5":
            import h5py

            path = self.folder / f"{name}.h5"
            if resume and path.is_file():
                try:
                    self._h5 = h5py.File(path, "a", rdcc_nbytes=0)
                    self._dset = self._h5["data"]
                except (OSError, KeyError, RuntimeError) as exc:  # left damaged by a failed write: start it again
                    logger.warning("%s cannot be reopened (%s): its slabs are computed again", path, exc)
                    self._h5 = None
                else:
                    if self._dset.shape != self.shape:
                        raise ValueError(f"{str(path)!r} holds shape {self._dset.shape}, not {self.shape}")
                    return
            # No chunk cache: a chunk is a whole slice, written once, and a write that fails (a full
            # disk) then fails in the call, not later from the cache, when freeing the objects
            # crashed the process (seen: a segmentation fault after HDF5's RuntimeError).
            self._h5 = h5py.File(path, "w", rdcc_nbytes=0)
            chunks = (1, *self.shape[1:]) if self.shape[0] else None
            self._dset = self._h5.create_dataset("data", shape=self.shape, dtype=np.float32, chunks=chunks,
                                                 compression="gzip")  # fmt: skip

    def read(self, start: int, stop: int) -> np.ndarray | None:
        """Slices ``start .. stop - 1`` as written, or None where any is missing or unreadable."""
        if self.fmt == "h5":
            try:
                self._h5.flush()
                return np.asarray(self._dset[start:stop], np.float32)
            except (OSError, RuntimeError):  # damaged by a failed write
                return None
        import tifffile

        try:
            return np.stack(
                [tifffile.imread(self.folder / f"{self.name}_{i:05d}.tiff") for i in range(start, stop)]
            ).astype(np.float32)
        except (OSError, ValueError):
            return None

    def write(self, start: int, block: np.ndarray) -> None:
        """Write ``block`` (k, ...) as slices ``start .. start + k - 1``."""
        block = np.asarray(block, np.float32)
        try:
            if self.fmt == "tiff":
                import tifffile  # dxchange's names (NAME_00000.tiff), without needing dxchange

                for i, img in enumerate(block, start=int(start)):
                    tifffile.imwrite(self.folder / f"{self.name}_{i:05d}.tiff", img)
            else:
                self._dset[start : start + block.shape[0]] = block
                self._h5.flush()  # a crash after this keeps the block for a resumed run
        except (OSError, RuntimeError) as exc:  # no space, quota, I/O: HDF5 says RuntimeError
            self._abandon()
            raise OSError(f"writing slices {start}:{start + block.shape[0]} into {str(self.folder)!r} failed: "
                          f"{_cause(exc, self.folder, block.nbytes)}") from None  # fmt: skip

    def _abandon(self) -> None:
        """Let go of an HDF5 file a write failed in, so that nothing touches it again on the way out.

        Its partial slabs are checked against the manifest on a rerun, which
        starts the file again if it cannot be reopened.
        """
        if self._h5 is None:
            return
        h5, self._h5, self._dset = self._h5, None, None
        try:
            h5.close()
        except Exception:  # noqa: BLE001  (it is being let go of: any error is the one already reported)
            pass

    def close(self) -> list[str]:
        """Finish; returns the file names written, relative to the folder."""
        if self._h5 is not None:
            try:
                self._h5.close()
            except (OSError, RuntimeError) as exc:
                self._abandon()
                raise OSError(f"closing {str(self.folder / (self.name + '.h5'))!r} failed: "
                              f"{_cause(exc, self.folder, 0)}") from None  # fmt: skip
            self._h5 = None
            return [f"{self.name}.h5"]
        return sorted(p.name for p in self.folder.glob(f"{self.name}_*.tiff"))


def _cause(exc: BaseException, folder: Path, nbytes: int) -> str:
    """What went wrong with a write, said plainly where it is the disk."""
    import errno

    full = getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc)
    try:
        full = full or shutil.disk_usage(folder).free < max(nbytes, 1)
    except OSError:
        pass
    if full:
        return "no space left on its disk (or the quota is used up); free some space and rerun to resume"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; rerun to resume"


def write_stack(data: np.ndarray, folder: Path, name: str, fmt: str = "tiff") -> list[str]:
    """Write a 3D array as a TIFF stack (one file per slice, through dxchange) or one HDF5 file.

    Returns the file names written, relative to ``folder``.
    """
    writer = StackWriter(folder, name, fmt, np.shape(data))
    writer.write(0, data)
    return writer.close()


def write_params(folder: Path, params: dict) -> None:
    """Record every parameter of a run as ``params.json``."""
    (folder / "params.json").write_text(json.dumps(params, indent=2, default=str) + "\n")


def write_named_slices(folder: Path, images: dict[str, np.ndarray]) -> list[str]:
    """Write each 2D image as ``folder / (name + '.tiff')``, float32; returns the file names."""
    import tifffile

    names = []
    for name, img in images.items():
        tifffile.imwrite(Path(folder) / f"{name}.tiff", np.asarray(img, np.float32))
        names.append(f"{name}.tiff")
    return names


def write_contact_sheet(path: Path, images: dict[str, np.ndarray], title: str = "") -> None:
    """One PNG of 2D images in a grid, each titled by its key, on one grey scale (1st-99th percentile of all)."""
    from matplotlib.figure import Figure  # only here: matplotlib is slow to import

    n = len(images)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    stack = np.stack(list(images.values()))
    lo, hi = (float(v) for v in np.percentile(stack, [1, 99]))
    fig = Figure(figsize=(2.4 * cols, 2.5 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (name, img) in zip(axes, images.items()):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)

