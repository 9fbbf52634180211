"""Every long-lived resource of a perpwatch process, opened and closed in one place.

The API lifespan, the CLI and ``perpwatch worker`` all use :func:`open_runtime`; nothing
is created at import time. It is composed of small ``open_*`` steps on one
:class:`~contextlib.AsyncExitStack`, entered from the first line, so a start that fails
half-way closes exactly what it had opened, in reverse order.

With Redis, the processes that share it coordinate (:mod:`perpwatch.coordination`): each
heartbeats into the registry; the candidates campaign for the scheduler lease, and only
the leader runs the schedule and the periodic funding check; every process with
``PROCESS_SHARDS`` works on the shards of each cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from perpwatch.alerts.service import Alerts, build_alerts, start_evaluator, start_sender
from perpwatch.analysis.funding_monitor import FundingMonitor, FundingSource
from perpwatch.analysis.service import AnalysisService
from perpwatch.background import Background
from perpwatch.cache.failover import FailoverCache
from perpwatch.cache.memory import MemoryCache
from perpwatch.cache.redis_cache import RedisCache
from perpwatch.constants import SCHEDULER_LEASE_KEY
from perpwatch.coordination.election import LeaderElection, lease_key_ttl_s
from perpwatch.coordination.lease import RedisLease
from perpwatch.coordination.registry import ProcessRegistry, new_process_id
from perpwatch.coordination.schedule_store import ScheduleStore
from perpwatch.coordination.shard_consumer import ShardConsumer
from perpwatch.coordination.shards import ShardQueue
from perpwatch.errors import CacheUnavailable, InvalidInput, PerpwatchError
from perpwatch.indicators.hama import HamaParams
from perpwatch.jobs import build_registry, remote_analysis
from perpwatch.market.absent import AbsentMarket
from perpwatch.market.base import MarketData
from perpwatch.market.candle_archive import RedisCandleArchive
from perpwatch.market.candle_store import CandleStore
from perpwatch.market.factory import build_markets
from perpwatch.metrics import record
from perpwatch.metrics.loop_lag import LoopLag
from perpwatch.push.bus import EventBus, MemoryBus
from perpwatch.push.gate import Gate
from perpwatch.push.hub import READ_BLOCK_S, Hub
from perpwatch.push.publisher import Publisher
from perpwatch.push.redis_bus import RedisBus
from perpwatch.push.service import Push
from perpwatch.push.state import CacheState
from perpwatch.redis_client import RedisClient, close_redis, open_redis
from perpwatch.scheduler.close_refresher import CloseClaims, CloseRefresher
from perpwatch.scheduler.control import ControlWatcher
from perpwatch.scheduler.distributed import DistributedCycles
from perpwatch.scheduler.funding_check import FundingCheck
from perpwatch.scheduler.hama_scheduler import CandleCloses, Coordination, HamaScheduler
from perpwatch.scheduler.server_clock import ServerClock
from perpwatch.settings import Settings
from perpwatch.tasks.base import TaskManager
from perpwatch.tasks.factory import build_task_manager
from perpwatch.types import timeframe_ms

logger = logging.getLogger(__name__)

STALE_AFTER_PERIODS = 1.5  # a value older than 1.5 refresh periods was not refreshed in time
COORDINATION_SOCKET_TIMEOUT_S = 2.0  # above the shard queue's 1 s blocking read
CANDLE_ARCHIVE_TTL_S = 86400.0

Role = Literal["serve", "worker", "cli"]
REMOTE_ANALYSIS_TIMEOUT_S = 30.0
KNOWN_SYMBOLS_TTL_S = 60.0  # how long a push client's symbols are checked against one listing


class SharedErrors:
    """Keeps an API-only process's view of the workers' refresh failures current (once a
    second), so that a value whose latest refresh failed is served marked stale."""

    def __init__(self, store: ScheduleStore, service: AnalysisService, every_s: float = 1.0):
        self._store = store
        self._service = service
        self._every_s = every_s
        self._bg = Background("perpwatch-shared-errors")

    def start(self) -> None:
        self._bg.start(self._loop)

    async def stop(self) -> None:
        await self._bg.stop()

    async def _loop(self) -> None:
        while not self._bg.stopping:
            try:
                self._service.shared_errors = await self._store.errors()
            except CacheUnavailable as e:
                logger.debug("refresh errors unreadable: %s", e)
            await asyncio.sleep(self._every_s)


def hama_params(settings: Settings) -> HamaParams:
    return HamaParams(
        open_length=settings.hama_open_length,
        open_type=settings.hama_open_type,
        high_length=settings.hama_high_length,
        high_type=settings.hama_high_type,
        low_length=settings.hama_low_length,
        low_type=settings.hama_low_type,
        close_length=settings.hama_close_length,
        close_type=settings.hama_close_type,
        ma_length=settings.hama_ma_length,
        ma_type=settings.hama_ma_type,
    )


@dataclass(slots=True)
class Cluster:
    """This process's part in the group of processes sharing its Redis."""

    process_id: str
    role: str
    client: RedisClient
    store: ScheduleStore
    registry: ProcessRegistry
    election: LeaderElection | None = None
    consumer: ShardConsumer | None = None
    # no shards, no candidacy: computing is the workers' (misses too), and
    # scheduler/start and /stop go to the leader through Redis
    api_only: bool = False

    @property
    def is_leader(self) -> bool:
        return self.election is not None and self.election.is_leader


