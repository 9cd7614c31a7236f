#!/usr/bin/env python3
"""pty_answers.py: runs a command on a pseudo-terminal and types answers.

usage: pty_answers.py 'ANSWER|ANSWER|...' COMMAND [ARGS...]

Each answer is typed once a new prompt (output ending in "] " or ": ") has
appeared since the previous one. Prints everything the command wrote, with
the terminal's CRLF turned back into LF, and exits with its status."""
import os
import pty
import select
import sys
import time


def main():
    answers = sys.argv[1].split("|") if sys.argv[1] else []
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[2], sys.argv[2:])
    out = b""
    mark = 0

    def pump(timeout):
        nonlocal out
        r, _, _ = select.select([fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:
            return False
        out += data
        return bool(data)

    for answer in answers:
        deadline = time.time() + 10
        while time.time() < deadline:
            tail = out[mark:]
            if tail.endswith(b"] ") or tail.endswith(b": "):
                break
            if not pump(0.2):
                deadline = 0
        if deadline == 0:
            break
        os.write(fd, answer.encode() + b"\n")
        mark = len(out)
        # Skip past the terminal's echo of the answer.
        echo = answer.encode() + b"\r\n"
        deadline = time.time() + 5
        while echo not in out[mark:] and time.time() < deadline:
            if not pump(0.2):
                break
        found = out.find(echo, mark)
        mark = found + len(echo) if found >= 0 else len(out)
    deadline = time.time() + 30
    while time.time() < deadline and pump(0.5):
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 99


if __name__ == "__main__":
    sys.exit(main())
