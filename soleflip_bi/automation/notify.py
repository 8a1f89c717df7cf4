"""Where alerts go: a webhook taking Slack's JSON (``{"text": ...}``) and/or email by SMTP.

Configured by environment variables, read when an alert is sent:

- ``SOLEFLIP_ALERT_WEBHOOK_URL``: a Slack incoming webhook, or anything taking that JSON;
- ``SOLEFLIP_ALERT_SMTP_HOST`` (and ``_PORT``, default 25; ``_USER`` / ``_PASSWORD`` to log
  in, with STARTTLS when the server offers it), ``SOLEFLIP_ALERT_EMAIL_TO`` (comma-separated)
  and ``SOLEFLIP_ALERT_EMAIL_FROM`` (default ``soleflip-bi@localhost``).
"""

from __future__ import annotations

import os
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import requests

TIMEOUT_SECONDS = 10


class AlertNotSent(RuntimeError):
    """A destination refused or could not be reached; the incident is sent again later."""


@dataclass(frozen=True)
class Destinations:
    webhook_url: str | None
    smtp_host: str | None
    smtp_port: int
    smtp_user: str | None
    smtp_password: str | None
    email_to: tuple[str, ...]
    email_from: str

    @classmethod
    def from_env(cls) -> Destinations:
        to = tuple(a.strip() for a in os.environ.get("SOLEFLIP_ALERT_EMAIL_TO", "").split(","))
        return cls(
            webhook_url=os.environ.get("SOLEFLIP_ALERT_WEBHOOK_URL") or None,
            smtp_host=os.environ.get("SOLEFLIP_ALERT_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("SOLEFLIP_ALERT_SMTP_PORT") or 25),
            smtp_user=os.environ.get("SOLEFLIP_ALERT_SMTP_USER") or None,
            smtp_password=os.environ.get("SOLEFLIP_ALERT_SMTP_PASSWORD") or None,
            email_to=tuple(a for a in to if a),
            email_from=os.environ.get("SOLEFLIP_ALERT_EMAIL_FROM") or "soleflip-bi@localhost",
        )

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or (self.smtp_host and self.email_to))


def send(destinations: Destinations, subject: str, text: str) -> None:
    """Send one alert to every configured destination."""
    if destinations.webhook_url:
        try:
            response = requests.post(
                destinations.webhook_url,
                json={"text": f"*{subject}*\n{text}"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise AlertNotSent(f"the alert webhook could not be reached: {exc}") from exc
        if not response.ok:
            raise AlertNotSent(f"the alert webhook answered HTTP {response.status_code}")
    if destinations.smtp_host and destinations.email_to:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = destinations.email_from
        message["To"] = ", ".join(destinations.email_to)
        message.set_content(text)
        try:
            with smtplib.SMTP(
                destinations.smtp_host, destinations.smtp_port, timeout=TIMEOUT_SECONDS
            ) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
                if destinations.smtp_user:
                    smtp.login(destinations.smtp_user, destinations.smtp_password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise AlertNotSent(f"the alert email could not be sent: {exc}") from exc