@dataclass(slots=True)
class Runtime:
    settings: Settings
    markets: dict[str, MarketData]
    candles: CandleStore
    cache: FailoverCache
    service: AnalysisService
    scheduler: HamaScheduler
    funding: FundingMonitor
    started_at: float
    tasks: TaskManager | None = None
    funding_check: FundingCheck | None = field(default=None)
    cluster: Cluster | None = None
    push: Push | None = None
    # every timeframe's service, the primary first (HAMA_TIMEFRAMES)
    services: dict[str, AnalysisService] = field(default_factory=dict)
    # the further timeframes' refreshes at their candle closes (run by the leader)
    refreshers: list[CloseRefresher] = field(default_factory=list)

    def service_for(self, timeframe: str | None) -> AnalysisService:
        """The service of ``timeframe`` (None: the primary). InvalidInput, naming the
        configured ones, for any other."""
        if timeframe is None or timeframe == self.service.timeframe:
            return self.service
        found = self.services.get(timeframe)
        if found is None:
            names = ", ".join(self.services) or self.service.timeframe
            raise InvalidInput(
                f"timeframe {timeframe[:10]!r} is not configured; configured: {names}"
            )
        return found

    async def start_refreshers(self) -> None:
        for r in self.refreshers:
            r.start()

    async def stop_refreshers(self) -> None:
        for r in self.refreshers:
            await r.stop()

    alerts: Alerts | None = None

    @property
    def market(self) -> MarketData:
        """The market the HAMA analysis watches (``MARKET``)."""
        return self.markets[self.settings.market]

    @property
    def task_manager(self) -> TaskManager:
        if self.tasks is None:
            raise RuntimeError("this runtime was opened without a task manager")
        return self.tasks


def _watched(settings: Settings, scheduler: HamaScheduler) -> Callable[[], list[str]]:
    return lambda: list(scheduler.symbols) or list(settings.symbols)


async def open_cache(stack: contextlib.AsyncExitStack, settings: Settings) -> FailoverCache:
    redis = (
        RedisCache(
            settings.redis_dsn,
            socket_timeout_s=settings.redis_socket_timeout_s,
            cluster=settings.redis_cluster,
        )
        if settings.redis_enabled
        else None
    )
    cache = FailoverCache(
        redis=redis,
        memory=MemoryCache(max_entries=settings.memory_cache_max_entries),
        probe_interval_s=settings.redis_probe_interval_s,
    )
    stack.push_async_callback(cache.close)
    await cache.start()
    return cache


def is_api_only(settings: Settings, *, role: Role, campaign: bool) -> bool:
    """A ``serve`` process that takes no shards and does not campaign, with tasks on
    Redis: the workers compute everything, so it needs no exchange client."""
    return (
        role == "serve"
        and settings.redis_enabled
        and not settings.process_shards
        and not campaign
        and settings.task_backend == "saq"
    )


def open_markets(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    clock: Callable[[], float],
    *,
    api_only: bool = False,
) -> dict[str, MarketData]:
    if api_only:
        names = dict.fromkeys([settings.market, *settings.funding_sources])
        return {name: AbsentMarket(name) for name in names}
    markets = build_markets(settings, clock=clock)

    async def close_all() -> None:
        await asyncio.gather(*(m.close() for m in markets.values()))

    stack.push_async_callback(close_all)
    return markets


