"""Every way a run can end other than success, each with its exit code (the CLI's contract).

0    done (or skipped: already completed)
2    bad input or setting, found before any work that could be lost
3    the loss diverged; the last finite image was kept
4    a file could not be written mid-run (disk full, folder removed, permission lost)
5    a folder run (content=DIR) finished, but skipped or failed some of its images; the others' results
     are kept (none stylised: 2, and nothing is left behind)
128+N  stopped by signal N (130 for Ctrl-C, 143 for SIGTERM); image and checkpoint kept
"""

from __future__ import annotations

import signal

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_WRITE_FAILED = 4
EXIT_INCOMPLETE = 5


class NSTError(Exception):
    """Reported as one line on stderr and ``exit_code``, never a traceback (unless debug=true)."""

    exit_code = EXIT_BAD_INPUT
    label = "error"  # nst: error: ...


class Diverged(NSTError):
    """The loss stopped being finite."""

    exit_code = EXIT_DIVERGED

    def __init__(self, value: float, evaluation: int) -> None:
        super().__init__(f"loss became {value} at evaluation {evaluation}")
        self.value = value


class WriteFailed(NSTError):
    """A file of the run could not be written: names the file and the cause."""

    exit_code = EXIT_WRITE_FAILED

    def __init__(self, path: object, error: OSError) -> None:
        super().__init__(f"cannot write {path}: {error.strerror or error}")
        self.path = path


class FolderIncomplete(NSTError):
    """A folder run ended after every image, but some were skipped (unreadable) or failed (diverged)."""

    exit_code = EXIT_INCOMPLETE


class Interrupted(NSTError):
    """SIGINT/SIGTERM, honoured at a step boundary so the checkpoint resumes exactly."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


class RunStopped(NSTError):
    """The run ended early after keeping what it could; the message says what was kept and where."""

    def __init__(self, message: str, exit_code: int, label: str = "error") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.label = label  # "stopped" for a stop the user asked for: not an error


class JobFailed(Exception):
    """One job of a multirun failed with an error (its line is already printed): the sweep goes on
    with the other jobs, then exits with the first failure's code. Picklable, for every launcher."""

    def __init__(self, message: str, exit_code: int, sweep_dir: str) -> None:
        super().__init__(message, exit_code, sweep_dir)
        self.exit_code, self.sweep_dir = exit_code, sweep_dir


_HELD: list[int] = []  # Ctrl-Cs that came during start-up (imports, Hydra making the run folder)


def _hold(signum: int, frame: object) -> None:
    _HELD.append(signum)


def hold_interrupts() -> None:
    """From here until :func:`release_interrupts`, Ctrl-C is recorded, not raised.

    A KeyboardInterrupt raised inside an import can be swallowed (a library's bare ``except:``, a
    finaliser the garbage collector runs at that moment): measured under load, one in a few dozen
    start-up Ctrl-Cs was lost and the run went on. A recorded one cannot be lost."""
    signal.signal(signal.SIGINT, _hold)


def interrupt_held() -> bool:
    return bool(_HELD)


def release_interrupts(raise_held: bool = True) -> None:
    """Ctrl-C raises KeyboardInterrupt again; one that came while held is raised now (if asked),
    where the caller can clean up."""
    if signal.getsignal(signal.SIGINT) is _hold:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if _HELD and raise_held:
        _HELD.clear()
        raise KeyboardInterrupt
