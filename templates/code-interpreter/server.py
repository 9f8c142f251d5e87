"""The code-interpreter server on port 49999: the HTTP API the E2B code-interpreter SDK calls.

Tornado (Debian's, already a dependency of ipykernel) serves the routes; contexts.py drives the
kernels. Written for this project rather than reusing E2B's server: that one needs a Jupyter
server, FastAPI with pydantic 2 and packages Debian does not ship.
"""
import asyncio
import json
import os
import signal
import sys

import tornado.iostream
import tornado.web

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import contexts as ctxs  # noqa: E402

PORT = int(os.environ.get("PORTAL_CODE_INTERPRETER_PORT", "49999"))
DEFAULT_CWD = "/home/user"
KEEPALIVE_SECONDS = 5
# After a client went away the run is interrupted; one that ignores the interrupt this long is
# ended by restarting its context, so the next execution is never blocked for good.
INTERRUPT_GRACE_SECONDS = 10
ENVD_SOCKET = "/run/portal/envd.sock"
# Longest stdout/stderr text per line on the wire (characters).
STREAM_CHUNK = 64 * 1024

MIME_FIELDS = {
    "text/plain": "text", "text/html": "html", "text/markdown": "markdown", "image/svg+xml": "svg",
    "image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf", "text/latex": "latex",
    "application/json": "json", "application/javascript": "javascript", "e2b/data": "data", "e2b/chart": "chart",
}


class State:
    def __init__(self):
        self.contexts = {}
        self.defaults = {}  # language -> context id
        self.default_locks = {}
        self.ready = False

    async def create(self, language, cwd):
        context = ctxs.new_context(language, cwd)
        try:
            await context.start()
        except Exception:
            await context.shutdown()
            raise
        self.contexts[context.id] = context
        return context

    async def default(self, language):
        lock = self.default_locks.setdefault(language, asyncio.Lock())
        async with lock:
            cid = self.defaults.get(language)
            if cid in self.contexts:
                return self.contexts[cid]
            context = await self.create(language, DEFAULT_CWD)
            self.defaults[language] = context.id
            return context


STATE = State()


def strip_quotes(text):
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def result_line(bundle, is_main):
    out = {"type": "result", "is_main_result": is_main}
    extra = {}
    for mime, value in bundle.items():
        field = MIME_FIELDS.get(mime)
        if field is None:
            extra[mime] = value
        elif field == "text":
            out["text"] = strip_quotes(value) if isinstance(value, str) else value
        else:
            out[field] = value
    if extra:
        out["extra"] = extra
    return out


async def fetch_global_envs(token):
    """The sandbox's env vars (those given at create) from envd: its socket, or TCP 49983 (pods)."""
    head = "GET /envs HTTP/1.0\r\nHost: envd\r\n" + (f"X-Access-Token: {token}\r\n" if token else "") + "\r\n"
    try:
        if os.path.exists(ENVD_SOCKET):
            reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(ENVD_SOCKET), 2)
        else:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", 49983), 2)
        writer.write(head.encode())
        raw = await asyncio.wait_for(reader.read(-1), 5)
        writer.close()
        header, _, body = raw.partition(b"\r\n\r\n")
        if b" 200 " not in header.split(b"\r\n")[0]:
            return {}
        envs = json.loads(body or b"{}")
        return {k: str(v) for k, v in envs.items() if ctxs.valid_env_key(k)} if isinstance(envs, dict) else {}
    except (OSError, ValueError, asyncio.TimeoutError):
        return {}


def indent_like(code, prefix_code):
    for line in code.splitlines():
        if line.strip():
            pad = line[: len(line) - len(line.lstrip())]
            return "\n".join(pad + p for p in prefix_code.splitlines()) + "\n"
    return prefix_code + "\n"