def open_coordination_client(
    stack: contextlib.AsyncExitStack, settings: Settings
) -> RedisClient | None:
    """The client of the coordination keys (lease, shards, registry, shared schedule):
    none without Redis."""
    if not settings.redis_enabled:
        return None
    client = open_redis(
        settings.redis_dsn,
        cluster=settings.redis_cluster,
        socket_timeout_s=max(COORDINATION_SOCKET_TIMEOUT_S, settings.redis_socket_timeout_s),
    )
    stack.push_async_callback(close_redis, client)
    return client


def _candle_store(
    settings: Settings,
    market: MarketData,
    client: RedisClient | None,
    timeframe: str,
    clock: Callable[[], float],
) -> CandleStore:
    archive = (
        RedisCandleArchive(client, timeframe=timeframe, ttl_s=CANDLE_ARCHIVE_TTL_S)
        if client is not None
        else None
    )
    return CandleStore(
        market, timeframe=timeframe, history=settings.history_candles, clock=clock,
        archive=archive,
    )  # fmt: skip


def further_timeframes(
    settings: Settings,
    runtime_parts: tuple[MarketData, FailoverCache, RedisClient | None, str],
    scheduler: HamaScheduler,
    server_clock: ServerClock,
    clock: Callable[[], float],
    *,
    coordinated: bool,
) -> tuple[dict[str, AnalysisService], list[CloseRefresher]]:
    """A service per further timeframe and its refresher at candle closes. Their values
    live two candle lengths (plus 5 min): a close's refresh always replaces them in time,
    and a value not replaced one candle and 2 min after its close is stale."""
    market, cache, client, process_id = runtime_parts
    services: dict[str, AnalysisService] = {}
    refreshers: list[CloseRefresher] = []
    claims = (
        CloseClaims(ScheduleStore(client), process_id) if client is not None and coordinated
        else None
    )  # fmt: skip
    for tf in settings.extra_timeframes:
        tf_s = timeframe_ms(tf) / 1000
        stale_s = tf_s + settings.candle_close_delay_s + 120
        service = AnalysisService(
            exchange=market.name,
            candles=_candle_store(settings, market, client, tf, clock),
            cache=cache,
            params=hama_params(settings),
            ttl_s=2 * tf_s + 300,
            stale_after_s=functools.partial(float, stale_s),
            clock=clock,
            primary=False,
        )
        services[tf] = service
        refreshers.append(CloseRefresher(
            service=service,
            symbols=_watched(settings, scheduler),
            active=lambda: scheduler.running,
            server_clock=server_clock,
            delay_s=settings.candle_close_delay_s,
            concurrency=settings.refresh_concurrency,
            claims=claims,
            clock=clock,
        ))  # fmt: skip
    return services, refreshers


def build_analysis(
    settings: Settings,
    markets: dict[str, MarketData],
    cache: FailoverCache,
    client: RedisClient | None,
    process_id: str,
    clock: Callable[[], float],
    *,
    coordinated: bool,
) -> tuple[
    CandleStore,
    AnalysisService,
    HamaScheduler,
    FundingMonitor,
    dict[str, AnalysisService],
    list[CloseRefresher],
]:
    market = markets[settings.market]
    candles = _candle_store(settings, market, client, settings.hama_timeframe, clock)
    service = AnalysisService(
        exchange=market.name,
        candles=candles,
        cache=cache,
        params=hama_params(settings),
        ttl_s=float(settings.hama_cache_ttl),
        stale_after_s=lambda: STALE_AFTER_PERIODS * scheduler.effective_interval_s,
        clock=clock,
    )
    server_clock = ServerClock(market.server_time_ms, clock=clock)
    coordination = (
        Coordination(
            store=ScheduleStore(client),
            cycles=DistributedCycles(ShardQueue(client), shard_size=settings.refresh_shard_size),
            owner=process_id,
            timeframe=settings.hama_timeframe,
        )
        if client is not None and coordinated
        else None
    )
    scheduler = HamaScheduler(
        service=service,
        market=market,
        candles=candles,
        explicit_symbols=settings.symbols,
        symbols_limit=settings.symbols_limit,
        interval_s=settings.scheduler_interval_s,
        concurrency=settings.refresh_concurrency,
        clock=clock,
        coordination=coordination,
        closes=CandleCloses(
            tf_s=timeframe_ms(settings.hama_timeframe) / 1000,
            delay_s=settings.candle_close_delay_s,
            clock=server_clock,
        ),
    )
    sources: dict[str, FundingSource] = {n: markets[n] for n in settings.funding_sources}
    funding = FundingMonitor(
        sources=sources,
        primary=settings.funding_sources[0],
        cache=cache,
        ttl_s=float(settings.funding_cache_ttl),
        watched=_watched(settings, scheduler),
        clock=clock,
    )
    extra, refreshers = further_timeframes(
        settings, (market, cache, client, process_id), scheduler, server_clock, clock,
        coordinated=coordinated,
    )  # fmt: skip
    scheduler.further_status = lambda: [r.status() for r in refreshers]
    services = {settings.hama_timeframe: service, **extra}
    return candles, service, scheduler, funding, services, refreshers


