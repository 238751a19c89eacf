"""Child processes that stop when the process that started them dies, however it died.

A supervisor (``orderrouter up``, ``orderrouter worker``) stops its children when it is told to;
when it is SIGKILLed or crashes it cannot, and children that run in a session of their own would
keep serving, consuming and holding their ports. On Linux the kernel can send a child a signal
when its parent dies (``prctl(PR_SET_PDEATHSIG)``); it must be asked from inside the child, so the
command runs under a short launcher that asks, checks that the parent did not die meanwhile, and
then ``exec``s the command (same process id, same command line, the request kept across exec).
Elsewhere the command runs as given.

The kernel counts the parent *thread*: start such children from a thread that outlives them (the
main thread of an entry point).
"""
from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1

# argv: expected parent pid, signal number, the command. Exit 0 at once if the parent is already
# gone (its death signal would never come): nobody is left to want the child.
_LAUNCHER = (
    "import ctypes, os, sys\n"
    "parent, signum, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]\n"
    f"if ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, signum, 0, 0, 0) != 0:\n"
    "    raise OSError(ctypes.get_errno(), 'prctl(PR_SET_PDEATHSIG) failed')\n"
    "if os.getppid() != parent:\n"
    "    sys.exit(0)\n"
    "os.execvp(argv[0], argv)\n"
)


def tied_to_this_process(argv: list[str], signum: int = signal.SIGTERM) -> list[str]:
    """``argv`` run so that the child gets ``signum`` (default SIGTERM, so it stops gracefully) when
    the calling process dies. Returns ``argv`` unchanged off Linux."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _LAUNCHER, str(os.getpid()), str(int(signum)), *argv]
