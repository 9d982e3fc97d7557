"""A local stand-in for Slack, speaking its documented formats on a loopback port.

Slack cannot be reached from the machines the tests run on, so this plays both sides
of signoff's Slack app: the Web API the service calls (``chat.postMessage``,
``chat.update``, ``chat.postEphemeral``, ``users.info``; form, query or JSON arguments
as slack-sdk sends them, ``Authorization: Bearer <bot token>`` checked, Slack's
``{"ok": ..., "error": ...}`` answers), and Slack's interaction requests to the service
(:func:`click`: a ``block_actions`` payload, form-encoded and signed with the app's
signing secret, v0, exactly as Slack posts a button click).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from signoff.server.process import free_port

BOT_TOKEN = "xoxb-standin-bot-token"
SIGNING_SECRET = "standin-signing-secret"
TEAM = "T0STANDIN"


@dataclass
class Call:
    method: str
    """``chat.postMessage``..."""
    args: dict[str, Any]
    token: str | None
    answer: dict[str, Any]


@dataclass
class SlackStandIn:
    port: int
    token: str = BOT_TOKEN
    users: dict[str, str | None] = field(default_factory=dict)
    """Slack user id -> the email of their profile (``None``: not shown)."""
    channels: dict[str, str] = field(default_factory=dict)
    """Channel name (without ``#``) -> id; ``chat.postMessage`` answers with the id."""
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(channel id, ts) -> the message as it stands (updates replace it)."""
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _ts: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        """What ``--slack-api-url`` takes."""
        return f"http://127.0.0.1:{self.port}/api/"

    def channel_id(self, name: str) -> str:
        return self.channels.setdefault(name.lstrip("#"), f"C{len(self.channels) + 1:08d}")

    def calls_of(self, method: str) -> list[Call]:
        with self.arrived:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 30.0) -> list[Call]:
        """The calls of ``method`` once there are ``count`` (fewer when ``timeout`` passes)."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self._of(method)) >= count, timeout)
            return self._of(method)

    def wait_for_call(
        self, method: str, match: Callable[[Call], bool], timeout: float = 30.0
    ) -> Call | None:
        """The first call of ``method`` that ``match`` accepts, once it arrives."""
        with self.arrived:
            self.arrived.wait_for(lambda: any(map(match, self._of(method))), timeout)
            return next((call for call in self._of(method) if match(call)), None)

    def _of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def answer(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        """What Slack answers (always HTTP 200, as Slack does for these errors)."""
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token != self.token:
            return {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        found: dict[str, Any] = handler(args)
        return found

    def _resolve(self, channel: Any) -> str | None:
        if not isinstance(channel, str) or not channel:
            return None
        if channel in self.channels.values():
            return channel
        return self.channels.get(channel.lstrip("#"))

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"{1_700_000_000 + next(self._ts)}.000100"
        message = {
            "type": "message",
            "user": "U0BOT",
            "bot_id": "B0STANDIN",
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "ts": ts,
        }
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        if channel not in self.channels.values():
            return {"ok": False, "error": "channel_not_found"}
        current = self.messages.get((str(channel), str(ts)))
        if current is None:
            return {"ok": False, "error": "message_not_found"}
        current.update(text=args.get("text", ""), blocks=args.get("blocks") or [])
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": current["text"],
            "message": current,
        }

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._resolve(args.get("channel")) is None:
            return {"ok": False, "error": "channel_not_found"}
        if args.get("user") not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ts)}.000200"}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        profile: dict[str, Any] = {"real_name": str(user), "display_name": str(user)}
        email = self.users[str(user)]
        if email is not None:
            profile["email"] = email
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM,
                "name": str(user).lower(),
                "deleted": False,
                "is_bot": False,
                "profile": profile,
            },
        }


@contextmanager
def slack_standin(
    users: dict[str, str | None] | None = None,
    channels: tuple[str, ...] = ("general",),
    token: str = BOT_TOKEN,
) -> Iterator[SlackStandIn]:
    """Slack on a loopback port with these users (id -> email) and channels (names)."""
    state = SlackStandIn(port=free_port(), token=token, users=dict(users or {}))
    for name in channels:
        state.channel_id(name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._call(b"")

        def do_POST(self) -> None:
            self._call(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def _call(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            if not parts.path.startswith("/api/"):
                self._send(404, {"ok": False, "error": "not_found"})
                return
            method = parts.path.removeprefix("/api/")
            args: dict[str, Any] = dict(parse_qsl(parts.query))
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            try:
                if kind == "application/json" and body:
                    args.update(json.loads(body))
                elif body:
                    args.update(parse_qsl(body.decode("utf-8")))
            except ValueError:
                self._send(200, {"ok": False, "error": "invalid_json"})
                return
            if isinstance(args.get("blocks"), str):  # form-encoded: blocks as JSON text
                args["blocks"] = json.loads(args["blocks"])
            authorization = self.headers.get("Authorization") or ""
            scheme, _, presented = authorization.partition(" ")
            token = presented.strip() if scheme.lower() == "bearer" else args.pop("token", None)
            with state.arrived:
                answer = state.answer(method, args, token)
                state.calls.append(Call(method, args, token, answer))
                state.arrived.notify_all()
            self._send(200, answer)

        def _send(self, status: int, answer: dict[str, Any]) -> None:
            content = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 request signature: ``v0=`` + HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def interaction(
    user_id: str, action_id: str, approval_id: str, channel: str, ts: str
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user_id`` clicks a button of the
    message ``ts`` in ``channel`` (the fields Slack documents; signoff reads a few)."""
    action: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "block_id": f"signoff:{approval_id}",
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
        "action_ts": f"{time.time():.6f}",
    }
    if action_id == "signoff_open":
        action["url"] = f"http://127.0.0.1/review/{approval_id}"  # a link button: no value
    else:
        action["value"] = approval_id
    return {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": TEAM,
        },
        "api_app_id": "A0STANDIN",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"1.{int(time.time())}.standin",
        "team": {"id": TEAM, "domain": "standin"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": "finance"},
        "message": {"type": "message", "ts": ts, "bot_id": "B0STANDIN"},
        "state": {"values": {}},
        "response_url": f"http://127.0.0.1/actions/{TEAM}/{ts}/standin",
        "actions": [action],
    }


def post_interaction(
    service_url: str,
    payload: dict[str, Any],
    signing_secret: str | None,
    timestamp: int | None = None,
    signature_header: str | None = None,
) -> httpx.Response:
    """POST ``payload`` to signoff as Slack does: ``payload=<urlencoded JSON>``, with
    X-Slack-Request-Timestamp and X-Slack-Signature (no signature without a secret;
    ``signature_header`` replaces the right one)."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": stamp,
    }
    if signing_secret is not None:
        headers["X-Slack-Signature"] = signature_header or signature(signing_secret, stamp, body)
    return httpx.post(f"{service_url}/slack/interactions", content=body, headers=headers)


def click(
    service_url: str,
    signing_secret: str | None,
    user_id: str,
    action_id: str,
    approval_id: str,
    channel: str,
    ts: str,
    **signing: Any,
) -> httpx.Response:
    """``user_id`` clicks the button ``action_id`` of the message (``channel``, ``ts``)
    that asks about ``approval_id``: the signed request Slack sends to signoff
    (``timestamp=`` / ``signature_header=`` make it stale or forged)."""
    payload = interaction(user_id, action_id, approval_id, channel, ts)
    return post_interaction(service_url, payload, signing_secret, **signing)
