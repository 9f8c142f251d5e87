"""Execution contexts: one stateful interpreter each (a Jupyter kernel, or one of our runners).

Every context turns an execution into the same events, which server.py writes to the wire:
  ("count", n)            the execution's number (first, for non-silent runs)
  ("stdout"|"stderr", text, iso_timestamp)
  ("result", mime_bundle, is_main)
  ("error", name, value, traceback)
The async iterator ends when the execution is over.
"""
import asyncio
import datetime
import json
import os
import signal
import sys
import uuid

from jupyter_client.manager import AsyncKernelManager

HERE = os.path.dirname(os.path.abspath(__file__))
# IPython reads its profile (display formatters, no colours) from here: see ipython/.
IPYTHONDIR = os.path.join(HERE, "ipython")

# Jupyter kernel names per language: Debian's packages register "python3" and "ir".
JUPYTER_KERNELS = {"python": "python3", "r": "ir"}
RUNNER_LANGUAGES = ("javascript", "typescript", "bash")
LANGUAGES = tuple(JUPYTER_KERNELS) + RUNNER_LANGUAGES


# Set in every kernel's and runner's environment (and so their children's): a restarted server
# finds what a killed one left behind by it (kill_leftovers).
OWNER_MARK = b"PORTAL_CODE_INTERPRETER_CONTEXT=1"


