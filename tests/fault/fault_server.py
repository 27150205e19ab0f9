"""An OpenAI-compatible loopback server that injects faults: hangs, 5xx, 429 with Retry-After,
malformed and error bodies, answers without choices, bodies cut off, connection resets.

``plan(prompt, attempt) -> fault or None`` decides each request (``attempt``: 0 for the first
time this prompt is seen); None answers properly, with ``answer(prompt)``. ``log`` records every
request as (prompt, attempt, fault)."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("hang", "500", "503", "429", "malformed", "error", "no-choices", "cut", "reset")


class FaultServer:
    def __init__(self, plan, answer, hang_s: float = 2.0, mode: str = "generative"):
        self.plan, self.answer, self.hang_s, self.mode = plan, answer, hang_s, mode
        self.log: list[tuple[str, int, str | None]] = []
        self.attempts: Counter = Counter()
        self.lock, self.release = threading.Lock(), threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def faults(self) -> Counter:
        return Counter(f for _, _, f in self.log if f)

    def body(self, prompt: str) -> dict:
        text = self.answer(prompt)
        if self.mode == "logprobs":  # the answer label on top, the others far below
            top = {text: -0.05, " Z": -4.0}
            return {"choices": [{"text": text, "logprobs": {"tokens": [text], "token_logprobs": [-0.05],
                                                             "top_logprobs": [top]}}]}
        return {"choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}

    def _handler(self):
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body.get("prompt") or body["messages"][0]["content"]
                with srv.lock:
                    attempt = srv.attempts[prompt]
                    srv.attempts[prompt] += 1
                    fault = srv.plan(prompt, attempt)
                    srv.log.append((prompt, attempt, fault))
                getattr(self, "fault_" + (fault or "none").replace("-", "_"))(prompt)

            def send(self, status: int, payload, headers: dict | None = None, length: int | None = None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(length if length is not None else len(data)))
                self.end_headers()
                self.wfile.write(data)

            def fault_none(self, prompt):
                self.send(200, srv.body(prompt))

            def fault_hang(self, prompt):  # longer than the client's timeout, then nothing
                srv.release.wait(srv.hang_s)
                self.close_connection = True

            def fault_500(self, prompt):
                self.send(500, b"Internal Server Error")

            def fault_503(self, prompt):
                self.send(503, {"error": {"message": "overloaded"}})

            def fault_429(self, prompt):
                self.send(429, {"error": "rate limited"}, {"Retry-After": "30"})  # the client caps it

            def fault_malformed(self, prompt):
                self.send(200, b'{"choices": [{"text": " A"')

            def fault_error(self, prompt):
                self.send(200, {"error": {"message": "injected failure", "type": "server_error"}})

            def fault_no_choices(self, prompt):
                self.send(200, {"id": "cmpl-x", "object": "text_completion"})

            def fault_cut(self, prompt):  # headers promise more than the body holds
                data = json.dumps(srv.body(prompt)).encode()
                self.send(200, data[: len(data) // 2], length=len(data))
                self.close_connection = True

            def fault_reset(self, prompt):  # RST instead of an answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def finish(self):
                try:
                    super().finish()
                except OSError:
                    pass

            def handle(self):
                try:
                    super().handle()
                except OSError:  # the client went away (timeout) or we reset it
                    pass

            def log_message(self, *args):
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