async def open_tasks(stack: contextlib.AsyncExitStack, runtime: Runtime) -> None:
    settings = runtime.settings
    tasks = build_task_manager(settings, registry=build_registry(), ctx=runtime)
    await tasks.start()
    stack.push_async_callback(tasks.close, settings.task_shutdown_grace)
    runtime.tasks = tasks


def _funding_check(runtime: Runtime, clock: Callable[[], float]) -> FundingCheck | None:
    settings = runtime.settings
    if runtime.tasks is None or not settings.funding_check_enabled:
        return None
    check = FundingCheck(
        tasks=runtime.task_manager, interval_s=settings.funding_check_interval, clock=clock
    )
    runtime.funding_check = check
    return check


async def open_local_schedule(
    stack: contextlib.AsyncExitStack, runtime: Runtime, clock: Callable[[], float]
) -> None:
    """Without Redis this process is the only one: it runs the schedule itself."""
    stack.callback(record.leader, False)
    stack.push_async_callback(runtime.scheduler.stop)
    await runtime.scheduler.start()
    stack.push_async_callback(runtime.stop_refreshers)
    await runtime.start_refreshers()
    record.leader(True)
    check = _funding_check(runtime, clock)
    if check is not None:
        check.start()
        stack.push_async_callback(check.stop)


async def open_cluster(
    stack: contextlib.AsyncExitStack,
    runtime: Runtime,
    client: RedisClient,
    *,
    process_id: str,
    role: Role,
    campaign: bool,
    clock: Callable[[], float],
) -> Cluster:
    """Heartbeat, shards and (for a candidate) the election, each stopped on the way out."""
    settings = runtime.settings
    store = ScheduleStore(client)
    scheduler = runtime.scheduler
    stack.push_async_callback(scheduler.stop)
    stack.push_async_callback(runtime.stop_refreshers)
    consumer: ShardConsumer | None = None
    if settings.process_shards and role != "cli":
        consumer = ShardConsumer(
            queue=ShardQueue(client),
            store=store,
            refresh=runtime.service.refresh_in_cycle,
            consumer_id=process_id,
            slots=settings.worker_shard_slots,
            concurrency=settings.refresh_concurrency,
            touch_s=settings.shard_reclaim_s / 5,
            reclaim_after_s=settings.shard_reclaim_s,
            clock=clock,
        )
        consumer.start()
        stack.push_async_callback(consumer.stop)
    check = _funding_check(runtime, clock)
    watcher = ControlWatcher(
        store=store,
        scheduler=scheduler,
        market=runtime.market,
        is_leader=lambda: election is not None and election.is_leader,
    )

    async def elected() -> None:
        record.leader(True)
        await watcher.on_elected()
        await runtime.start_refreshers()
        if check is not None:
            check.start()

    async def deposed() -> None:
        record.leader(False)
        await runtime.stop_refreshers()
        if check is not None:
            await check.stop()
        await scheduler.stop(publish=False)

    election: LeaderElection | None = None
    if campaign:
        lease = RedisLease(
            client,
            key=SCHEDULER_LEASE_KEY,
            owner=process_id,
            ttl_s=lease_key_ttl_s(settings.scheduler_lease_s),
        )
        election = LeaderElection(
            lease,
            lease_s=settings.scheduler_lease_s,
            on_elected=elected,
            on_deposed=deposed,
            clock=clock,
        )

    def describe() -> dict[str, object]:
        return {
            "leader": election is not None and election.is_leader,
            "candidate": election is not None,
            **(consumer.describe() if consumer is not None else {}),
        }

    registry = ProcessRegistry(client, process_id=process_id, role=role, describe=describe,
                               clock=clock)  # fmt: skip
    registry.start()
    stack.push_async_callback(registry.stop)
    if election is not None:
        await election.first_attempt()
        election.start()
        stack.push_async_callback(election.stop)
        watcher.start()
        stack.push_async_callback(watcher.stop)
    api_only = is_api_only(settings, role=role, campaign=campaign)
    if api_only and runtime.tasks is not None:
        for tf, service in runtime.services.items():
            service.remote = remote_analysis(
                runtime.task_manager,
                timeout_s=REMOTE_ANALYSIS_TIMEOUT_S,
                timeframe=None if service.primary else tf,
            )
        follower = SharedErrors(store, runtime.service)
        follower.start()
        stack.push_async_callback(follower.stop)
    if role == "serve":  # any API process on Redis keeps its hits briefly (NEAR_CACHE_SECONDS)
        for service in runtime.services.values():
            service.near_cache_s = settings.near_cache_s
    cluster = Cluster(process_id, role, client, store, registry, election, consumer, api_only)
    runtime.cluster = cluster
    return cluster


