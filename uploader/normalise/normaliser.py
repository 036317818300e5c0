"""The stateful normaliser: journal lines in file order in, wire events out.

Speed comes from not parsing what we do not need (most lines: Music, ReceiveText, ...): the event
name is found with a bytes scan, only relevant lines are parsed (orjson), and repeated depot
snapshots (every 15 s while docked, quirk 19) are recognised from their bytes minus the timestamp
before any parsing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from uploader.journal.reader import Chunk, RawLine, id_seed
from uploader.normalise.fields import (
    BadLineError,
    JsonObject,
    opt_bool,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
    parse_time,
    req_int,
    req_list,
    req_str,
)
from uploader.normalise.names import canonical_commodity, station_display_name
from wire import (
    BeaconDeployedEvent,
    CargoEvent,
    CargoItem,
    CargoTransferEvent,
    CargoTransferItem,
    CarrierDepositFuelEvent,
    CarrierJumpCancelledEvent,
    CarrierJumpEvent,
    CarrierJumpRequestEvent,
    CarrierLocationEvent,
    CarrierStatsEvent,
    CarrierTradeOrderEvent,
    CommanderEvent,
    ConstructionCompleteEvent,
    ContributionEvent,
    ContributionItem,
    DepotEvent,
    DepotResource,
    DockedEvent,
    EventBase,
    FsdJumpEvent,
    KnownEvent,
    LoadoutEvent,
    LocationEvent,
    MarketBuyEvent,
    MarketEvent,
    MarketItem,
    MarketSellEvent,
    ShutdownEvent,
    SystemClaimEvent,
    SystemClaimReleaseEvent,
    UndockedEvent,
)

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

# EliteDangerousCore's MarketID analysis (journals/README): topcodes 3700-3770 are fleet carriers.
_CARRIER_IDS = range(3_700_000_000, 3_771_000_000)
_CARRIER_TYPES = frozenset({"FleetCarrier", "SquadronCarrier"})
_SITE_SERVICE = "colonisationcontribution"
_MAX_KNOWN_CARRIERS = 256
_MAX_FID = 32


class SideFiles(Protocol):
    """Reads Cargo.json / Market.json for a live event; None when the file does not match it."""

    def cargo(
        self, event_time: datetime, *, count: int | None = None, vessel: str = "Ship"
    ) -> list[CargoItem] | None: ...

    def market(self, market_id: int, event_time: datetime) -> list[MarketItem] | None: ...


class NormaliserState(BaseModel):
    """Everything the normaliser carries from line to line (and file to file).

    Persisted by the outbox in the same transaction as the file offsets, so a restart resumes
    with exactly the context it had.
    """

    model_config = ConfigDict(extra="forbid")

    commander: str | None = None
    fid: str | None = None
    system: str | None = None
    system_address: int | None = None
    docked: bool = False
    station: str | None = Field(default=None, description="Display name of the station docked at.")
    station_type: str | None = None
    market_id: int | None = None
    known_carriers: list[int] = Field(default_factory=list, description="Carrier ids seen, newest last.")
    # Snapshot de-duplication ("depot" since the last dock, "carrier_stats"): digests of the last
    # emitted snapshot's bytes minus its timestamp (fast path, before parsing) and of its content.
    last_snapshot_raw: dict[str, str] = Field(default_factory=dict)
    last_snapshot_key: dict[str, str] = Field(default_factory=dict)
    # The commander this file has named (FID, else name) and the file it applies to: part of
    # every event id (see `event_id`); "" until the file's Commander / LoadGame line.
    id_file: str | None = None
    id_owner: str = ""
    # The file's Fileheader named a legacy-galaxy client (gameversion below 4): its lines are not
    # sent (journals/README quirk 30: colonisation, carriers and this squadron live in the live one).
    legacy: bool = False
    # The file's Fileheader time: which contexts to keep (the newest sessions', not the last read).
    started: datetime | None = None
    # The contexts of the other files read lately (each with its `id_file`), least recent first:
    # two game instances (a hauling alt) write two journals at once, and each line belongs to the
    # commander, place and event ids of its own file.
    other_files: list[NormaliserState] = Field(default_factory=list)


class NormaliserStats(BaseModel):
    lines: int = 0
    invalid: int = 0  # not JSON, not an object, no event name: skipped with a logged reason
    events: int = 0
    duplicates: int = 0  # depot / carrier snapshots identical to the previous one, not sent again


@dataclass(slots=True)
class _Context:
    """The mutable working copy of NormaliserState (a dataclass: cheap to read on every line)."""

    commander: str | None = None
    fid: str | None = None
    system: str | None = None
    system_address: int | None = None
    docked: bool = False
    station: str | None = None
    station_type: str | None = None
    market_id: int | None = None
    known_carriers: list[int] = field(default_factory=list)
    last_snapshot_raw: dict[str, str] = field(default_factory=dict)
    last_snapshot_key: dict[str, str] = field(default_factory=dict)
    id_file: str | None = None
    id_owner: str = ""
    legacy: bool = False
    started: datetime | None = None
    # The last snapshot's bytes minus timestamp per slot, in memory only (state keeps digests).
    last_raw: dict[str, bytes] = field(default_factory=dict)

    def for_file(self, fingerprint: str) -> _Context:
        """The context a file not read before starts from: this one's (a new session's
        Fileheader and Commander lines reset what is the file's own), its ids not yet owned."""
        return replace(
            self,
            known_carriers=list(self.known_carriers),
            last_snapshot_raw=dict(self.last_snapshot_raw),
            last_snapshot_key=dict(self.last_snapshot_key),
            last_raw=dict(self.last_raw),
            id_file=fingerprint,
            id_owner="",
            legacy=False,
            started=None,
        )


