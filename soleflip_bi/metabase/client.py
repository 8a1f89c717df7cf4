"""A small Metabase REST client: authentication, JSON in and out, errors that say where.

Deliberately plain (no Dagster, no retries): provisioning decides what to call.
"""

from __future__ import annotations

from typing import Any

import requests

from soleflip_bi.metabase.config import MetabaseConfig

REQUEST_TIMEOUT_SECONDS = 30

# What a 403 from these endpoints means; Metabase itself only says "You don't have
# permissions to do that." (api/check-403 in metabase.api.common).
PERMISSIONS = (
    (
        "/api/database",
        "Metabase administrator rights (Admin settings > People: the "
        "Administrators group, for the user or the API key)",
    ),
    ("/api/collection", "curate access to the root collection (Our analytics)"),
    ("/api/card", "curate access to the collection of the dashboards"),
    ("/api/dashboard", "curate access to the collection of the dashboards"),
)


class MetabaseError(RuntimeError):
    """Metabase refused a request or could not be reached."""

    def __init__(self, method: str, endpoint: str, status: int | None, message: str) -> None:
        self.method, self.endpoint, self.status, self.message = method, endpoint, status, message
        answer = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{method} {endpoint} failed ({answer}): {message}")


class MetabaseClient:
    def __init__(self, config: MetabaseConfig, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.config = config
        self.timeout = timeout
        self.http = requests.Session()
        if config.api_key:
            self.http.headers["x-api-key"] = config.api_key

    def login(self) -> None:
        """Open a session unless an API key is configured (POST /api/session)."""
        if self.config.api_key:
            return
        session = self.post(
            "/api/session", {"username": self.config.user, "password": self.config.password}
        )
        self.http.headers["X-Metabase-Session"] = session["id"]

    def get(self, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        return self._request("GET", endpoint, params=params)

    def post(
        self,
        endpoint: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        return self._request("POST", endpoint, json=body or {}, params=params)

    def put(self, endpoint: str, body: dict[str, Any]) -> Any:
        return self._request("PUT", endpoint, json=body)

    def _request(self, method: str, endpoint: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(
                method, self.config.url + endpoint, timeout=self.timeout, **kwargs
            )
        except requests.Timeout as exc:
            raise MetabaseError(
                method, endpoint, None, f"{self.config.url} did not answer in {self.timeout:.0f} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise MetabaseError(
                method, endpoint, None, f"cannot connect to {self.config.url} (is Metabase there?)"
            ) from exc
        except requests.RequestException as exc:
            raise MetabaseError(method, endpoint, None, f"{self.config.url}: {exc}") from exc
        if response.status_code == 403:
            raise MetabaseError(method, endpoint, 403, _permission_message(endpoint, response))
        if not response.ok:
            raise MetabaseError(method, endpoint, response.status_code, _message(response))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise MetabaseError(
                method,
                endpoint,
                response.status_code,
                f"the answer is not JSON (is {self.config.url} Metabase's address?)",
            ) from exc


def _permission_message(endpoint: str, response: requests.Response) -> str:
    needed = next((what for prefix, what in PERMISSIONS if endpoint.startswith(prefix)), None)
    said = _message(response)
    return f"{said} This needs {needed}." if needed else said


def _message(response: requests.Response) -> str:
    """Metabase's own words: ``message``, per-field ``errors``, or the body as text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict):
        if body.get("message"):
            return str(body["message"])[:300]
        if body.get("errors"):
            return str(body["errors"])[:300]
    return str(body)[:300]
