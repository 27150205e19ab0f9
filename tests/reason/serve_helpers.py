"""Loopback servers for the endpoint tests: a real ``transformers serve`` on a tiny in-project
model, and a scripted stdlib server for what that one cannot do (log-probs, failures)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from verbalrec.reason.prompt import ANSWER_CUE

# Renders the prompt as-is, so /chat/completions sees the same text as /completions; the response
# template tells the server where the answer starts (its Qwen3 fallback expects <|im_start|>).
PASS_THROUGH_CHAT_TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
RESPONSE_TEMPLATE = {"start_anchor": ANSWER_CUE, "fields": {"content": {"close": "</s>", "content": "text"}}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_answering_model(out_dir: Path, prompts: list[str], answer: str = " B", max_steps: int = 80) -> Path:
    """A tiny model trained (a few seconds) to answer ``answer`` and stop after each of ``prompts``,
    with a pass-through chat template. Training stops once every answer token has p > 0.6, so
    greedy decoding of exactly these prompts gives ``answer``."""
    import torch

    from verbalrec.models import build_and_save, load_causal_lm

    d = build_and_save(prompts + [answer] * 20, out_dir, "tiny", seed=0)
    model, tok = load_causal_lm(d)
    target = tok(answer, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    rows = [tok(p)["input_ids"] + target for p in prompts]  # as the server tokenizes a prompt
    width, t = max(map(len, rows)), len(target)
    ids = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])  # right padding: no mask needed
    where = torch.tensor([list(range(len(r) - t - 1, len(r) - 1)) for r in rows])  # predict the answer here
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # at this size, more threads only spin: 40x slower on a busy 2-core box
    try:
        _train(model, opt, ids, where, torch.tensor(target), max_steps, answer)
    finally:
        torch.set_num_threads(threads)
    model.eval().save_pretrained(d)
    tok.chat_template, tok.response_template = PASS_THROUGH_CHAT_TEMPLATE, RESPONSE_TEMPLATE
    tok.save_pretrained(d)
    return d


def _train(model, opt, ids, where, target, max_steps: int, answer: str) -> None:
    import math

    for _ in range(max_steps):
        logp = model(input_ids=ids).logits.log_softmax(-1)
        got = logp.gather(1, where[..., None].expand(-1, -1, logp.shape[-1])).gather(
            2, target[None, :, None].expand(len(ids), -1, 1))[..., 0]
        if got.min().item() > math.log(0.6):
            return
        opt.zero_grad()
        (-got.mean()).backward()
        opt.step()
    raise RuntimeError(f"the tiny model did not learn to answer {answer!r} in {max_steps} steps")


class TransformersServe:
    """``transformers serve <model_dir>`` as a subprocess on a free loopback port."""

    def __init__(self, model_dir: Path, log_path: Path, startup_timeout: float = 90.0, threads: int = 1):
        self.port, self.log_path = free_port(), log_path
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [sys.executable, "-c", "from transformers.cli.transformers import main; main()", "serve",
               str(model_dir), "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"]
        # One torch thread: on a small busy machine more threads only spin (~40x slower here).
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "OMP_NUM_THREADS": str(threads)}
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.ready_error = self._wait(startup_timeout)

    def _wait(self, timeout: float) -> str | None:
        """None once /health answers; else why the server did not come up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with code {self.proc.returncode}: {self.log_tail()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return None
            except OSError:
                time.sleep(0.3)
        return f"not answering after {timeout:.0f}s: {self.log_tail()}"

    def log_tail(self, n: int = 800) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-n:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class FakeServer:
    """A stdlib HTTP server on loopback; ``respond(n, body)`` gives (status, headers, json-or-text)
    for the n-th POST (0-based). Records every request and the most requests in flight at once."""

    def __init__(self, respond, delay: float = 0.0):
        self.respond, self.delay = respond, delay
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    n = len(fake.requests)
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "time": time.monotonic()})
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                time.sleep(fake.delay)
                status, headers, payload = fake.respond(n, body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with fake.lock:
                    fake.in_flight -= 1

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def completion_logprobs(top: dict[str, float]) -> dict:
    """A /v1/completions response in the shape vLLM and OpenAI send for ``logprobs=k``."""
    first = max(top, key=top.get)
    return {"id": "cmpl-1", "object": "text_completion", "model": "m",
            "choices": [{"index": 0, "text": first, "finish_reason": "length",
                         "logprobs": {"tokens": [first], "token_logprobs": [top[first]],
                                      "top_logprobs": [top], "text_offset": [0]}}]}


def chat_logprobs(top: dict[str, float]) -> dict:
    """A /v1/chat/completions response with ``logprobs=true, top_logprobs=k``."""
    first = max(top, key=top.get)
    entries = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top.items()]
    return {"id": "chat-1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": first},
                         "logprobs": {"content": [{"token": first, "logprob": top[first],
                                                   "bytes": list(first.encode()), "top_logprobs": entries}]}}]}