class Base(tornado.web.RequestHandler):
    def set_default_headers(self):
        self.set_header("Content-Type", "application/json")

    def fail(self, status, message):
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)

    def body_json(self):
        if not self.request.body:
            return {}
        try:
            value = json.loads(self.request.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def write_json(self, value):
        self.finish(json.dumps(value))


class Health(Base):
    def get(self):
        if not STATE.ready:
            return self.fail(503, "starting")
        self.write_json("OK")


class Contexts(Base):
    async def get(self):
        self.write_json([c.describe() for c in STATE.contexts.values()])

    async def post(self):
        body = self.body_json()
        if body is None:
            return self.fail(400, "The body must be a JSON object")
        language = ctxs.normalize_language(body.get("language"))
        cwd = body.get("cwd") or DEFAULT_CWD
        if not isinstance(cwd, str):
            return self.fail(400, "cwd must be a string")
        try:
            context = await STATE.create(language, cwd)
        except ctxs.UnknownLanguage:
            return self.fail(500, unknown_language_message(language))
        except Exception as e:
            return self.fail(500, f"Failed to create context: {e}")
        self.write_json(context.describe())


def unknown_language_message(language):
    return f"Failed to create context: no kernel for language '{language}' (available: {', '.join(ctxs.LANGUAGES)})"


class ContextRestart(Base):
    async def post(self, cid):
        context = STATE.contexts.get(cid)
        if context is None:
            return self.fail(404, f"Context {cid} not found")
        try:
            await context.restart()
        except Exception:
            return self.fail(500, f"Failed to restart context {cid}")
        self.write_json(None)


class ContextOne(Base):
    async def delete(self, cid):
        context = STATE.contexts.pop(cid, None)
        if context is None:
            return self.fail(404, f"Context {cid} not found")
        for language, default_id in list(STATE.defaults.items()):
            if default_id == cid:
                del STATE.defaults[language]
        try:
            await context.shutdown()
        except Exception:
            return self.fail(500, f"Failed to remove context {cid}")
        self.write_json(None)


class Execute(Base):
    def initialize(self):
        self.gone = asyncio.Event()

    def on_connection_close(self):
        self.gone.set()

    async def send(self, obj):
        """Writes one line; False once the client is gone (then nothing more is written)."""
        if self.gone.is_set():
            return False
        try:
            self.write(json.dumps(obj, default=str) + "\n")
            await self.flush()
            return True
        except tornado.iostream.StreamClosedError:
            self.gone.set()
            return False

    async def post(self):
        body = self.body_json()
        if body is None or not isinstance(body.get("code", ""), str):
            return self.fail(400, "The body must be a JSON object with a string 'code'")
        code = body.get("code") or ""
        cid, language = body.get("context_id"), body.get("language")
        env_vars = body.get("env_vars") or {}
        if cid and language:
            return self.fail(400, "Only one of context_id or language can be provided")
        if not isinstance(env_vars, dict) or not all(ctxs.valid_env_key(k) and isinstance(v, str) for k, v in env_vars.items()):
            return self.fail(400, "env_vars must map variable names (letters, digits, _) to strings")
        if cid:
            context = STATE.contexts.get(cid)
            if context is None:
                return self.fail(404, f"Context {cid} not found")
        else:
            language = ctxs.normalize_language(language)
            try:
                context = await STATE.default(language)
            except ctxs.UnknownLanguage:
                return self.fail(500, unknown_language_message(language))
            except Exception as e:
                return self.fail(500, f"Failed to create context: {e}")

        self.set_header("Content-Type", "application/x-ndjson")
        # Headers now: the client's request timeout runs until it sees them, while a run may wait for the lock.
        try:
            await self.flush()
        except tornado.iostream.StreamClosedError:
            return
        token = self.request.headers.get("X-Access-Token")
        async with context.lock:
            if self.gone.is_set():  # the client left while the run waited for the context
                return
            await self.run(context, code, env_vars, token)
        try:
            self.finish()
        except tornado.iostream.StreamClosedError:
            pass

    async def run(self, context, code, env_vars, token):
        # A kernel or runner that died since the last run (even kill -9) is replaced before this run,
        # not after it fails: the caller's next runCode waits one interpreter start, no more.
        if not await context.healthy():
            await context.restart()
        if not context.global_envs_applied:
            context.global_envs = await fetch_global_envs(token)
        setters = []
        if not context.global_envs_applied:
            setters += [ctxs.env_setter(context.language, k, v) for k, v in context.global_envs.items()]
        setters += [ctxs.env_setter(context.language, k, v) for k, v in env_vars.items()]
        if setters:
            code = indent_like(code, "\n".join(setters)) + code
        context.global_envs_applied = True

        events = context.execute(code).__aiter__()
        nxt = None
        client_gone_at = None
        try:
            while True:
                if nxt is None:
                    nxt = asyncio.ensure_future(events.__anext__())
                waiters = [nxt] if self.gone.is_set() else [nxt, asyncio.ensure_future(self.gone.wait())]
                done, pending = await asyncio.wait(waiters, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                for p in pending:
                    if p is not nxt:
                        p.cancel()
                if self.gone.is_set() and client_gone_at is None:
                    client_gone_at = asyncio.get_running_loop().time()
                    await self.safe(context.interrupt())
                if nxt not in done:
                    if client_gone_at is not None:
                        if asyncio.get_running_loop().time() - client_gone_at > INTERRUPT_GRACE_SECONDS:
                            nxt.cancel()
                            nxt = None
                            await self.safe(context.restart())
                            return
                    elif not done:
                        await self.send({"type": "keepalive"})
                    continue
                try:
                    event = nxt.result()
                except StopAsyncIteration:
                    break
                finally:
                    nxt = None
                for line in self.to_lines(event):
                    await self.send(line)
            await self.send({"type": "end_of_execution"})
        except Exception as e:
            await self.send({"type": "error", "name": "ServerError", "value": str(e), "traceback": ""})
            await self.send({"type": "end_of_execution"})
        finally:
            if nxt is not None:
                nxt.cancel()
            await self.safe(events.aclose())
        if env_vars:
            await self.cleanup_envs(context, env_vars)

    @staticmethod
    async def safe(awaitable):
        try:
            await awaitable
        except Exception:
            pass

    @staticmethod
    def to_lines(event):
        kind = event[0]
        if kind == "count":
            return [{"type": "number_of_executions", "execution_count": event[1]}]
        if kind in ("stdout", "stderr"):
            # A kernel batches output (megabytes at once for a fast printer); the SDK re-scans its
            # buffer for a newline on every network chunk, so one huge line costs it quadratic time.
            text = event[1]
            return [{"type": kind, "text": text[i:i + STREAM_CHUNK], "timestamp": event[2]}
                    for i in range(0, max(len(text), 1), STREAM_CHUNK)]
        if kind == "result":
            return [result_line(event[1], event[2])]
        return [{"type": "error", "name": event[1], "value": event[2], "traceback": event[3]}]

    async def cleanup_envs(self, context, env_vars):
        lines = []
        for key in env_vars:
            if key in context.global_envs:
                lines.append(ctxs.env_setter(context.language, key, context.global_envs[key]))
            else:
                lines.append(ctxs.env_unsetter(context.language, key))
        try:
            async for _ in context.execute("\n".join(lines), silent=True):
                pass
        except Exception:
            pass


async def supervise_kernels():
    """A killed kernel or runner process comes back: its context restarts (state is lost)."""
    while True:
        await asyncio.sleep(1)
        for context in list(STATE.contexts.values()):
            if context.lock.locked():  # a run in progress notices a death itself
                continue
            try:
                async with context.lock:  # never restarts beside a run that begins meanwhile
                    if not await context.healthy():
                        await context.restart()
            except Exception as e:
                print(f"restarting context {context.id} failed: {e}", file=sys.stderr, flush=True)


async def main():
    app = tornado.web.Application([
        (r"/health", Health),
        (r"/execute", Execute),
        (r"/contexts", Contexts),
        (r"/contexts/([^/]+)/restart", ContextRestart),
        (r"/contexts/([^/]+)", ContextOne),
    ], log_function=lambda handler: None)  # no access log: the sandbox's log is for failures
    ctxs.kill_leftovers()
    app.listen(PORT, address="0.0.0.0", idle_connection_timeout=640, max_body_size=256 * 1024 * 1024)
    # The two default contexts, as E2B's server: python (ready = health OK) and javascript.
    await STATE.default("python")
    STATE.ready = True
    print(f"code interpreter listening on {PORT}", file=sys.stderr, flush=True)
    try:
        await STATE.default("javascript")
    except Exception as e:
        print(f"javascript context failed to start: {e}", file=sys.stderr, flush=True)
    asyncio.ensure_future(supervise_kernels())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for context in list(STATE.contexts.values()):
        await context.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
