"""A small OpenAI-compatible chat-completions server on loopback, for tests:
it answers every request with the reply it was given, streamed (server-sent
events, a few characters per event) or in one JSON body, or misbehaves on
purpose (malformed body, an HTTP error, a stall).

    with StubLLM() as llm:
        llm.reply = "ضخت إنفيديا ملياري دولار [1]."
        config = Config.load(env={}, llm_url=llm.url)
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubLLM:
    def __init__(self, reply: str = "", mode: str = "ok", stall: float = 0.0, piece: int = 6):
        self.reply = reply
        self.mode = mode  # "ok", "garbage" (not JSON), "error" (HTTP 500), "stall" (sleep before answering)
        self.stall = stall  # seconds to wait before the first byte ("stall") or before the rest ("stall-mid")
        self.piece = piece  # characters per streamed event
        self.requests: list[dict] = []  # the JSON bodies received
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "StubLLM":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                stub.requests.append(body)
                if stub.mode == "stall":
                    time.sleep(stub.stall)
                if stub.mode == "error":
                    self._send(500, b'{"error": {"message": "model crashed"}}')
                elif stub.mode == "garbage":
                    self._send(200, b"<html>not an API</html>" if not body.get("stream") else b"data: {oops\n\n")
                elif body.get("stream"):
                    self._stream(body)
                else:
                    self._send(200, json.dumps(_completion(stub.reply)).encode())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                text = stub.reply
                for i in range(0, len(text), stub.piece):
                    if stub.mode == "stall-mid" and i >= len(text) // 2:
                        time.sleep(stub.stall)
                    self._event(_chunk(text[i:i + stub.piece]))
                self._event(_chunk(None, finish="stop"))
                try:
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except OSError:
                    pass

            def _event(self, obj: dict) -> None:
                try:
                    self.wfile.write(b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n")
                    self.wfile.flush()
                except OSError:  # the client gave up (a timeout test): nothing to tell it
                    pass

        return Handler


def _completion(text: str) -> dict:
    return {"id": "stub-1", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _chunk(text: str | None, finish: str | None = None) -> dict:
    delta = {"content": text} if text is not None else {}
    return {"id": "stub-1", "object": "chat.completion.chunk", "created": 0, "model": "stub",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