# Files whose context is kept besides the current one: the journals that may still be written.
KEPT_FILE_CONTEXTS = 8


def scan_event_name(data: bytes) -> bytes | None:
    """The `event` value of a journal line without parsing it; None when there is none.

    Handles the game's and compact `"event":"X"` and re-serialised `"event": "X"` spacing.
    """
    i = data.find(b'"event":"')
    if i >= 0:
        start = i + 9
    else:
        i = data.find(b'"event"')
        while True:
            if i < 0:
                return None
            j = i + 7
            n = len(data)
            while j < n and data[j] in b" \t":
                j += 1
            if j < n and data[j] == 0x3A:  # ':'
                j += 1
                while j < n and data[j] in b" \t":
                    j += 1
                if j < n and data[j] == 0x22:  # '"'
                    start = j + 1
                    break
                return None
            i = data.find(b'"event"', j)
    end = data.find(b'"', start)
    if end < 0:
        return None
    return data[start:end]


def without_timestamp(data: bytes) -> bytes:
    """The line's bytes minus its timestamp value: equal for snapshots that differ only in time."""
    t = data.find(b'"timestamp"')
    if t < 0:
        return data
    q1 = data.find(b'"', t + 11)
    q2 = data.find(b'"', q1 + 1) if q1 >= 0 else -1
    if q2 < 0:
        return data
    return data[:q1] + data[q2:]


def _line_id(seed: Any, owner: str, offset: int, data: bytes) -> str:
    h = seed.copy()  # `event_id`, with the fingerprint already fed
    h.update(b"%b\x00%d\x00" % (owner.encode("utf-8"), offset))  # one update: same bytes hashed
    h.update(data)
    return str(h.hexdigest())


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _opt_localised(obj: JsonObject, key: str) -> str | None:
    """`*_Localised` if it is real text; the game omits it when it equals the symbol (quirk 14)."""
    value = opt_str(obj, key)
    if value is None or value.startswith("$"):
        return None
    return value


class _Move(NamedTuple):
    system: str
    system_address: int | None
    docked: bool
    station: str | None
    station_type: str | None
    market_id: int | None


@dataclass(slots=True)
class _Line:
    """One line being normalised: what every wire event of it carries."""

    source: str
    seed: Any  # blake2b already fed the file's fingerprint: see `event_id`
    raw: RawLine
    timestamp: datetime
    raw_key: bytes | None  # snapshots only: the line's bytes minus the timestamp

    def base(self, ctx: _Context) -> dict[str, object]:
        return {
            "id": _line_id(self.seed, ctx.id_owner, self.raw.offset, self.raw.data),
            "timestamp": self.timestamp,
            "source": self.source,
            "offset": self.raw.offset,
            "commander": ctx.commander,
            "fid": ctx.fid,
            "at_system": ctx.system,
            "at_system_address": ctx.system_address,
            "at_station": ctx.station if ctx.docked else None,
            "at_market_id": ctx.market_id if ctx.docked else None,
        }


_Handler = Callable[["Normaliser", JsonObject, _Line], list[KnownEvent]]

# Snapshot events: consecutive ones identical but for their time are sent once (slot names).
_SNAPSHOTS = {
    b"ColonisationConstructionDepot": "depot",
    b"ColonizationConstructionDepot": "depot",
    b"CarrierStats": "carrier_stats",
}
_BASE_FIELDS = frozenset(EventBase.model_fields)


