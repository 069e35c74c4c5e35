"""Child processes, one way (layer 2, I/O): spawn, read a line, drain stderr, stop.

Every program wslab runs beside the kernel (a process server, redis-server, nginx,
the GIL lab's client, the scaling lab's client fleet, the benchmark's peers) is a
:class:`Child`.  The rules, in one place:

* A child dies with its parent.  On Linux each child asks the kernel for SIGTERM
  when its parent dies (``prctl(PR_SET_PDEATHSIG)``, set between fork and exec),
  so a kernel that is SIGKILLed or crashes leaves nothing running.  The kernel
  sends that signal when the *thread* that forked the child ends, so every child
  is forked by one long-lived thread (``wslab-spawn``).  Each child also gets a
  session of its own: a Ctrl-C in a terminal reaches the parent, not its children.
* stdout is read as lines by a thread into a bounded queue;
  :meth:`Child.readline` waits for the next one at most ``timeout`` seconds and
  raises :class:`ChildTimeout` (or :class:`ChildExited` when the output ended).
* stderr is drained all the time by a thread into a buffer bounded in bytes
  (:attr:`Child.stderr_tail`): a pipe nobody reads fills at about 64 KiB and then
  blocks the child for ever.
* :meth:`Child.stop` escalates with a timeout at each step: close stdin (a child
  that reads commands from it takes that as "finish"), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import IO

from .errors import LabTimeout, ServerStartError

__all__ = ["Child", "ChildExited", "ChildTimeout", "python_argv", "spawn", "work_dir", "work_root"]

TAIL_BYTES = 64 << 10      # what stderr_tail keeps (the newest bytes)
LINE_BYTES = 64 << 20      # the longest stdout line a child may send
QUEUED_LINES = 10_000      # stdout lines waiting to be read (then the child waits)
SPAWN_TIMEOUT = 60.0       # seconds a fork and exec may take
_PR_SET_PDEATHSIG = 1


class ChildExited(ServerStartError):
    """A child's output ended (it exited) while a line was expected; names its stderr tail."""


class ChildTimeout(LabTimeout):
    """A child did not print the expected line in time."""


def _die_with_parent(parent: int, sig: int) -> Callable[[], None] | None:
    """The ``preexec_fn`` that makes the child get ``sig`` when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    prctl = libc.prctl

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os._exit(1)

    return preexec


class _Spawner:
    """One daemon thread that forks every child (PR_SET_PDEATHSIG follows the forking
    thread, so a short-lived thread must never be a child's parent)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]],
                                      queue.Queue[object]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="wslab-spawn",
                                                daemon=True)
                self._thread.start()
        answer: queue.Queue[object] = queue.Queue(maxsize=1)
        self._jobs.put((make, answer))
        try:
            result = answer.get(timeout=SPAWN_TIMEOUT)
        except queue.Empty:
            raise ChildTimeout(f"no child process started within {SPAWN_TIMEOUT} s") from None
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, subprocess.Popen)
        return result

    def _loop(self) -> None:
        while True:
            make, answer = self._jobs.get()
            try:
                answer.put(make())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                answer.put(exc)


_spawner = _Spawner()


