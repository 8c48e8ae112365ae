"""A final answer started before the end of input, kept only if the input ends unchanged.

When the user pauses, the session may start its final answer on the input so far (see
`LiveMindSession.speculate`). The request streams into a buffer in the background; nothing is
published. If the pause turns out to be the end of the input, `replay()` hands the buffered
chunks over at once and then follows the live stream; if the user goes on, `cancel()` aborts
the request and the buffer is dropped, leaving no trace in the conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from ..llm.base import Chunk, EngineError, abort_in_background


class SpeculativeAnswer:
    """One answer request on `text`, streamed into a buffer as it is generated."""

    def __init__(
        self,
        text: str,
        call_id: str,
        chunks: AsyncIterator[Chunk],
        abort: Callable[[str], Awaitable[None]],
    ) -> None:
        self.text = text
        self.call_id = call_id
        self._abort = abort  # the engine's abort(request_id)
        self.generated_chars = 0
        self._queue: asyncio.Queue[Chunk | EngineError | None] = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._pump(chunks))

    async def _pump(self, chunks: AsyncIterator[Chunk]) -> None:
        try:
            async for chunk in chunks:
                self.generated_chars += len(chunk.text)
                self._queue.put_nowait(chunk)
        except EngineError as exc:  # raised again to whoever replays it
            self._queue.put_nowait(exc)
        except asyncio.CancelledError:
            abort_in_background(self._abort, self.call_id)  # see there: cancelling may not do
            raise
        finally:
            self._queue.put_nowait(None)

    async def replay(self) -> AsyncIterator[Chunk]:
        """Everything generated so far, then the rest as it comes (once: it consumes)."""
        while (item := await self._queue.get()) is not None:
            if isinstance(item, EngineError):
                raise item
            yield item

    def cancel(self) -> None:
        """Abort the request (cancel the stream, then abort it in the engine)."""
        self._task.cancel()
