"""An optional judge for short answers: the user's own OpenAI-compatible model server (vLLM,
llama.cpp's server, Ollama) grades an answer against the key points.

Off unless ``--judge URL`` or ``LATENCY_QUIZ_JUDGE`` names a server (``http://host:8000`` or
its ``/v1``); ``LATENCY_QUIZ_JUDGE_MODEL`` names the model, else the server's first listed
model is used. The request asks for a JSON reply under a JSON schema (``response_format``), and
the reply is validated: one status per key point (a server that refuses the schema is asked
once more without it). A timeout, an error, or a reply that does
not validate falls back to the key-point grader with a one-line notice. Requests are bounded
(a timeout per request, at most ``MAX_REPLY_BYTES`` read).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from quiz.bank import Instance
from quiz.config import JUDGE_ENV, JUDGE_MODEL_ENV
from quiz.errors import QuizError
from quiz.grading import Verdict, grade
from quiz.grading.short import from_statuses, rubric_of
from quiz.grading.verdict import PointStatus

TIMEOUT_S = 30.0
_NO_JSON_SCHEMA = (400, 422)  # how servers refuse a response_format they do not support
MAX_REPLY_BYTES = 1 << 20

REPLY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "points": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "point": {"type": "integer"},
                    "status": {"type": "string", "enum": ["covered", "missing", "contradicted"]},
                },
                "required": ["point", "status"],
                "additionalProperties": False,
            },
        },
        "confident": {"type": "boolean"},
    },
    "required": ["points", "confident"],
    "additionalProperties": False,
}

_INSTRUCTIONS = """You grade a candidate's answer in a technical interview on LLM inference \
performance. For each numbered key point, decide whether the candidate's answer states it \
(covered), does not state it (missing), or states something that contradicts it \
(contradicted). Judge meaning, not wording: a correct paraphrase covers a point; naming a term \
without saying anything about it does not; a negated statement ("decode is not memory bound") \
contradicts. Set confident to false if you cannot tell. Reply with JSON only: \
{"points": [{"point": 1, "status": "covered"}, ...], "confident": true}"""


class JudgeError(QuizError):
    """The judge could not grade this answer (unreachable, timed out, or a bad reply)."""


class JudgeRefused(JudgeError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Point(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    point: int
    status: Literal["covered", "missing", "contradicted"]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    points: list[_Point]
    confident: bool


def judge_url() -> str | None:
    """The configured judge server, or None (the default: no judge)."""
    return os.environ.get(JUDGE_ENV) or None


def grade_answer(instance: Instance, answer: str) -> tuple[Verdict, str | None]:
    """Grade ``answer``; a short answer goes to the judge when one is configured. Returns the
    verdict and a one-line notice when the judge was asked but could not grade."""
    url = judge_url()
    if instance.kind != "short" or url is None:
        return grade(instance, answer), None
    fallback = grade(instance, answer)  # also raises AnswerFormatError for an empty answer
    try:
        return judge(instance, answer, url), None
    except JudgeError as err:
        return fallback, f"judge not used ({err}); graded by key points"


def judge(instance: Instance, answer: str, url: str, *, timeout_s: float = TIMEOUT_S) -> Verdict:
    """The judge's verdict on ``answer`` (JudgeError when it cannot give one)."""
    base = _api_base(url)
    model = os.environ.get(JUDGE_MODEL_ENV) or _first_model(base, timeout_s)
    points = rubric_of(instance).points
    listed = "\n".join(f"{i}. {point.text}" for i, point in enumerate(points, start=1))
    request = {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": _INSTRUCTIONS},
            {
                "role": "user",
                "content": f"Question:\n{instance.prompt}\n\nKey points:\n{listed}\n\n"
                f"Model answer:\n{instance.model_answer}\n\nCandidate's answer:\n{answer}",
            },
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "key_point_grades", "schema": REPLY_SCHEMA, "strict": True},
        },
    }
    try:
        reply = _call(f"{base}/chat/completions", request, timeout_s)
    except JudgeRefused as err:
        if err.status not in _NO_JSON_SCHEMA:
            raise
        del request["response_format"]  # a server without JSON-schema output: ask in words only
        reply = _call(f"{base}/chat/completions", request, timeout_s)
    try:
        content = _unfenced(reply["choices"][0]["message"]["content"])
        parsed = _Reply.model_validate(json.loads(content))
    except (KeyError, IndexError, TypeError, json.JSONDecodeError, ValidationError) as err:
        raise JudgeError(f"its reply is not the JSON asked for: {_first_line(err)}") from None
    statuses = _statuses(parsed, len(points))
    return from_statuses(instance, statuses, f"Judged by {model}", unsure=not parsed.confident)


def _unfenced(content: str) -> str:
    """The JSON inside a Markdown code fence, which servers without JSON mode often add."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3].strip()
        text = text.removeprefix("json").strip()
    return text


def _statuses(reply: _Reply, count: int) -> list[PointStatus]:
    by_point = {p.point: p.status for p in reply.points}
    if sorted(by_point) != list(range(1, count + 1)) or len(reply.points) != count:
        raise JudgeError(f"its reply does not grade exactly points 1 to {count}")
    return [by_point[i] for i in range(1, count + 1)]


def _api_base(url: str) -> str:
    base = url.rstrip("/")
    for suffix in ("/chat/completions", "/v1"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if not base.startswith(("http://", "https://")):
        raise JudgeError(f"'{url}' is not an http(s) URL")
    return f"{base}/v1"


def _first_model(base: str, timeout_s: float) -> str:
    listing = _call(f"{base}/models", None, timeout_s)
    try:
        return str(listing["data"][0]["id"])
    except (KeyError, IndexError, TypeError):
        raise JudgeError(
            f"the server lists no model; set {JUDGE_MODEL_ENV} to the model's name"
        ) from None


def _call(url: str, body: dict[str, Any] | None, timeout_s: float) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            raw = response.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise JudgeRefused(f"{url} answered HTTP {err.code}", err.code) from None
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise JudgeError(f"{url} did not answer: {_first_line(reason)}") from None
    if len(raw) > MAX_REPLY_BYTES:
        raise JudgeError(f"{url} sent more than {MAX_REPLY_BYTES} bytes")
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        raise JudgeError(f"{url} did not send JSON") from None


def _first_line(thing: object) -> str:
    text = str(thing).strip()
    return text.splitlines()[0] if text else type(thing).__name__


def describe() -> str:
    """One line for `doctor`: whether a judge is configured, and which."""
    url = judge_url()
    if url is None:
        return f"off (short answers graded by key points; --judge URL or {JUDGE_ENV} to use one)"
    model = os.environ.get(JUDGE_MODEL_ENV) or "the server's first model"
    return f"{url} ({model}); falls back to key points when it cannot answer"
