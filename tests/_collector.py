"""A test actor that keeps a stream's text and its terminal value(s)."""

from __future__ import annotations

import streamactors as sa


class Collector(sa.StreamingClient):
    """The text of every chunk, and each terminal's result or error in ``ends``."""

    def on_start(self) -> None:
        self.text = ""
        self.ends: list[sa.StreamResult | sa.StreamError] = []

    def handle_data(self, chunk: sa.Chunk, stream: sa.StreamHandle) -> None:
        self.text += chunk.text or ""

    def handle_finish(self, result: sa.StreamResult, stream: sa.StreamHandle) -> None:
        self.ends.append(result)

    def handle_error(self, error: sa.StreamError, stream: sa.StreamHandle) -> None:
        self.ends.append(error)