def kill_leftovers():
    """Kills the interpreters of a previous server: their contexts died with it."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if OWNER_MARK in f.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def context_env():
    env = dict(os.environ)
    env["PORTAL_CODE_INTERPRETER_CONTEXT"] = "1"
    return env


class UnknownLanguage(Exception):
    pass


def normalize_language(language):
    language = (language or "python").strip().lower()
    return {"js": "javascript", "ts": "typescript"}.get(language, language)


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()




def env_setter(language, key, value):
    if language == "python":
        return f"import os; os.environ[{key!r}] = {str(value)!r}"
    if language in ("javascript", "typescript"):
        return f"process.env[{json.dumps(key)}] = {json.dumps(value)};"
    if language == "r":
        return f"Sys.setenv({json.dumps(key)} = {json.dumps(value)})"
    if language == "bash":
        return f"export {key}='" + str(value).replace("'", "'\\''") + "'"
    raise UnknownLanguage(language)


def env_unsetter(language, key):
    if language == "python":
        return f"import os; os.environ.pop({key!r}, None)"
    if language in ("javascript", "typescript"):
        return f"delete process.env[{json.dumps(key)}];"
    if language == "r":
        return f"Sys.unsetenv({json.dumps(key)})"
    if language == "bash":
        return f"unset {key}"
    raise UnknownLanguage(language)


def valid_env_key(key):
    return isinstance(key, str) and key != "" and all(c.isalnum() or c == "_" for c in key) and not key[0].isdigit()


class Context:
    """Base: a lock serialises executions; env vars of the sandbox are applied on first use."""

    def __init__(self, language, cwd):
        self.id = str(uuid.uuid4())
        self.language = language
        self.cwd = cwd
        self.lock = asyncio.Lock()
        self.global_envs_applied = False
        self.global_envs = {}

    def describe(self):
        return {"id": self.id, "language": self.language, "cwd": self.cwd}

    async def start(self):
        raise NotImplementedError

    def execute(self, code, silent=False):
        raise NotImplementedError

    async def interrupt(self):
        raise NotImplementedError

    async def restart(self):
        raise NotImplementedError

    async def shutdown(self):
        raise NotImplementedError

    async def healthy(self):
        return True


class JupyterContext(Context):
    """A Jupyter kernel driven over its ZeroMQ channels with Debian's jupyter_client (no Jupyter server)."""

    def __init__(self, language, cwd):
        super().__init__(language, cwd)
        self.km = AsyncKernelManager(kernel_name=JUPYTER_KERNELS[language])
        self.kc = None
        self.waiters = {}  # msg_id -> asyncio.Queue of messages (iopub + shell replies)
        self.readers = []
        self.restarting = False

    async def start(self):
        if not os.path.isdir(self.cwd):
            raise RuntimeError(f"cwd '{self.cwd}' is not a directory")
        env = context_env()
        env["IPYTHONDIR"] = IPYTHONDIR
        env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        env["PYTHONPATH"] = HERE + os.pathsep + env.get("PYTHONPATH", "")
        # ipykernel's debugger otherwise warns about frozen modules on every kernel start.
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        await self.km.start_kernel(cwd=self.cwd, env=env)
        await self._connect()

    async def _connect(self):
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=60)
        self.readers = [asyncio.ensure_future(self._read(self.kc.get_iopub_msg)),
                        asyncio.ensure_future(self._read(self.kc.get_shell_msg))]

    async def _read(self, get):
        while True:
            try:
                msg = await get()
            except asyncio.CancelledError:
                raise
            except Exception:  # a closed channel during restart/shutdown
                await asyncio.sleep(0.05)
                continue
            parent = (msg.get("parent_header") or {}).get("msg_id")
            queue = self.waiters.get(parent)
            if queue is not None:
                queue.put_nowait(msg)

    def _disconnect(self):
        for r in self.readers:
            r.cancel()
        self.readers = []
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None

    async def healthy(self):
        return await self.km.is_alive()

    async def execute(self, code, silent=False):
        queue = asyncio.Queue()
        msg_id = self.kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False, stop_on_error=True)
        self.waiters[msg_id] = queue
        error_sent = False
        idle = replied = False
        try:
            while not (idle and replied):
                try:
                    # Once idle, the reply (another socket) is due at once; a dead kernel sends neither.
                    msg = await asyncio.wait_for(queue.get(), timeout=2 if idle else 1)
                except asyncio.TimeoutError:
                    if idle:
                        break
                    if not await self.km.is_alive():
                        yield ("error", "DeadKernelError", "The kernel died during the execution", "")
                        return
                    continue
                kind = msg["header"]["msg_type"]
                content = msg["content"]
                if kind == "execute_input":
                    if not silent:
                        yield ("count", content.get("execution_count"))
                elif kind == "stream":
                    date = msg["header"].get("date")
                    stamp = date.isoformat() if hasattr(date, "isoformat") else (date or now_iso())
                    yield ("stdout" if content.get("name") == "stdout" else "stderr", content.get("text", ""), stamp)
                elif kind in ("execute_result", "display_data"):
                    yield ("result", content.get("data") or {}, kind == "execute_result")
                elif kind == "error":
                    if not error_sent:
                        error_sent = True
                        yield ("error", content.get("ename", ""), content.get("evalue", ""), "\n".join(content.get("traceback") or []))
                elif kind == "execute_reply":
                    replied = True
                    status = content.get("status")
                    if status == "error" and not error_sent:
                        error_sent = True
                        yield ("error", content.get("ename", ""), content.get("evalue", ""), "\n".join(content.get("traceback") or []))
                    elif status == "aborted" and not error_sent:
                        error_sent = True
                        yield ("error", "ExecutionAborted", "Execution was aborted", "")
                elif kind == "status":
                    state = content.get("execution_state")
                    if state == "idle":
                        idle = True
                    elif state == "restarting":
                        yield ("error", "ContextRestarting", "Context was restarted", "")
                        return
        finally:
            self.waiters.pop(msg_id, None)

    async def interrupt(self):
        await self.km.interrupt_kernel()

    async def restart(self):
        self._disconnect()
        for queue in list(self.waiters.values()):
            queue.put_nowait({"header": {"msg_type": "status"}, "content": {"execution_state": "restarting"}})
        await self.km.restart_kernel(now=True)
        await self._connect()
        self.global_envs_applied = False

    async def shutdown(self):
        self._disconnect()
        try:
            await self.km.shutdown_kernel(now=True)
        except Exception:
            pass


