"""The Telegram bot's background thread in a serving process (`bridge serve` embedded, every
`bridge worker`): with BRIDGE_TELEGRAM_UPDATES=poll it long-polls getUpdates whenever it holds the
poll lease (one process at a time across all of them; the others wait and take over when a
holder dies), with `webhook` it registers the webhook with Telegram once and ends."""

from __future__ import annotations

import logging
import os
import socket
import threading

from bridge.services.telegram import TelegramDesk

log = logging.getLogger(__name__)

MAX_BACKOFF = 60.0
"""Longest wait between attempts while Telegram or the database keeps failing."""


class TelegramPoller:
    def __init__(
        self,
        desk: TelegramDesk,
        mode: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        holder: str | None = None,
    ) -> None:
        self.desk = desk
        self.mode = mode
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.mode in ("poll", "webhook"):
            self._thread = threading.Thread(target=self._loop, name="bridge-telegram", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current long poll (not waiting longer than `timeout`), giving the lease
        back so that another process polls at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.mode == "poll":
            try:
                self.desk.give_back_lease(self.holder)
            except Exception as exc:  # it runs out by itself
                log.warning("telegram: could not give the poll lease back: %s", exc)

    def _loop(self) -> None:
        backoff = 1.0
        dropped_webhook = False
        while not self._stop.is_set():
            try:
                if self.mode == "webhook":
                    assert self.webhook_url is not None and self.webhook_secret is not None
                    self.desk.bot.set_webhook(self.webhook_url, self.webhook_secret)
                    log.info("telegram: webhook registered")
                    return
                if not dropped_webhook:
                    self.desk.bot.delete_webhook()  # getUpdates is refused while a webhook is set
                    dropped_webhook = True
                if self.desk.poll_once(self.holder) is None:  # another process polls
                    self._stop.wait(min(self.desk.poll_seconds, 10))
                backoff = 1.0
            except Exception as exc:
                log.warning("telegram: polling failed (%s); again in %.0fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