def open_push(
    stack: contextlib.AsyncExitStack,
    runtime: Runtime,
    client: RedisClient | None,
    *,
    role: Role,
    clock: Callable[[], float],
) -> Push:
    """Events for live push: published by whatever computes here, and, in an API process,
    read by a hub for its WebSocket and SSE clients. On Redis streams when Redis is on
    (every replica reads every worker's events), else in this process."""
    settings = runtime.settings
    bus: EventBus
    if client is not None:
        reader = None
        if role == "serve":  # blocking reads: a client whose socket outwaits the block
            reader = open_redis(settings.redis_dsn, cluster=settings.redis_cluster,
                                socket_timeout_s=READ_BLOCK_S + 2.0,
                                connect_timeout_s=settings.redis_socket_timeout_s)  # fmt: skip
        bus = RedisBus(client, reader=reader, max_events=settings.push_max_events,
                       retention_s=settings.push_retention_s, clock=clock)  # fmt: skip
        stack.push_async_callback(bus.close)
    else:
        bus = MemoryBus(max_events=settings.push_max_events,
                        retention_s=settings.push_retention_s, clock=clock)  # fmt: skip
    publisher = Publisher(
        bus,
        runtime.cache,
        exchanges=settings.funding_sources,
        arbitrage_ttl_s=float(settings.funding_cache_ttl),
        clock=clock,
    )
    for service in runtime.services.values():
        service.events = publisher
    runtime.funding.events = publisher
    push = Push(
        bus=bus,
        publisher=publisher,
        gate=Gate(
            max_anon_per_ip=settings.push_max_anon_per_ip,
            max_connections=settings.push_max_connections,
        ),
        timeframes=list(settings.hama_timeframes),
        heartbeat_s=settings.push_heartbeat_s,
        client_queue=settings.push_client_queue,
        known_symbols=known_symbols(runtime),
    )
    if role == "serve":
        state = CacheState(runtime.services, runtime.cache,
                           exchanges=lambda: settings.funding_sources)  # fmt: skip

        def forget_near(symbol: str, timeframe: str | None) -> None:
            service = runtime.services.get(timeframe or settings.hama_timeframe)
            if service is not None:
                service.forget_near(symbol)

        hub = Hub(bus, state, clock=clock, on_analysis=forget_near)
        hub.start()
        stack.push_async_callback(hub.stop)
        push.hub = hub
    runtime.push = push
    return push


async def open_alerts(
    stack: contextlib.AsyncExitStack,
    runtime: Runtime,
    client: RedisClient | None,
    *,
    process_id: str,
    role: Role,
    clock: Callable[[], float],
) -> None:
    """Alert rules and the outbox (any role but ``cli``): a sender in every process, and
    an evaluator that works while this process leads (without Redis: always, in ``serve``)."""
    settings = runtime.settings
    if not settings.alerts_enabled or role == "cli" or runtime.push is None:
        return
    alerts = build_alerts(settings, client, clock=clock)
    stack.push_async_callback(alerts.http.aclose)
    runtime.alerts = alerts
    sender = start_sender(alerts, claimer=process_id, clock=clock)
    stack.push_async_callback(sender.stop)
    cluster = runtime.cluster
    if client is not None and (cluster is None or cluster.election is None):
        return  # never leads: evaluation is the leader's
    evaluator = start_evaluator(
        alerts,
        settings,
        bus=runtime.push.bus,
        cache=runtime.cache,
        client=client,
        is_leader=(lambda: cluster.is_leader) if cluster is not None else (lambda: True),
        watched=_watched(settings, runtime.scheduler),
        exchange_state=runtime.market.exchange_state,
        clock=clock,
    )
    stack.push_async_callback(evaluator.stop)