class RunnerContext(Context):
    """JavaScript/TypeScript (js-runner.mjs on Node) and bash, where Debian packages no Jupyter kernel.

    The runner reads one JSON request per line on stdin and writes JSON events on the descriptor named by PORTAL_EVENTS_FD:
    {"type": "stdout"|"stderr", "text"}, {"type": "result", "data"}, {"type": "error", "name", "value",
    "traceback"}, {"type": "done"}. Its own stdout/stderr (child processes) are forwarded as output too.
    """

    def __init__(self, language, cwd):
        super().__init__(language, cwd)
        self.proc = None
        self.events = None
        self.count = 0
        self.pumps = []

    def _command(self):
        if self.language == "bash":
            return ["/usr/bin/python3", os.path.join(HERE, "bash_runner.py")]
        return ["/usr/bin/node", os.path.join(HERE, "js-runner.mjs"), self.language]

    async def start(self):
        if not os.path.isdir(self.cwd):
            raise RuntimeError(f"cwd '{self.cwd}' is not a directory")
        read_fd, write_fd = os.pipe()
        env = context_env()
        env["NODE_PATH"] = "/usr/share/nodejs:/usr/lib/nodejs"
        env["PORTAL_EVENTS_FD"] = str(write_fd)
        self.proc = await asyncio.create_subprocess_exec(
            *self._command(), cwd=self.cwd, env=env, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            pass_fds=(write_fd,), start_new_session=True)
        os.close(write_fd)
        self.events = asyncio.Queue()
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 30)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        self.pumps = [asyncio.ensure_future(self._pump_events(reader)),
                      asyncio.ensure_future(self._pump_raw(self.proc.stdout, "stdout")),
                      asyncio.ensure_future(self._pump_raw(self.proc.stderr, "stderr"))]
        # The runner says it is ready with one "done" event before any request.
        first = await asyncio.wait_for(self.events.get(), timeout=60)
        if first.get("type") != "done":
            raise RuntimeError(f"the {self.language} runner did not start: {first}")

    async def _pump_events(self, reader):
        while True:
            line = await reader.readline()
            if not line:
                self.events.put_nowait({"type": "exit"})
                return
            try:
                self.events.put_nowait(json.loads(line))
            except ValueError:
                pass

    async def _pump_raw(self, stream, name):
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            self.events.put_nowait({"type": name, "text": chunk.decode("utf-8", "replace")})

    async def healthy(self):
        return self.proc is not None and self.proc.returncode is None

    async def execute(self, code, silent=False):
        while not self.events.empty():  # late output of an earlier, interrupted run
            self.events.get_nowait()
        self.proc.stdin.write((json.dumps({"code": code, "silent": silent}) + "\n").encode())
        await self.proc.stdin.drain()
        if not silent:
            self.count += 1
            yield ("count", self.count)
        while True:
            event = await self.events.get()
            kind = event.get("type")
            if kind == "done":
                return
            if kind == "exit":
                yield ("error", "RunnerExited", f"The {self.language} runner exited during the execution", "")
                return
            if silent:
                continue
            if kind in ("stdout", "stderr"):
                yield (kind, event.get("text", ""), now_iso())
            elif kind == "result":
                yield ("result", event.get("data") or {}, True)
            elif kind == "display":
                yield ("result", event.get("data") or {}, False)
            elif kind == "error":
                yield ("error", event.get("name", ""), event.get("value", ""), event.get("traceback", ""))

    async def interrupt(self):
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.language == "bash":
            # The shell traps SIGINT; the command in the foreground (same group) stops.
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        else:
            # Node cannot stop a running script from outside: the runner is restarted (state is lost).
            await self.restart()

    async def restart(self):
        await self.shutdown()
        self.count = 0
        self.global_envs_applied = False
        await self.start()

    async def shutdown(self):
        for p in self.pumps:
            p.cancel()
        self.pumps = []
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self.proc.wait()
        if self.events is not None:
            self.events.put_nowait({"type": "exit"})


def new_context(language, cwd):
    if language in JUPYTER_KERNELS:
        return JupyterContext(language, cwd)
    if language in RUNNER_LANGUAGES:
        return RunnerContext(language, cwd)
    raise UnknownLanguage(language)
