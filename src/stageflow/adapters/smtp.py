"""Email over real SMTP (smtplib): building the message and classifying what the server says.

A message's Message-ID is derived from its delivery's idempotency key, so a message sent
again after a crash is recognisably the same message.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal

from stageflow.adapters.http import Delivery

Security = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None
    password: str | None
    timeout: float = 20.0


def valid_address(text: str) -> bool:
    """A plain mailbox address (no display name, one @, a dot in the domain)."""
    _, address = parseaddr(text)
    if not address or address != text.strip() or address.count("@") != 1:
        return False
    local, domain = address.split("@")
    return bool(local) and "." in domain and not domain.startswith(".") and " " not in address


def build(payload: dict[str, Any], sent_at: Any) -> EmailMessage:
    """The MIME message for an outbox email payload (text and/or HTML, attachments)."""
    message = EmailMessage()
    message["Message-ID"] = payload["message_id"]
    message["Date"] = format_datetime(sent_at)
    message["From"] = Address(
        display_name=payload.get("from_name") or "", addr_spec=payload["from"]
    )
    message["To"] = ", ".join(payload["to"])
    if payload.get("cc"):
        message["Cc"] = ", ".join(payload["cc"])
    if payload.get("reply_to"):
        message["Reply-To"] = payload["reply_to"]
    message["Subject"] = payload["subject"]
    message["X-Stageflow-Delivery"] = payload["idempotency_key"]
    text, html = payload.get("text") or "", payload.get("html") or ""
    message.set_content(text or _text_of(html))
    if html:
        message.add_alternative(html, subtype="html")
    for attachment in payload.get("attachments", []):
        maintype, _, subtype = attachment["content_type"].partition("/")
        message.add_attachment(
            base64.b64decode(attachment["content_b64"]),
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment["filename"],
        )
    return message


def _text_of(html: str) -> str:
    from html.parser import HTMLParser

    parts: list[str] = []

    class Text(HTMLParser):
        def handle_data(self, data: str) -> None:
            parts.append(data)

    Text().feed(html)
    return "".join(parts).strip() or " "


def send(server: SmtpServer, message: EmailMessage, recipients: list[str]) -> Delivery:
    """Hand one message to the server. Connection trouble, timeouts and 4xx answers are worth
    retrying; 5xx answers (a refused login, refused recipients) are not."""
    try:
        client: smtplib.SMTP
        if server.security == "ssl":
            client = smtplib.SMTP_SSL(
                server.host,
                server.port,
                timeout=server.timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
        with client:
            if server.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password or "")
            refused = client.send_message(message, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {code for code, _ in exc.recipients.values()}
        retry = all(400 <= code < 500 for code in codes)
        detail = "; ".join(
            f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
        )
        return Delivery(ok=False, retryable=retry, error=f"every recipient was refused ({detail})")
    except smtplib.SMTPAuthenticationError as exc:
        return Delivery(
            ok=False,
            error=f"the SMTP server refused the login ({exc.smtp_code} {_said(exc.smtp_error)})",
        )
    except smtplib.SMTPResponseException as exc:
        return Delivery(
            ok=False,
            retryable=400 <= exc.smtp_code < 500,
            error=f"the SMTP server answered {exc.smtp_code} {_said(exc.smtp_error)}",
            status_code=exc.smtp_code,
        )
    except smtplib.SMTPNotSupportedError as exc:
        return Delivery(ok=False, error=f"the SMTP server cannot do this: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        return Delivery(ok=False, retryable=True, error=f"could not reach the SMTP server: {exc}")
    info: dict[str, Any] = {"message_id": message["Message-ID"]}
    if refused:
        info["refused"] = {a: f"{c} {_said(m)}" for a, (c, m) in refused.items()}
    return Delivery(ok=True, status_code=250, info=info)


def _said(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