def open_metrics(stack: contextlib.AsyncExitStack, settings: Settings, role: Role) -> None:
    """The leader flag (0 until elected), the event-loop lag, and for a worker with
    ``METRICS_PORT`` its own ``/metrics`` server (a worker that no API aggregates)."""
    if role == "cli":
        return
    record.leader(False)
    lag = LoopLag(role)
    lag.start()
    stack.push_async_callback(lag.stop)
    if role == "worker" and settings.metrics_port:
        from perpwatch.metrics.exposition import serve_process_metrics

        server = serve_process_metrics(settings.host, settings.metrics_port)
        stack.callback(server.server_close)
        stack.push_async_callback(asyncio.to_thread, server.shutdown)  # first: then closed


def known_symbols(runtime: Runtime) -> Callable[[], Awaitable[set[str] | None]]:
    """The symbols a push client may name: every listed contract (as the leader last
    listed them, or this process's market), plus the watched ones. Read at most every
    minute."""
    memo: list[tuple[float, set[str] | None]] = []

    async def read() -> set[str] | None:
        now = time.monotonic()
        if memo and now - memo[0][0] < KNOWN_SYMBOLS_TTL_S and memo[0][1] is not None:
            return memo[0][1]
        known: set[str] | None = None
        cluster = runtime.cluster
        try:
            if cluster is not None:
                listed = await cluster.store.listed()
                known = set(listed) if listed else None
            if known is None and not isinstance(runtime.market, AbsentMarket):
                known = await runtime.market.listed_symbols()
        except PerpwatchError:
            known = None
        if known is not None:
            known |= set(runtime.scheduler.symbols) | set(runtime.settings.symbols)
        memo[:] = [(now, known)]
        return known

    return read


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    start_scheduler: bool | None = None,
    with_tasks: bool = True,
    role: Role | None = None,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Runtime]:
    """Open every resource; close them in reverse order.

    ``start_scheduler`` (default ``HAMA_SCHEDULER_ENABLED and HAMA_SCHEDULER_AUTO_START``):
    without Redis, run the schedule (and the periodic funding check when
    ``FUNDING_CHECK_ENABLED``); with Redis, be a candidate for the scheduler lease.
    ``with_tasks=False`` (a ``perpwatch worker``) opens no task manager of its own.
    ``role`` (default: ``serve`` when the scheduler starts, else ``cli``): a ``cli`` runtime
    takes no part in the group beyond sharing candle histories.
    """
    if start_scheduler is None:
        start_scheduler = settings.hama_scheduler_enabled and settings.hama_scheduler_auto_start
    if role is None:
        role = "serve" if start_scheduler else "cli"
    process_id = new_process_id(role)
    async with contextlib.AsyncExitStack() as stack:
        open_metrics(stack, settings, role)
        cache = await open_cache(stack, settings)
        api_only = is_api_only(settings, role=role, campaign=start_scheduler)
        markets = open_markets(stack, settings, clock, api_only=api_only)
        client = open_coordination_client(stack, settings)
        candles, service, scheduler, funding, services, refreshers = build_analysis(
            settings, markets, cache, client, process_id, clock, coordinated=role != "cli"
        )
        runtime = Runtime(settings, markets, candles, cache, service, scheduler, funding, clock(),
                          services=services, refreshers=refreshers)  # fmt: skip
        if with_tasks:
            await open_tasks(stack, runtime)
        open_push(stack, runtime, client, role=role, clock=clock)
        if client is not None and role != "cli":
            await open_cluster(stack, runtime, client, process_id=process_id, role=role,
                               campaign=start_scheduler, clock=clock)  # fmt: skip
        elif start_scheduler:
            await open_local_schedule(stack, runtime, clock)
        else:
            stack.push_async_callback(scheduler.stop)
        await open_alerts(stack, runtime, client, process_id=process_id, role=role, clock=clock)
        yield runtime
