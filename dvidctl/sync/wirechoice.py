"""Which form label blocks travel in during a transfer: stored bytes or a wire encoding.

:attr:`Options.wire <dvidctl.sync.transfer.Options.wire>` says ``stored``,
``labelblock`` (DVID's label Block under zstd, 2-3.5x fewer bytes,
:mod:`dvidctl.api.wire`, when both sides speak it) or ``auto``, which starts with
stored bytes and, after the first batch of an instance that has the encoding,
compares the seconds the smaller form would save on the link seen so far (bytes over
the rate of the requests made) with the seconds converting costs (timed on values of
that batch, both ways); it switches when the link is the slower.

:class:`WireChoice` is the part of :class:`~dvidctl.sync.transfer.Transfer` that
decides it; the transfer's streams ask it (:meth:`WireChoice.encoding` before a unit,
:meth:`WireChoice.undecided` while they keep a sample of the first batch).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from dvidctl.datatypes.registry import WireEncoding
from dvidctl.sync.endpoint import Endpoint
from dvidctl.sync.results import Stats

if TYPE_CHECKING:
    from dvidctl.sync.stream import Stream
    from dvidctl.sync.transfer import Options


class WireChoice:
    """The wire encoding of each instance of a transfer (see the module doc)."""

    sender: Endpoint
    receiver: Endpoint
    options: Options
    stats: Stats
    _lock: threading.RLock
    _streams: list[Stream]
    #: ``auto``'s choice once made (None: not yet), and each instance's encoding.
    _auto: bool | None
    _encodings: dict[str, WireEncoding | None]
    _pending: dict[str, WireEncoding]
    #: What ``auto`` measured: per value, seconds converting and bytes saved, and the
    #: link's bytes per second.
    measured: dict[str, float]

    def _init_wire(self) -> None:
        self._auto = None
        self._encodings = {}
        self._pending = {}
        self.measured = {}

    def encoding(self, data_uuid: str) -> None:
        """Set (once per instance) the wire encoding its values travel in."""
        with self._lock:
            if data_uuid in self._encodings:
                return
            mode, name = self.options.wire, "labelblock"
            offered: WireEncoding | None = None
            if all(name in ep.speaks for ep in self._eps):
                offered = self.sender.encoding_for(data_uuid, name)
                offered = offered or self.receiver.encoding_for(data_uuid, name)
            enc = offered if mode == name or (mode == "auto" and self._auto) else None
            if offered is not None:
                self.stats.labels = "labelblock" if enc is not None else "stored"
                if mode == "auto" and self._auto is None:
                    self._pending[data_uuid] = offered  # decided after its first batch
            self._encodings[data_uuid] = enc
            self._use(data_uuid, enc)

    def _use(self, data_uuid: str, enc: WireEncoding | None) -> None:
        for st in self._streams:
            for ep in (st.sender, st.receiver):
                ep.use_encoding(data_uuid, enc)

    def undecided(self, data_uuid: str) -> bool:
        """Whether ``auto`` still waits for values of ``data_uuid`` to time."""
        return data_uuid in self._pending

    @property
    def _eps(self) -> tuple[Endpoint, Endpoint]:
        return self.sender, self.receiver

    def _decide(self, data_uuid: str, sample: list[tuple[bytes, bytes]]) -> None:
        """``auto``: time converting values of the first batch; switch if the link is the slower."""
        enc = self._pending.pop(data_uuid, None)
        if enc is None:
            return
        if self._auto is None:
            self._auto = self._judge(enc, sample)
            if self._auto is None:
                self._pending[data_uuid] = enc  # nothing to judge by yet
                return
            self.stats.labels = "labelblock" if self._auto else "stored"
        if self._auto:
            self._encodings[data_uuid] = enc
            self._use(data_uuid, enc)

    def _judge(self, enc: WireEncoding, sample: list[tuple[bytes, bytes]]) -> bool | None:
        """Whether ``enc`` saves more link seconds than it costs (None: nothing to tell by)."""
        eps = [ep for st in self._streams for ep in (st.sender, st.receiver, st.ahead) if ep]
        link_b = sum(ep.link_bytes for ep in eps)
        link_s = sum(ep.link_seconds for ep in eps)
        if link_s <= 0 or link_b <= 0:
            return None
        rate = link_b / link_s
        for tk, v in sample[:64]:
            floor = enc.floor_seconds(tk, v)
            if floor is not None:  # the whole value saved could not pay for the conversion
                if len(v) / rate <= floor:
                    self.measured = {"convert_s_at_least": floor, "link_bytes_per_s": rate}
                    return False
                break
        t0 = time.perf_counter()
        wired: list[tuple[bytes, bytes]] = []
        saved = 0.0
        for tk, v in sample[:64]:
            w = enc.encode_many([(tk, v)])[0]
            if w is not None:
                wired.append((tk, w))
                saved += len(v) - len(w)
                if len(wired) >= self.options.sample:
                    break
        if not wired:
            return None
        enc.decode_many(wired)
        conv = (time.perf_counter() - t0) / len(wired)
        saved /= len(wired)
        self.measured = {"convert_s": conv, "saved_bytes": saved, "link_bytes_per_s": rate}
        return saved / rate > conv
