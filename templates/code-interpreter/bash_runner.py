"""Bash contexts: one long-lived bash, so variables, functions and the directory persist.

Speaks the runner protocol of contexts.RunnerContext. Each execution is sourced from a file (stdin
stays ours); a marker written to stdout and stderr after it tells where its output ends.
"""
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import uuid

events = os.fdopen(int(os.environ["PORTAL_EVENTS_FD"]), "w", buffering=1)


def emit(**event):
    events.write(json.dumps(event) + "\n")


# A handler, not SIG_IGN: bash must start with SIGINT at its default so that it can trap it.
signal.signal(signal.SIGINT, lambda *_: None)
marker = "__portal_end_" + uuid.uuid4().hex
workdir = tempfile.mkdtemp(prefix="portal-bash-")
shell = subprocess.Popen(["/bin/bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
# SIGINT stops the foreground command, not the shell.
shell.stdin.write(b"trap ':' INT\n")
emit(type="done")

for request in sys.stdin:
    request = json.loads(request)
    path = os.path.join(workdir, "cell.sh")
    with open(path, "w") as f:
        f.write(request["code"] + "\n")
    shell.stdin.write(f"source {path} </dev/null; printf '%s:%d\\n' {marker} $?; printf '%s\\n' {marker} >&2\n".encode())
    pending = {shell.stdout: "stdout", shell.stderr: "stderr"}
    buffers = {shell.stdout: b"", shell.stderr: b""}
    exit_code = 0
    sel = selectors.DefaultSelector()
    for stream in pending:
        sel.register(stream, selectors.EVENT_READ)
    token = marker.encode()
    while pending:
        for key, _ in sel.select():
            stream = key.fileobj
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                emit(type="error", name="ShellExited", value="bash exited", traceback="")
                emit(type="done")
                sys.exit(1)
            data = buffers[stream] + chunk
            at = data.find(token)
            if at >= 0:
                text, rest = data[:at], data[at + len(token):]
                if pending[stream] == "stdout":
                    exit_code = int(rest.split(b"\n", 1)[0].lstrip(b":") or b"0")
                buffers[stream] = b""
                name = pending.pop(stream)
                sel.unregister(stream)
            else:
                # Hold back what may be the start of the marker; never split a UTF-8 sequence.
                keep = len(token) - 1
                text, buffers[stream] = data[:-keep], data[-keep:]
                while text and (text[-1] & 0xC0) == 0x80:
                    buffers[stream] = text[-1:] + buffers[stream]
                    text = text[:-1]
                if text and text[-1] >= 0xC0:
                    buffers[stream] = text[-1:] + buffers[stream]
                    text = text[:-1]
                name = pending[stream]
            if text and not request.get("silent"):
                emit(type=name, text=text.decode("utf-8", "replace"))
    sel.close()
    if exit_code != 0 and not request.get("silent"):
        emit(type="error", name="ExitCode", value=str(exit_code), traceback=f"the last command exited with status {exit_code}")
    emit(type="done")
