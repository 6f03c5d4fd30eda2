"""The optional judge: a local HTTP server on 127.0.0.1 speaking the chat-completions protocol
grades short answers; timeouts and bad replies fall back to the key points with a notice."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from quiz.bank import instantiate, load_bank
from quiz.cli import main
from quiz.config import JUDGE_ENV, JUDGE_MODEL_ENV
from quiz.judge import JudgeError, describe, grade_answer, judge

BANK = load_bank()
PTQ = instantiate(BANK.get("what-is-ptq"))
ANSWER = "It quantizes a trained model's weights to INT8, which makes decode faster."


class FakeServer:
    """Scripted replies; records every request body it got."""

    def __init__(self) -> None:
        self.reply: Any = None  # the chat message content, or a callable of the request
        self.status = 200
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.models = [{"id": "qwen-judge"}]
        self.refuse_schema = False


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeServer, str]]:
    fake = FakeServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):  # the client gave up (timeout test)
                self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200 if self.path == "/v1/models" else 404, {"data": fake.models})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(min(length, 1 << 20)))
            fake.requests.append(body)
            time.sleep(fake.delay_s)
            if self.path != "/v1/chat/completions" or fake.status != 200:
                self._send(fake.status if fake.status != 200 else 404, {"error": "no"})
                return
            if fake.refuse_schema and "response_format" in body:
                self._send(400, {"error": "response_format not supported"})
                return
            content = fake.reply(body) if callable(fake.reply) else fake.reply
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv(JUDGE_MODEL_ENV, raising=False)
    try:
        yield fake, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def grades(*statuses: str, confident: bool = True) -> str:
    points = [{"point": i, "status": s} for i, s in enumerate(statuses, start=1)]
    return json.dumps({"points": points, "confident": confident})


def test_the_judge_grades_the_key_points(server: tuple[FakeServer, str]) -> None:
    fake, url = server
    fake.reply = grades("covered", "covered", "covered", "missing", "missing")
    verdict = judge(PTQ, ANSWER, url)
    assert verdict.score == pytest.approx(7 / 9) and verdict.correct
    assert [p.status for p in verdict.points][:3] == ["covered"] * 3
    assert verdict.feedback.startswith("Judged by qwen-judge: Covered")
    (request,) = fake.requests
    assert request["model"] == "qwen-judge" and request["temperature"] == 0
    schema = request["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["points", "confident"]
    prompt = request["messages"][1]["content"]
    assert ANSWER in prompt and "1. applied after training" in prompt


def test_a_server_without_json_schema_is_asked_again_without_it(
    server: tuple[FakeServer, str],
) -> None:
    fake, url = server
    fake.refuse_schema = True
    fake.reply = grades("covered", "covered", "covered", "covered", "covered")
    assert judge(PTQ, ANSWER, url).score == 1.0
    assert ["response_format" in r for r in fake.requests] == [True, False]


def test_a_reply_in_a_code_fence_is_read(server: tuple[FakeServer, str]) -> None:
    fake, url = server
    fake.reply = (
        "```json\n" + grades("covered", "covered", "covered", "covered", "covered") + "\n```"
    )
    assert judge(PTQ, ANSWER, url).score == 1.0


def test_an_unsure_judge_leaves_it_to_the_self_check(server: tuple[FakeServer, str]) -> None:
    fake, url = server
    fake.reply = grades("covered", "covered", "covered", "covered", "covered", confident=False)
    verdict = judge(PTQ, ANSWER, url + "/v1")
    assert verdict.needs_self_check and not verdict.correct


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("not json at all", "not the JSON asked for"),
        (json.dumps({"points": [], "confident": True}), "exactly points 1 to 5"),
        (grades("covered", "covered", "covered", "covered", "maybe"), "not the JSON asked for"),
        (grades("covered", "covered", "covered", "covered", "covered", "missing"), "1 to 5"),
        (json.dumps({"points": "all", "confident": True}), "not the JSON asked for"),
    ],
)
def test_bad_replies_are_refused(server: tuple[FakeServer, str], reply: str, message: str) -> None:
    fake, url = server
    fake.reply = reply
    with pytest.raises(JudgeError, match=message):
        judge(PTQ, ANSWER, url)


def test_http_errors_and_timeouts_are_judge_errors(server: tuple[FakeServer, str]) -> None:
    fake, url = server
    fake.status = 500
    with pytest.raises(JudgeError, match="HTTP 500"):
        judge(PTQ, ANSWER, url)
    fake.status, fake.delay_s = 200, 2.0
    fake.reply = grades("covered", "covered", "covered", "covered", "covered")
    started = time.monotonic()
    with pytest.raises(JudgeError, match="did not answer"):
        judge(PTQ, ANSWER, url, timeout_s=0.3)
    assert time.monotonic() - started < 1.5
    with pytest.raises(JudgeError, match="not an http"):
        judge(PTQ, ANSWER, "ftp://example")


def test_without_a_listed_model_the_model_env_is_needed(
    server: tuple[FakeServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = server
    fake.models = []
    with pytest.raises(JudgeError, match=JUDGE_MODEL_ENV):
        judge(PTQ, ANSWER, url)
    monkeypatch.setenv(JUDGE_MODEL_ENV, "llama3")
    fake.reply = grades("missing", "missing", "missing", "missing", "missing")
    assert judge(PTQ, ANSWER, url).score == 0.0
    assert fake.requests[-1]["model"] == "llama3"


def test_grade_answer_uses_the_judge_only_when_configured(
    server: tuple[FakeServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = server
    monkeypatch.delenv(JUDGE_ENV, raising=False)
    verdict, notice = grade_answer(PTQ, ANSWER)
    assert notice is None and not fake.requests and "off" in describe()
    monkeypatch.setenv(JUDGE_ENV, url)
    fake.reply = grades("covered", "covered", "covered", "covered", "covered")
    verdict, notice = grade_answer(PTQ, ANSWER)
    assert notice is None and verdict.score == 1.0 and url in describe()
    fake.reply = "garbage"
    verdict, notice = grade_answer(PTQ, ANSWER)
    assert notice is not None and notice.endswith("graded by key points")
    assert verdict.feedback.startswith("Covered")  # the key-point grader's own verdict
    choice = instantiate(BANK.get("flashattention-io-awareness"))
    requests_before = len(fake.requests)
    grade_answer(choice, "A")
    assert len(fake.requests) == requests_before  # only short answers go to the judge


def test_cli_judge_option_and_fallback_notice(
    server: tuple[FakeServer, str], db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake, url = server
    fake.reply = grades("covered", "covered", "covered", "covered", "missing")
    args = ["--db", db_url, "--judge", url, "answer", "what-is-ptq", ANSWER, "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["feedback"].startswith("Judged by qwen-judge")
    fake.status = 503
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "judge not used" in captured.err and "HTTP 503" in captured.err
    assert json.loads(captured.out)["feedback"].startswith("Covered")
