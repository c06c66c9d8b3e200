"""Email over real SMTP (smtplib): building the message and classifying what the server says.

A message's Message-ID is derived from its delivery's idempotency key, so a message sent
again is recognisably the same message. But an SMTP server does not recognise a repeat, so a
message is handed over at most once: ``send`` calls ``before_data`` after the server accepted
the sender and recipients and before the message itself goes out (the DATA command). From
then on a broken connection or a missing answer is an unknown outcome (the message may have
arrived), reported as such and never retried; only a clear refusal (4xx/5xx) means it did not
arrive.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from collections.abc import Callable
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


class HandOverRefused(Exception):
    """``before_data`` says the message must not go out (e.g. the delivery is no longer ours)."""


class _HandOver:
    """Calls ``before_data`` once, just before the DATA command, and remembers that it did."""

    def __init__(self, before_data: Callable[[], None] | None) -> None:
        self.before_data = before_data
        self.begun = False
        self.accepted = False

    def wrap(self, client: smtplib.SMTP) -> None:
        plain_data = client.data

        def data(msg: bytes | str) -> tuple[int, bytes]:
            if self.before_data is not None:
                self.before_data()
            self.begun = True
            answer = plain_data(msg)  # sendmail raises SMTPDataError unless it is 250
            self.accepted = answer[0] == 250
            return answer

        client.data = data  # type: ignore[method-assign,assignment]


def send(
    server: SmtpServer,
    message: EmailMessage,
    recipients: list[str],
    *,
    before_data: Callable[[], None] | None = None,
) -> Delivery:
    """Hand one message to the server. Connection trouble, timeouts and 4xx answers before
    the message went out are worth retrying; 5xx answers (a refused login, refused recipients)
    are not; a connection lost after the message went out is an unknown outcome, not retried
    (``info["outcome_unknown"]``)."""
    hand_over = _HandOver(before_data)
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
        hand_over.wrap(client)
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
    except HandOverRefused as exc:
        return Delivery(ok=False, retryable=True, error=f"not handed over: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        if hand_over.accepted:  # only saying goodbye failed
            return Delivery(ok=True, status_code=250, info={"message_id": message["Message-ID"]})
        if hand_over.begun:
            return Delivery(
                ok=False,
                error="the connection to the SMTP server broke after the message was handed "
                f"over ({exc}); it may have arrived, so it is not sent again",
                info={"outcome_unknown": True},
            )
        return Delivery(ok=False, retryable=True, error=f"could not reach the SMTP server: {exc}")
    info: dict[str, Any] = {"message_id": message["Message-ID"]}
    if refused:
        info["refused"] = {a: f"{c} {_said(m)}" for a, (c, m) in refused.items()}
    return Delivery(ok=True, status_code=250, info=info)


def _said(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
