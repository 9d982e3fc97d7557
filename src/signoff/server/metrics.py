"""Request counts per route, and requests in flight: how the tests and benchmarks see load.

Served as Prometheus text at ``GET /metrics``. A thousand Airflow tasks waiting through one
:class:`signoff.waiting.DecisionWaiter` show up here as one request in flight on
``/api/approvals/wait``, not a thousand polls.
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.total: Counter[tuple[str, str]] = Counter()
        self.in_flight: Counter[tuple[str, str]] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["metrics"] = self
        key = (scope["method"], scope["path"])
        self.in_flight[key] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight[key] -= 1
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.total[(scope["method"], template)] += 1

    def render(self) -> str:
        lines = [
            "# HELP signoff_http_requests_total Requests answered, by method and route.",
            "# TYPE signoff_http_requests_total counter",
        ]
        for (method, route), count in sorted(self.total.items()):
            lines.append(
                f'signoff_http_requests_total{{method="{method}",route="{route}"}} {count}'
            )
        lines += [
            "# HELP signoff_http_requests_in_flight Requests being answered now, by path.",
            "# TYPE signoff_http_requests_in_flight gauge",
        ]
        for (method, path), count in sorted(self.in_flight.items()):
            if count:
                lines.append(
                    f'signoff_http_requests_in_flight{{method="{method}",path="{path}"}} {count}'
                )
        return "\n".join(lines) + "\n"