class Normaliser:
    def __init__(self, state: NormaliserState | None = None, side_files: SideFiles | None = None) -> None:
        state = state or NormaliserState()
        self._ctx = _context_of(state)
        if self._ctx.id_file is not None and self._ctx.started is None:
            # Saved by a version that did not keep session starts: the file read last is the
            # newest session known (most likely the live one), not the oldest.
            self._ctx.started = datetime.now(UTC)
        # The other files' contexts by fingerprint, least recently read first (ties of age go first).
        self._others: dict[str, _Context] = {
            other.id_file: _context_of(other) for other in state.other_files if other.id_file
        }
        # Depot resources repeat from one snapshot to the next: validated once, reused (frozen).
        self._resources: dict[tuple[object, ...], tuple[DepotResource, tuple[object, ...]]] = {}
        self._side_files = side_files
        self._stats = NormaliserStats()

    @property
    def state(self) -> NormaliserState:
        """A snapshot of the current state, to persist beside the offset."""
        return _state_of(self._ctx).model_copy(
            update={"other_files": [_state_of(c) for c in self._others.values()]}
        )

    def note_started(self, fingerprint: str, started: datetime) -> None:
        """The file's session start, from its Fileheader as the tailer read it: for a context saved
        by a version that did not keep it (which would otherwise count as the oldest session)."""
        ctx = self._ctx if self._ctx.id_file == fingerprint else self._others.get(fingerprint)
        if ctx is not None and ctx.started is None:
            ctx.started = started

    def restart_file(self, fingerprint: str) -> None:
        """The file is read again from its start (it shrank): its lines name their commander again,
        and their ids must come out as the first time."""
        if self._ctx.id_file == fingerprint:
            self._ctx.id_owner, self._ctx.legacy = "", False
        self._others.pop(fingerprint, None)

    @property
    def stats(self) -> NormaliserStats:
        return self._stats.model_copy()

    def feed(
        self, source: str, fingerprint: str, lines: Iterable[RawLine], *, continues: str | None = None
    ) -> list[KnownEvent]:
        """Normalise the lines of journal file `source` (whose fingerprint seeds the event ids).

        `continues`: for a `Continued` part (`.02.log`), the fingerprint of its session's part
        before it, whose context it carries on, rather than that of the journal read last (with two
        game instances, the other's)."""
        out: list[KnownEvent] = []
        # Without side files a Market line can give nothing: it is then not even parsed.
        handlers = _HANDLERS if self._side_files is not None else _HANDLERS_WITHOUT_SIDE_FILES
        count = duplicates = 0  # plain ints: a pydantic attribute set per line costs real time
        seed = self._start_file(fingerprint, continues)
        # This loop runs for every line of every journal: keep its common path (an event we do
        # not send) to a few C-level calls.
        for raw in lines:
            count += 1
            data = raw[1]
            if data[:1] != b"{":  # garbage, or the remainder of a cut line (quirk 6)
                self._invalid(source, raw, "not a JSON object")
                continue
            i = data.find(b'"event":"')
            if i >= 0:
                i += 9
                name = data[i : data.find(b'"', i)]
            else:
                name = scan_event_name(data) or b""
            handler = handlers.get(name)
            if handler is None:
                continue  # an event we do not send (or no event name): never parsed nor judged
            duplicates += self._relevant(source, seed, raw, name, handler, handlers, out)
        self._count(count, duplicates, out)
        return out

    def feed_chunk(
        self, source: str, fingerprint: str, chunk: Chunk, *, continues: str | None = None
    ) -> list[KnownEvent]:
        """`feed(source, fingerprint, chunk.lines)`, with the same result, without a per-line loop.

        When no line needs the reader's careful split (NUL runs, blank lines, a line not starting
        with `{`: checked with whole-buffer scans in C), one regex pass over the whole buffer finds
        the lines of the events we send; the rest (nine lines in ten: Music, ReceiveText, ...)
        never become Python objects, exactly as in `feed`, which never parses nor judges them.
        """
        data = chunk.data
        count = chunk.line_count
        if not count:
            return []
        if data[0] != 0x7B or data.find(b"\x00") >= 0 or _BAD_LINE_START.search(data) is not None:
            return self.feed(source, fingerprint, chunk.lines, continues=continues)
        if self._side_files is not None:
            handlers, pattern = _HANDLERS, _RELEVANT_RE
        else:
            handlers, pattern = _HANDLERS_WITHOUT_SIDE_FILES, _RELEVANT_RE_WITHOUT_SIDE_FILES
        out: list[KnownEvent] = []
        duplicates = 0
        seed = self._start_file(fingerprint, continues)
        base = chunk.base
        rfind, find = data.rfind, data.find
        last_start = -1
        for match in pattern.finditer(data):
            pos = match.start()
            start = rfind(b"\n", 0, pos) + 1
            # A line counts by its first "event" key, as in `feed`: a later match in the same
            # line (an "event" inside a nested object) is not the line's event.
            if start == last_start or find(b'"event"', start, pos) >= 0:
                continue
            last_start = start
            end = find(b"\n", pos)
            line = data[start : end - 1] if data[end - 1] == 0x0D else data[start:end]
            name = match.group(1)
            duplicates += self._relevant(
                source, seed, RawLine(base + start, line), name, handlers[name], handlers, out
            )
        self._count(count, duplicates, out)
        return out

    def _start_file(self, fingerprint: str, continues: str | None = None) -> Any:
        """Switch to the file's own context (for a file not read lately, made from the one of the
        part it `continues`, else from the last one); returns its id seed."""
        ctx = self._ctx
        if ctx.id_file != fingerprint:
            own = self._others.pop(fingerprint, None)
            if own is None:  # before the eviction below, which could take the part it continues
                base = self._others.get(continues, ctx) if continues is not None else ctx
                own = base.for_file(fingerprint)
            if ctx.id_file is not None:
                self._others[ctx.id_file] = ctx
                while len(self._others) > KEPT_FILE_CONTEXTS:
                    # The oldest session goes, not the least recently read: a restored backup's
                    # dozen old journals must not push out the live one's context.
                    oldest = min(self._others.items(), key=_session_age)[0]
                    del self._others[oldest]
            self._ctx = own
        return id_seed(fingerprint)

    def _count(self, lines: int, duplicates: int, out: list[KnownEvent]) -> None:
        stats = self._stats
        stats.lines += lines
        stats.duplicates += duplicates
        stats.events += len(out)

    def _relevant(
        self,
        source: str,
        seed: Any,
        raw: RawLine,
        name: bytes,
        handler: _Handler,
        handlers: dict[bytes, _Handler],
        out: list[KnownEvent],
    ) -> int:
        """Normalise one line of an event we send into `out`; 1 when it was a repeated snapshot."""
        data = raw[1]
        if data[-1] != 0x7D and data.rstrip()[-1:] != b"}":  # '}': a cut line (quirk 6)
            self._invalid(source, raw, "not a complete JSON object")
            return 0
        raw_key = None
        slot = _SNAPSHOTS.get(name)
        if slot is not None:
            raw_key = without_timestamp(data)
            last = self._ctx.last_raw.get(slot)
            if last is not None:
                repeat = raw_key == last  # a memcmp: cheaper than any hash
            else:  # just restored from a saved state: only the digest is known
                saved = self._ctx.last_snapshot_raw.get(slot)
                repeat = saved is not None and _digest(raw_key) == saved
            if repeat:
                return 1
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            self._invalid(source, raw, f"not JSON: {exc}")
            return 0
        if not isinstance(obj, dict):
            self._invalid(source, raw, "not a JSON object")
            return 0
        try:
            parsed_name = obj.get("event")
            if not isinstance(parsed_name, str) or not parsed_name:
                raise BadLineError("no event name")
            if parsed_name != name.decode("utf-8", "replace"):
                # The scan met an "event" key before the real one: trust the parse.
                name = parsed_name.encode()
                found = handlers.get(name)
                if found is None:
                    return 0
                handler = found
                raw_key = without_timestamp(data) if name in _SNAPSHOTS else None
            if self._ctx.legacy and handler is not _FILEHEADER:
                return 0  # a legacy-galaxy session: nothing of it is sent
            stamp = parse_time(req_str(obj, "timestamp"))
            line_events = handler(self, obj, _Line(source, seed, raw, stamp, raw_key))
        except (BadLineError, ValidationError) as exc:
            self._invalid(source, raw, str(exc).replace("\n", " "))
            return 0
        except Exception:
            # A bug met on one odd line must not wedge the uploader on it forever (the tailer
            # would retry the same line at every start): log it loudly, skip, count it.
            self._stats.invalid += 1
            logger.exception("skipping line of %s at byte %d: unexpected error", source, raw[0])
            return 0
        out.extend(line_events)
        return 0

    def _invalid(self, source: str, raw: RawLine, reason: str) -> None:
        self._stats.invalid += 1
        logger.warning("skipping line of %s at byte %d: %s", source, raw.offset, reason[:300])

    # --- colonisation ---------------------------------------------------------------------------

    def _snapshot_seen(self, slot: str, line: _Line, key: str) -> bool:
        """Whether this snapshot's content equals the last one's; remembers it either way."""
        ctx = self._ctx
        if line.raw_key is not None:
            ctx.last_raw[slot] = line.raw_key  # its digest is taken only when the state is saved
        if ctx.last_snapshot_key.get(slot) == key:
            # Same content written differently (another file's formatting, a field we drop).
            self._stats.duplicates += 1
            return True
        ctx.last_snapshot_key[slot] = key
        return False

    def _new_resource(
        self, item: JsonObject, legacy: bool, cache_key: tuple[object, ...] | None
    ) -> tuple[DepotResource, tuple[object, ...]]:
        resource = DepotResource(
            name=canonical_commodity(req_str(item, "Name")),
            name_localised=_opt_localised(item, "Name_Localised"),
            required=req_int(item, "Total" if legacy else "RequiredAmount"),
            provided=req_int(item, "Delivered" if legacy else "ProvidedAmount"),
            payment=opt_int(item, "Payment") or 0,
        )
        plain = (
            resource.name,
            resource.name_localised,
            resource.required,
            resource.provided,
            resource.payment,
        )
        if cache_key is not None:
            if len(self._resources) >= 4096:
                self._resources.clear()
            self._resources[cache_key] = (resource, plain)
        return resource, plain

    def _depot(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        market_id = req_int(obj, "MarketID")
        if "ResourcesRequired" in obj:
            legacy = False
            items = req_list(obj, "ResourcesRequired")
            k_required, k_provided = "RequiredAmount", "ProvidedAmount"
        elif "Commodities" in obj:
            # The shape the original design supported; no real line uses it (journals/README §2).
            legacy = True
            items = req_list(obj, "Commodities")
            k_required, k_provided = "Total", "Delivered"
        else:
            raise BadLineError("depot without ResourcesRequired or Commodities")
        # Resources repeat from one snapshot to the next: each distinct one is validated once. The
        # numbers' types are part of the key: 1 == True, and `true` is no tonnage nor payment.
        cache = self._resources
        resources: list[DepotResource] = []
        plains: list[tuple[object, ...]] = []
        for item in items:
            get = item.get
            required, provided, payment = get(k_required), get(k_provided), get("Payment")
            key: tuple[object, ...] | None = (
                legacy,
                get("Name"),
                get("Name_Localised"),
                required,
                provided,
                payment,
                required.__class__,
                provided.__class__,
                payment.__class__,
            )
            try:
                hit = cache.get(key)  # type: ignore[arg-type]
            except TypeError:  # an unhashable value (a list...): validation will say what is wrong
                hit, key = None, None
            if hit is None:
                hit = self._new_resource(item, legacy, key)
            resources.append(hit[0])
            plains.append(hit[1])
        progress = opt_number(obj, "ConstructionProgress")
        complete = opt_bool(obj, "ConstructionComplete")
        if progress is None or complete is None:
            required = sum(r.required for r in resources)
            provided = sum(r.provided for r in resources)
            if progress is None:
                progress = round(provided / required, 6) if required else 0.0
            if complete is None:
                complete = required > 0 and all(r.provided >= r.required for r in resources)
        failed = opt_bool(obj, "ConstructionFailed") or False
        digest = _digest(orjson.dumps([market_id, progress, complete, failed, plains]))
        here = ctx.docked and ctx.market_id == market_id
        event = DepotEvent(
            **line.base(ctx),
            market_id=market_id,
            progress=progress,
            complete=complete,
            failed=failed,
            resources=resources,
            station_name=ctx.station if here else None,
            station_type=ctx.station_type if here else None,
            system_name=ctx.system if here else None,
            system_address=ctx.system_address if here else None,
        )
        if self._snapshot_seen("depot", line, digest):
            return []
        return [event]

    def _contribution(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        market_id = opt_int(obj, "MarketID")
        if market_id is None:
            market_id = ctx.market_id if ctx.docked else None
        if market_id is None:
            raise BadLineError("contribution without MarketID while not docked")
        items: list[ContributionItem] = []
        if "Contributions" in obj:
            for item in req_list(obj, "Contributions"):
                items.append(
                    ContributionItem(
                        name=canonical_commodity(req_str(item, "Name")),
                        name_localised=_opt_localised(item, "Name_Localised"),
                        amount=req_int(item, "Amount"),
                    )
                )
        elif "Commodity" in obj:
            # Flat shape of the original design (Commodity/Quantity/TotalQuantity); never seen real.
            items.append(
                ContributionItem(
                    name=canonical_commodity(req_str(obj, "Commodity")),
                    name_localised=_opt_localised(obj, "Commodity_Localised"),
                    amount=req_int(obj, "Quantity"),
                )
            )
        else:
            raise BadLineError("contribution without Contributions or Commodity")
        return [ContributionEvent(**line.base(ctx), market_id=market_id, items=items)]

    def _claim(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return [
            SystemClaimEvent(
                **line.base(self._ctx),
                system_name=req_str(obj, "StarSystem"),
                system_address=req_int(obj, "SystemAddress"),
            )
        ]

    def _claim_release(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return [
            SystemClaimReleaseEvent(
                **line.base(self._ctx),
                system_name=req_str(obj, "StarSystem"),
                system_address=req_int(obj, "SystemAddress"),
            )
        ]

    def _beacon(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        # The game writes no location (quirk 26): the system the commander was last seen in.
        return [
            BeaconDeployedEvent(**line.base(ctx), system_name=ctx.system, system_address=ctx.system_address)
        ]

    def _complete(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        market_id = ctx.market_id if ctx.docked else None
        return [ConstructionCompleteEvent(**line.base(ctx), market_id=market_id)]

    # --- where the commander is -----------------------------------------------------------------

    @staticmethod
    def _at(move: _Move) -> dict[str, object]:
        """The `at_*` fields of an event that moves the commander: where they are after it."""
        return {
            "at_system": move.system,
            "at_system_address": move.system_address,
            "at_station": move.station if move.docked else None,
            "at_market_id": move.market_id if move.docked else None,
        }

    def _go(self, move: _Move) -> None:
        """Commit a move, once its event validated (a bad line must leave the context alone)."""
        ctx = self._ctx
        ctx.system = move.system
        ctx.system_address = move.system_address
        ctx.docked = move.docked
        ctx.station = move.station if move.docked else None
        ctx.station_type = move.station_type if move.docked else None
        ctx.market_id = move.market_id if move.docked else None
        if move.docked:
            # A dock starts a new run of depot snapshots (quirk 19: one arrives 0-2 s after).
            ctx.last_snapshot_raw.pop("depot", None)
            ctx.last_raw.pop("depot", None)
            ctx.last_snapshot_key.pop("depot", None)
            if move.market_id is not None and move.station_type in _CARRIER_TYPES:
                self._remember_carrier(move.market_id)

    def _remember_carrier(self, carrier_id: int) -> None:
        known = self._ctx.known_carriers
        if known and known[-1] == carrier_id:
            return
        if carrier_id in known:
            known.remove(carrier_id)
        known.append(carrier_id)
        del known[:-_MAX_KNOWN_CARRIERS]

    def _move_from(self, obj: JsonObject, docked: bool, market_required: bool = False) -> _Move:
        """System and (when docked) station of a Docked / Location / CarrierJump / FSDJump line.

        Only `Docked` must name its MarketID: the others still place the commander without one.
        """
        system = req_str(obj, "StarSystem")
        address = opt_int(obj, "SystemAddress")
        if not docked:
            return _Move(system, address, False, None, None, None)
        name = station_display_name(req_str(obj, "StationName"), opt_str(obj, "StationName_Localised"))
        if not name:
            raise BadLineError("empty StationName")
        market_id = req_int(obj, "MarketID") if market_required else opt_int(obj, "MarketID")
        return _Move(system, address, True, name, opt_str(obj, "StationType") or None, market_id)

    @staticmethod
    def _is_site(obj: JsonObject, station_type: str | None) -> bool:
        services = obj.get("StationServices")
        if services is not None and not isinstance(services, list):
            raise BadLineError(f"'StationServices' must be a list, got {type(services).__name__}")
        if services is not None and _SITE_SERVICE in services:
            return True
        return bool(station_type and station_type.endswith("ConstructionDepot"))

    def _docked(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        move = self._move_from(obj, True, market_required=True)
        event = DockedEvent(
            **{**line.base(self._ctx), **self._at(move)},
            market_id=move.market_id,
            station_name=move.station,
            station_type=move.station_type,
            system_name=move.system,
            system_address=move.system_address,
            construction_site=self._is_site(obj, move.station_type),
        )
        self._go(move)
        return [event]

    def _undocked(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        market_id = opt_int(obj, "MarketID")
        name = opt_str(obj, "StationName")
        station = station_display_name(name, opt_str(obj, "StationName_Localised")) if name else None
        event = UndockedEvent(
            **{**line.base(ctx), "at_station": None, "at_market_id": None},
            market_id=market_id if market_id is not None else ctx.market_id,
            station_name=station if station is not None else ctx.station,
        )
        ctx.docked = False
        ctx.station = ctx.station_type = None
        ctx.market_id = None
        return [event]

    def _location(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        move = self._move_from(obj, opt_bool(obj, "Docked") or False)
        event = LocationEvent(
            **{**line.base(self._ctx), **self._at(move)},
            system_name=move.system,
            system_address=move.system_address,
            docked=move.docked,
            market_id=move.market_id,
            station_name=move.station,
            station_type=move.station_type,
            construction_site=move.docked and self._is_site(obj, move.station_type),
        )
        self._go(move)
        return [event]

    def _fsd_jump(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        move = self._move_from(obj, False)
        event = FsdJumpEvent(
            **{**line.base(self._ctx), **self._at(move)},
            system_name=move.system,
            system_address=move.system_address,
        )
        self._go(move)
        return [event]

    def _carrier_jump(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        ctx = self._ctx
        move = self._move_from(obj, opt_bool(obj, "Docked") or False)
        if not move.docked and opt_bool(obj, "OnFoot") and ctx.docked and ctx.station_type in _CARRIER_TYPES:
            # On foot aboard the carrier: it jumped with the ship still docked on it (an Undocked
            # from it follows), so trades and transfers meanwhile are at the carrier.
            move = _Move(move.system, move.system_address, True, ctx.station, ctx.station_type, ctx.market_id)
        event = CarrierJumpEvent(
            **{**line.base(self._ctx), **self._at(move)},
            system_name=move.system,
            system_address=move.system_address,
            docked=move.docked,
            market_id=move.market_id,
            station_name=move.station,
            station_type=move.station_type,
        )
        self._go(move)
        return [event]

    # --- who and what ship ----------------------------------------------------------------------

    def _who(self, name: str, fid: str | None, line: _Line, always: bool) -> list[KnownEvent]:
        ctx = self._ctx
        if fid is not None and len(fid) > _MAX_FID:
            fid = None  # not a Frontier ID we can carry; the name still identifies the journal
        if not always and name == ctx.commander and (fid is None or fid == ctx.fid):
            ctx.id_owner = ctx.fid or name  # this file names its commander (see `event_id`)
            return []  # LoadGame right after Commander: already said
        if fid is None and name == ctx.commander:
            fid = ctx.fid  # LoadGame without FID (old journals) of the same commander
        event = CommanderEvent(**{**line.base(ctx), "commander": name, "fid": fid}, name=name)
        ctx.commander = name
        ctx.fid = fid
        # From the next line on, this file's event ids carry its owner (see `event_id`).
        ctx.id_owner = fid or name
        return [event]

    def _commander(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return self._who(req_str(obj, "Name"), opt_str(obj, "FID"), line, always=True)

    def _load_game(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return self._who(req_str(obj, "Commander"), opt_str(obj, "FID"), line, always=False)

    def _loadout(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        # Only the hull type and capacity: ShipName / ShipIdent are the commander's own text.
        return [
            LoadoutEvent(
                **line.base(self._ctx),
                ship=req_str(obj, "Ship").lower(),
                cargo_capacity=opt_int(obj, "CargoCapacity") or 0,
            )
        ]

    def _cargo(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        count, vessel = req_int(obj, "Count"), opt_str(obj, "Vessel") or "Ship"
        inventory: list[CargoItem] | None
        if "Inventory" in obj:
            inventory = [
                CargoItem(
                    name=canonical_commodity(req_str(item, "Name")),
                    name_localised=_opt_localised(item, "Name_Localised"),
                    count=req_int(item, "Count"),
                    stolen=(opt_int(item, "Stolen") or 0) > 0,
                    mission=item.get("MissionID") is not None,
                )
                for item in req_list(obj, "Inventory")
            ]
        elif self._side_files is not None:
            # A bare Cargo means "Cargo.json changed" (quirk 29).
            inventory = self._read_side_file(
                "Cargo.json", line, lambda f: f.cargo(line.timestamp, count=count, vessel=vessel)
            )
        else:
            inventory = None
        return [
            CargoEvent(
                **line.base(self._ctx),
                vessel=vessel,
                count=count,
                inventory=inventory,
            )
        ]

    def _read_side_file(self, what: str, line: _Line, read: Callable[[SideFiles], _T | None]) -> _T | None:
        """A side file's contents, or None: a failed read loses the extra detail, not the event."""
        if self._side_files is None:
            return None
        try:
            return read(self._side_files)
        except Exception:
            logger.warning(
                "could not read %s for the line of %s at byte %d",
                what,
                line.source,
                line.raw[0],
                exc_info=True,
            )
            return None

    # --- trade ----------------------------------------------------------------------------------

    def _market_buy(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return [
            MarketBuyEvent(
                **line.base(self._ctx),
                market_id=req_int(obj, "MarketID"),
                commodity=canonical_commodity(req_str(obj, "Type")),
                commodity_localised=_opt_localised(obj, "Type_Localised"),
                count=req_int(obj, "Count"),
            )
        ]

    def _market_sell(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return [
            MarketSellEvent(
                **line.base(self._ctx),
                market_id=req_int(obj, "MarketID"),
                commodity=canonical_commodity(req_str(obj, "Type")),
                commodity_localised=_opt_localised(obj, "Type_Localised"),
                count=req_int(obj, "Count"),
            )
        ]

    def _cargo_transfer(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        transfers = [
            CargoTransferItem(
                commodity=canonical_commodity(req_str(item, "Type")),
                commodity_localised=_opt_localised(item, "Type_Localised"),
                count=req_int(item, "Count"),
                direction=req_str(item, "Direction").lower(),
            )
            for item in req_list(obj, "Transfers")
        ]
        return [CargoTransferEvent(**line.base(self._ctx), transfers=transfers)]

    def _market(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        """A carrier's market: its stock is only in Market.json (the journal line has no items)."""
        ctx = self._ctx
        market_id = req_int(obj, "MarketID")
        station_type = opt_str(obj, "StationType") or None
        carrier = (
            station_type in _CARRIER_TYPES
            or market_id in ctx.known_carriers
            or market_id in _CARRIER_IDS
            or (ctx.docked and ctx.market_id == market_id and ctx.station_type in _CARRIER_TYPES)
        )
        if not carrier or self._side_files is None:
            return []
        items = self._read_side_file("Market.json", line, lambda f: f.market(market_id, line.timestamp))
        if items is None:
            return []
        name = opt_str(obj, "StationName")
        return [
            MarketEvent(
                **line.base(ctx),
                market_id=market_id,
                station_name=station_display_name(name, opt_str(obj, "StationName_Localised")),
                station_type=station_type,
                system_name=opt_str(obj, "StarSystem"),
                items=items,
            )
        ]

    # --- fleet carriers -------------------------------------------------------------------------

    def _carrier_stats(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        usage = opt_object(obj, "SpaceUsage") or {}
        # Finance, crew names and packs stay on the PC: only what a hauling plan needs leaves.
        event = CarrierStatsEvent(
            **line.base(self._ctx),
            carrier_id=carrier_id,
            carrier_type=opt_str(obj, "CarrierType"),
            callsign=opt_str(obj, "Callsign"),
            name=opt_str(obj, "Name"),
            docking_access=opt_str(obj, "DockingAccess"),
            fuel_level=opt_int(obj, "FuelLevel"),
            cargo_used=opt_int(usage, "Cargo"),
            total_capacity=opt_int(usage, "TotalCapacity"),
            free_space=opt_int(usage, "FreeSpace"),
        )
        self._remember_carrier(carrier_id)
        content = event.model_dump(mode="json", exclude=set(_BASE_FIELDS))
        if self._snapshot_seen("carrier_stats", line, _digest(orjson.dumps(content))):
            return []
        return [event]

    def _carrier_location(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        event = CarrierLocationEvent(
            **line.base(self._ctx),
            carrier_id=carrier_id,
            carrier_type=opt_str(obj, "CarrierType"),
            system_name=req_str(obj, "StarSystem"),
            system_address=opt_int(obj, "SystemAddress"),
            body_id=opt_int(obj, "BodyID"),
        )
        self._remember_carrier(carrier_id)
        return [event]

    def _carrier_jump_request(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        departure = opt_str(obj, "DepartureTime")
        event = CarrierJumpRequestEvent(
            **line.base(self._ctx),
            carrier_id=carrier_id,
            carrier_type=opt_str(obj, "CarrierType"),
            system_name=req_str(obj, "SystemName"),
            system_address=opt_int(obj, "SystemAddress"),
            body=opt_str(obj, "Body"),
            departure_time=parse_time(departure, "DepartureTime") if departure else None,
        )
        self._remember_carrier(carrier_id)
        return [event]

    def _carrier_jump_cancelled(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        event = CarrierJumpCancelledEvent(
            **line.base(self._ctx), carrier_id=carrier_id, carrier_type=opt_str(obj, "CarrierType")
        )
        self._remember_carrier(carrier_id)
        return [event]

    def _carrier_trade_order(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        event = CarrierTradeOrderEvent(
            **line.base(self._ctx),
            carrier_id=carrier_id,
            carrier_type=opt_str(obj, "CarrierType"),
            commodity=canonical_commodity(req_str(obj, "Commodity")),
            commodity_localised=_opt_localised(obj, "Commodity_Localised"),
            black_market=opt_bool(obj, "BlackMarket") or False,
            purchase_order=opt_int(obj, "PurchaseOrder"),
            sale_order=opt_int(obj, "SaleOrder"),
            cancel_trade=opt_bool(obj, "CancelTrade") or False,
            price=opt_int(obj, "Price"),
        )
        self._remember_carrier(carrier_id)
        return [event]

    def _carrier_deposit_fuel(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        carrier_id = req_int(obj, "CarrierID")
        event = CarrierDepositFuelEvent(
            **line.base(self._ctx),
            carrier_id=carrier_id,
            amount=req_int(obj, "Amount"),
            total=req_int(obj, "Total"),
        )
        self._remember_carrier(carrier_id)
        return [event]

    def _shutdown(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        return [ShutdownEvent(**line.base(self._ctx))]

    def _fileheader(self, obj: JsonObject, line: _Line) -> list[KnownEvent]:
        """A session's first file starts anywhere: the last file's place does not carry over (a
        `Continued` part, part 2 and on, carries on its session). Sends nothing."""
        ctx = self._ctx
        part = opt_int(obj, "part")
        if part is None or part <= 1:
            ctx.system = ctx.system_address = None
            ctx.docked = False
            ctx.station = ctx.station_type = None
            ctx.market_id = None
        version = _MAJOR_VERSION.match(opt_str(obj, "gameversion") or "")
        ctx.legacy = version is not None and int(version.group(1)) < 4
        ctx.started = line.timestamp
        return []


_FILEHEADER = Normaliser._fileheader
# The client's major version: 4 and up is the live galaxy (EDMC's rule); very old headers have
# text there, and count as live (they hold nothing colonisation-related anyway).
_MAJOR_VERSION = re.compile(r"\s*(\d+)\.")

_HANDLERS: dict[bytes, _Handler] = {
    b"Fileheader": Normaliser._fileheader,
    b"ColonisationConstructionDepot": Normaliser._depot,
    b"ColonizationConstructionDepot": Normaliser._depot,
    b"ColonisationContribution": Normaliser._contribution,
    b"ColonizationContribution": Normaliser._contribution,
    b"ColonisationSystemClaim": Normaliser._claim,
    b"ColonizationSystemClaim": Normaliser._claim,
    b"ColonisationSystemClaimRelease": Normaliser._claim_release,
    b"ColonizationSystemClaimRelease": Normaliser._claim_release,
    b"ColonisationBeaconDeployed": Normaliser._beacon,
    b"ColonizationBeaconDeployed": Normaliser._beacon,
    b"CompleteConstruction": Normaliser._complete,
    b"Docked": Normaliser._docked,
    b"Undocked": Normaliser._undocked,
    b"Location": Normaliser._location,
    b"FSDJump": Normaliser._fsd_jump,
    b"CarrierJump": Normaliser._carrier_jump,
    b"Commander": Normaliser._commander,
    b"LoadGame": Normaliser._load_game,
    b"Loadout": Normaliser._loadout,
    b"Cargo": Normaliser._cargo,
    b"MarketBuy": Normaliser._market_buy,
    b"MarketSell": Normaliser._market_sell,
    b"CargoTransfer": Normaliser._cargo_transfer,
    b"Market": Normaliser._market,
    b"CarrierStats": Normaliser._carrier_stats,
    b"CarrierLocation": Normaliser._carrier_location,
    b"CarrierJumpRequest": Normaliser._carrier_jump_request,
    b"CarrierJumpCancelled": Normaliser._carrier_jump_cancelled,
    b"CarrierTradeOrder": Normaliser._carrier_trade_order,
    b"CarrierDepositFuel": Normaliser._carrier_deposit_fuel,
    b"Shutdown": Normaliser._shutdown,
}
_HANDLERS_WITHOUT_SIDE_FILES = {k: v for k, v in _HANDLERS.items() if k != b"Market"}


def _relevant_pattern(handlers: dict[bytes, _Handler]) -> re.Pattern[bytes]:
    """The `"event":"X"` key of the events we send, in any of the spellings `scan_event_name` takes."""
    names = b"|".join(re.escape(name) for name in sorted(handlers, key=len, reverse=True))
    return re.compile(rb'"event"[ \t]*:[ \t]*"(' + names + rb')"')


_RELEVANT_RE = _relevant_pattern(_HANDLERS)
# A line that does not start with "{": a blank line, a NUL run, a cut line's remainder.
_BAD_LINE_START = re.compile(rb"\n[^{]")
_RELEVANT_RE_WITHOUT_SIDE_FILES = _relevant_pattern(_HANDLERS_WITHOUT_SIDE_FILES)


def relevant_line_pattern(*, side_files: bool) -> re.Pattern[bytes]:
    """The regex `feed_chunk` finds the lines of the events we send with (for `bench.normalise`)."""
    return _RELEVANT_RE if side_files else _RELEVANT_RE_WITHOUT_SIDE_FILES


def _context_of(state: NormaliserState) -> _Context:
    return _Context(**state.model_dump(exclude={"other_files"}))


def _state_of(c: _Context) -> NormaliserState:
    return NormaliserState(
        commander=c.commander,
        fid=c.fid,
        system=c.system,
        system_address=c.system_address,
        docked=c.docked,
        station=c.station,
        station_type=c.station_type,
        market_id=c.market_id,
        known_carriers=list(c.known_carriers),
        last_snapshot_raw={**c.last_snapshot_raw, **{k: _digest(v) for k, v in c.last_raw.items()}},
        last_snapshot_key=dict(c.last_snapshot_key),
        id_file=c.id_file,
        id_owner=c.id_owner,
        legacy=c.legacy,
        started=c.started,
    )


_NEVER = datetime.min.replace(tzinfo=UTC)


def _session_age(item: tuple[str, _Context]) -> datetime:
    """A context's session start (a file whose Fileheader was never seen counts as oldest)."""
    return item[1].started or _NEVER
