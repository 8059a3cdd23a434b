"""A real SMTP server for tests: aiosmtpd on a free local port, keeping what it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class Inbox:
    """What the server received, and a switch to refuse mail (a server in trouble)."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    refuse: bool = False
    delay: float = 0.0  # seconds before each answer to DATA: a slow server

    async def handle_DATA(self, server: SMTP, session: object, envelope) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return "451 4.3.0 try again later"
        self.envelopes.append(list(envelope.rcpt_tos))
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    @classmethod
    def link(cls, message: EmailMessage) -> str:
        found = re.search(r"https?://\S+/p/[A-Za-z0-9_\-]+", cls.text(message))
        assert found, "no personal link in the message"
        return found.group(0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """Start and stop an aiosmtpd controller."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class HungServer:
    """A server that accepts TCP connections and never says a word (a hung SMTP server)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)  # held open, never answered

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        except OSError:
            pass
        self.socket.close()
        for connection in self.accepted:
            connection.close()