class Child:
    """A program running as a child process of this one (layer 2).  Create it with :func:`spawn`.

    ``what`` names it in errors ("the server process", "redis-server").
    """

    def __init__(self, argv: Sequence[str], *, what: str, cwd: str | None = None,
                 env: dict[str, str] | None = None, stdin: bool = True,
                 merge_stderr: bool = False, tail_bytes: int = TAIL_BYTES,
                 death_signal: int = signal.SIGTERM) -> None:
        if not argv:
            raise ValueError("argv names the program to run, got an empty list")
        if isinstance(tail_bytes, bool) or not isinstance(tail_bytes, int) or tail_bytes < 1:
            raise ValueError(f"tail_bytes is a positive integer, got {tail_bytes!r}")
        self.what = what
        self.argv = [str(a) for a in argv]
        self._tail = bytearray()
        self._tail_max = tail_bytes
        self._tail_lock = threading.Lock()
        self._lines: queue.Queue[bytes | None] = queue.Queue(maxsize=QUEUED_LINES)
        self._ended = False
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        preexec = _die_with_parent(os.getpid(), death_signal)

        def make() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                self.argv, cwd=cwd, env=env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                start_new_session=True, preexec_fn=preexec)

        try:
            self.proc = _spawner.run(make)
        except OSError as exc:
            raise ServerStartError(f"cannot start {what} ({self.argv[0]}): {exc}") from exc
        self.pid = self.proc.pid
        self._readers: list[tuple[threading.Thread, IO[bytes]]] = []  # each with its pipe
        assert self.proc.stdout is not None
        if merge_stderr:  # everything it prints is its log
            self._drainer = self._thread(self._drain, self.proc.stdout, "output")
            self._lines.put(None)
        else:
            self._thread(self._read_lines, self.proc.stdout, "stdout")
            assert self.proc.stderr is not None
            self._drainer = self._thread(self._drain, self.proc.stderr, "stderr")

    def _thread(self, target: Callable[[IO[bytes]], None], stream: IO[bytes],
                label: str) -> threading.Thread:
        t = threading.Thread(target=target, args=(stream,), daemon=True,
                             name=f"wslab-child-{self.pid}-{label}")
        t.start()
        self._readers.append((t, stream))
        return t

    # --- reading -------------------------------------------------------------------
    def _read_lines(self, stream: IO[bytes]) -> None:
        try:
            while line := stream.readline(LINE_BYTES + 1):
                if len(line) > LINE_BYTES:
                    self._note(b"[wslab: a stdout line over the limit was dropped]\n")
                    while line and not line.endswith(b"\n"):
                        line = stream.readline(LINE_BYTES)
                    continue
                self._put(line)
        except (OSError, ValueError):
            pass
        finally:
            self._put(None)

    def _put(self, line: bytes | None) -> None:
        while not self._stopping.is_set():  # a full queue makes the child wait, not us
            with contextlib.suppress(queue.Full):
                self._lines.put(line, timeout=0.1)
                return

    def _drain(self, stream: IO[bytes]) -> None:
        read = getattr(stream, "read1", stream.read)
        try:
            while chunk := read(4096):
                self._note(chunk)
        except (OSError, ValueError):
            pass

    def _note(self, chunk: bytes) -> None:
        with self._tail_lock:
            self._tail += chunk
            if len(self._tail) > self._tail_max:
                del self._tail[:len(self._tail) - self._tail_max]

    @property
    def stderr_tail(self) -> str:
        """The newest bytes the child wrote to stderr (at most ``tail_bytes``), as text.

        Once the child has exited, everything it wrote is in it: the draining thread is
        given up to a second to read the pipe to its end first."""
        if self.proc.poll() is not None and self._drainer is not threading.current_thread():
            self._drainer.join(1.0)
        with self._tail_lock:
            return self._tail.decode("utf-8", "replace")

    def tail_lines(self, n: int = 10) -> list[str]:
        """The last ``n`` lines of :attr:`stderr_tail`."""
        return self.stderr_tail.splitlines()[-n:]

    def readline(self, timeout: float) -> str:
        """The next line the child printed on stdout, without its newline.

        :class:`ChildTimeout` after ``timeout`` seconds without one,
        :class:`ChildExited` when its stdout has ended."""
        if self._ended:
            raise self._exited()
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise ChildTimeout(f"{self.what} printed no line within {timeout} s") from None
        if line is None:
            self._ended = True
            raise self._exited()
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def _exited(self) -> ChildExited:
        code = self.proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(1)
        status = "still running" if code is None else f"exit status {code}"
        tail = "\n  ".join(self.tail_lines()) or "(nothing)"
        return ChildExited(f"{self.what} closed its output ({status}); its stderr:\n  {tail}")

    def write_line(self, text: str) -> None:
        """Send one line to the child's stdin (BrokenPipeError if it is gone)."""
        stdin = self.proc.stdin
        if stdin is None:
            raise ValueError(f"{self.what} was started without stdin")
        with self._write_lock:
            stdin.write(text.encode() + b"\n")
            stdin.flush()

    # --- life cycle ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit (ChildTimeout after ``timeout`` seconds)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise ChildTimeout(f"{self.what} did not exit within {timeout} s") from None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child if it still runs."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def stop(self, timeout: float = 5.0, *, close_stdin: bool = True) -> int:
        """End the child: close stdin and wait ``timeout`` s, then SIGTERM and wait,
        then SIGKILL; join the reading threads and close the pipes.  Returns the exit
        status.  Safe to call twice.  ``close_stdin=False`` starts at SIGTERM."""
        steps: list[Callable[[], None]] = []
        if close_stdin and self.proc.stdin is not None:
            steps.append(self._close_stdin)
        steps += [lambda: self.signal(signal.SIGTERM), lambda: self.signal(signal.SIGKILL)]
        for step in steps:
            if self.proc.poll() is not None:
                break
            step()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        code = self.wait(timeout)  # SIGKILL cannot be refused; ChildTimeout if it hangs
        # What the child started in its process group (nginx's workers, a forgotten
        # `sleep`) ends with it: such a grandchild holds the pipes open, and nothing of a
        # stopped child may outlive it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._stopping.set()
        self._close_stdin()
        for t, stream in self._readers:
            if t is not threading.current_thread():
                t.join(timeout)  # it ends at EOF, now that the group is gone
            # closing a stream another thread still reads would wait for that read
            if not t.is_alive():
                with contextlib.suppress(OSError):
                    stream.close()
        return code

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL now (what a crash looks like to the child's clients), then clean up."""
        self.signal(signal.SIGKILL)
        return self.stop(timeout, close_stdin=False)

    def _close_stdin(self) -> None:
        if self.proc.stdin is not None:
            with self._write_lock, contextlib.suppress(OSError):
                self.proc.stdin.close()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<Child {self.what!r} pid={self.pid} {state}>"


# The reaper: waits for its stdin to end (this process exited, however: the kernel's end
# closes the pipe even on SIGKILL), lets the dying children go, then removes the folder.
_REAPER = ("import shutil, sys, time\n"
           "sys.stdin.buffer.read()\n"
           "for _ in range(20):\n"
           "    time.sleep(0.25)\n"
           "    shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
           "    if not __import__('os').path.exists(sys.argv[1]):\n"
           "        break\n")


class _WorkRoot:
    """One temporary folder per process for every child's files, removed by a reaper
    process when this process ends, however it ends (a SIGKILLed kernel runs no
    ``atexit`` and no ``finally``; its children die with it, their files would stay)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: str | None = None
        self._owner = 0
        self._reaper: subprocess.Popen[bytes] | None = None

    def path(self) -> str:
        with self._lock:
            if self._root is None or self._owner != os.getpid() or not os.path.isdir(self._root):
                root = tempfile.mkdtemp(prefix=f"wslab-{os.getpid()}-")
                # not a Child: the reaper must outlive this process, in its own session
                self._reaper = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _REAPER, root], stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True)
                self._root, self._owner = root, os.getpid()
            return self._root

    @property
    def reaper_pid(self) -> int | None:
        return None if self._reaper is None else self._reaper.pid


_work_root = _WorkRoot()


def work_dir(prefix: str) -> str:
    """A new private temporary folder for a child's files (config, logs, pid), inside
    this process's work root: removed when this process ends, however it ends (by a
    reaper process watching it), or earlier by whoever made it."""
    return tempfile.mkdtemp(prefix=f"{prefix}-", dir=_work_root.path())


def work_root() -> str:
    """This process's folder of children's files (see :func:`work_dir`)."""
    return _work_root.path()


def spawn(argv: Sequence[str], *, what: str, cwd: str | None = None,
          env: dict[str, str] | None = None, stdin: bool = True, merge_stderr: bool = False,
          tail_bytes: int = TAIL_BYTES, death_signal: int = signal.SIGTERM) -> Child:
    """Start ``argv`` as a :class:`Child` (see the module's rules)."""
    return Child(argv, what=what, cwd=cwd, env=env, stdin=stdin, merge_stderr=merge_stderr,
                 tail_bytes=tail_bytes, death_signal=death_signal)


def python_argv(module: str, *args: str) -> list[str]:
    """``[python, -m, module, *args]`` with this interpreter."""
    return [sys.executable, "-m", module, *args]
