"""Email to people: over SMTP when AIM_SMTP_URL names a server, into the log otherwise (development).

A message is posted, not awaited: it goes out after the request that caused it has answered, so how
long a mail server takes (or whether a message is sent at all) never shows in that answer's time."""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 10


class Mailer:
    def __init__(self, smtp_url: str | None, sender: str) -> None:
        self.smtp = urlsplit(smtp_url) if smtp_url else None
        self.sender = sender
        self._sending: set[asyncio.Task] = set()  # held so that they are not collected mid-way

    def post(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        task = asyncio.get_running_loop().create_task(self._send(message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, message: EmailMessage) -> None:
        if self.smtp is None:
            log.warning(
                "no AIM_SMTP_URL: this message was not sent\nTo: %s\nSubject: %s\n\n%s",
                message["To"],
                message["Subject"],
                message.get_content(),
            )
            return
        try:
            await aiosmtplib.send(
                message,
                hostname=self.smtp.hostname,
                port=self.smtp.port,
                username=unquote(self.smtp.username) if self.smtp.username else None,
                password=unquote(self.smtp.password) if self.smtp.password else None,
                use_tls=self.smtp.scheme == "smtps",
                start_tls=None if self.smtp.scheme == "smtps" else ("starttls=1" in self.smtp.query or None),
                timeout=SEND_TIMEOUT_S,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.error("could not send mail to %s: %s", message["To"], exc)

    async def drain(self) -> None:
        """Waits for what is on its way (at shutdown)."""
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
