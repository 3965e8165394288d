"""``einvd run``: the daemon at run time. Components start in dependency order and stop in reverse in one
``finally``; signal handlers only set a flag and wake the main loop; READY=1 goes to systemd once the API listens,
WATCHDOG=1 only while every scheduled worker has beaten recently. SIGHUP (``systemctl reload``) re-reads the
configuration and the API keys on the main thread (``daemon.reload``): RELOADING=1, the swap, READY=1.

Order: store -> issue service -> drop (+ start-up check) -> pump and watcher -> printer queue -> scanner -> API
-> scheduler. The scheduler (APScheduler 3, Asia/Taipei) runs each worker's ``tick(now)``; the time each job last
succeeded is kept in SQLite (``job_runs``) so ``einvd doctor`` and health can tell a stalled worker.
"""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]  # no stubs

from daemon import compat, wiring
from daemon import reload as reloading
from daemon.alerts import raise_alert
from daemon.api.app import ServerThread, bind, create_app, server_tls
from daemon.clock import SystemClock
from daemon.config import ConfigError, Settings
from daemon.deadlines import check_deadlines
from daemon.doctor import range_alerts
from daemon.notify import Notifier
from daemon.periodic import turnkey_jobs, window_alerts
from daemon.ports import Clock, RandomSource
from daemon.printing import PrintQueue
from daemon.scans import ScanHub
from daemon.store import jobs as job_runs
from daemon.store import stamp
from daemon.systemd import notify, watchdog_interval
from daemon.wiring.mail import mail_sender
from daemon.wiring.turnkeydb import turnkey_watcher
from turnkey.period import TAIPEI, taipei

if TYPE_CHECKING:
    from daemon.api.context import ApiContext

log = logging.getLogger("einvd")
RECORD_EVERY = timedelta(minutes=1)


@dataclass
class Job:
    name: str
    every: float
    tick: Callable[[datetime], object]
    last_success: datetime | None = None
    recorded: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        """Beaten within three periods (a stalled or crashing worker stops the watchdog pings)."""
        return self.last_success is not None and now - self.last_success <= timedelta(seconds=3 * self.every + 30)


class Scheduler(Protocol):
    """What the runner calls of APScheduler's ``BackgroundScheduler`` (the library has no type information)."""

    def add_job(self, func: Callable[[], None], trigger: str, *, seconds: float, id: str, replace_existing: bool,
                next_run_time: datetime) -> object: ...

    def start(self) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


@dataclass
class Daemon:
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    rng: RandomSource = field(default_factory=random.SystemRandom)
    jobs: list[Job] = field(default_factory=list)
    print_queue: PrintQueue | None = None
    notifier: Notifier | None = None
    api: ApiContext | None = None
    address: str = ""
    _stops: list[Callable[[], object]] = field(default_factory=list)

    def start(self) -> str:
        """Start everything; returns the API address."""
        self.store = wiring.open_store(self.settings, background_checkpoint=True)
        self._stops.append(self.store.close)
        self.invoices = wiring.invoice_service(self.settings, self.rng, self.clock, self.store)
        self._start_delivery()
        self._start_printing()
        self.jobs.append(Job("ranges", 3600.0, lambda now: range_alerts(self.store, now)))
        self._start_calendar()
        self.scans = ScanHub(self.clock.now, layouts=self.settings.scanner.layouts or None)
        self._start_scanner()
        self.address = self._start_api()
        self._start_scheduler()
        return self.address

    def _start_delivery(self) -> None:
        drop = wiring.open_drop(self.settings)
        if drop is None:
            log.warning("no Turnkey drop configured (turnkey.drop): invoices are kept in the outbox")
            return
        simulator = wiring.open_simulator(self.settings)  # a simulated Turnkey makes its folders first
        for problem in wiring.check_drop(drop):
            log.error("Turnkey folders: %s", problem)
        pump = wiring.pump_worker(self.settings, self.store, drop, self.rng)
        pump.start(self.clock.now())
        self._stops.append(pump.close)
        trigger = wiring.result_trigger(self.settings, drop)
        watch = wiring.watch_worker(self.settings, self.store, drop, trigger)
        self.jobs += [Job("pump", 2.0, pump.tick), Job("watch", 5.0, watch.tick)]
        turnkey = turnkey_watcher(self.settings, self.store, drop)
        self._stops.append(turnkey.close)
        self.jobs += [Job(name, every, self._guarded(name, tick))
                      for name, every, tick in turnkey_jobs(turnkey, self.settings.turnkey.database_poll_seconds)]
        if simulator is not None:
            self.jobs.append(Job("simulated-turnkey", 2.0, lambda now: simulator.tick(now)))

    def _start_printing(self) -> None:
        queue = wiring.print_queue(self.settings, self.store, self.clock)
        if queue is None:
            return
        queue.recover(self.clock.now())
        self.print_queue = queue
        self.jobs.append(Job("print", 2.0, self._print_tick))

    def _print_tick(self, now: datetime) -> None:
        """Proofs first, then alert notices, in one thread: a notice never interleaves with a proof."""
        if self.print_queue is not None:
            self.print_queue.tick(now)
        if self.notifier is not None:
            self.notifier.print_due(now)

    # --- scheduled work and alerts (README "Scheduled work and alerts") ------------------------------------

    def _start_calendar(self) -> None:
        """Deadlines (every minute), E0402 (15 min), void window (hourly), daily report (5 min), archive
        (hourly) and the alert notifier (10 s). Each runs at start too, which is the catch-up after downtime:
        the calendar jobs look at what is due now and write each thing once, never once per missed tick."""
        conf, store = self.settings, self.store
        policy = wiring.deadline_policy(conf)
        self.jobs.append(Job("deadlines", 60.0, lambda now: check_deadlines(store, now, policy)))
        blank = wiring.blank_job(conf, store)
        if blank is not None:
            self.jobs.append(Job("e0402", 900.0, self._guarded("e0402", blank.tick)))
        notice = timedelta(days=conf.alerts.window_notice_days)
        self.jobs.append(Job("void-window", 3600.0, self._guarded(
            "void-window", lambda now: window_alerts(store, now, conf.void_cutoff_day, notice))))
        reports = wiring.daily_reports(conf, store)
        self.jobs.append(Job("daily-report", 300.0, self._guarded("daily-report", reports.tick)))
        self.jobs.append(Job("archive", 3600.0, self._guarded("archive", wiring.archiver(conf, store).tick)))
        printer = self.print_queue.printer if self.print_queue is not None else None
        self.notifier = wiring.notifier(conf, store, printer, self.rng)
        self.jobs.append(Job("notify", 10.0, self.notifier.tick))
        mailer = mail_sender(conf, store, self.rng)  # MAIL: the consumer's notices ([notify.smtp])
        if mailer is not None:
            self.jobs.append(Job("mail", 10.0, self._guarded("mail", mailer.tick)))

    def _guarded(self, name: str, tick: Callable[[datetime], object]) -> Callable[[datetime], object]:
        """A calendar job's failure (a full disk for the archive, say) is logged and raised as a ``job.failed``
        alert (once per job and day) instead of stopping the watchdog and restarting the whole daemon."""

        def run(now: datetime) -> object:
            try:
                return tick(now)
            except Exception as error:
                log.exception("%s failed", name)
                with self.store.write() as tx:
                    raise_alert(tx, "job.failed", "job", f"{name}:{taipei(now).date().isoformat()}", now,
                                f"{name} failed: {type(error).__name__}: {error}"[:500])
                return None
        return run

    def _start_scanner(self) -> None:
        name = self.settings.scanner.name

        def publish(raw: str) -> None:
            self.scans.publish(name, raw)

        opened = wiring.open_scanner(self.settings, publish)
        if opened is None:
            return
        if opened.sim is not None:
            self._stops.append(opened.sim.close)
        opened.scanner.start()
        self._stops.append(opened.scanner.stop)

    def _start_api(self) -> str:
        printer = wiring.proof_printer(self.settings, self.store, self.clock)
        context = wiring.api_context(self.settings, self.invoices, scans=self.scans, printer=printer)
        self.api = context
        self._stops.append(context.close)
        tls = server_tls(self.settings.api)  # before binding: a certificate that does not load binds nothing
        app = create_app(context)
        compat.mount(app, context, self.settings.compat)
        server = ServerThread(app, sockets=bind(self.settings.api), tls=tls)
        address = server.start()
        self._stops.append(server.stop)
        return address

    def _start_scheduler(self) -> None:
        scheduler: Scheduler = BackgroundScheduler(timezone=TAIPEI, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 3600})
        for job in self.jobs:
            scheduler.add_job(self._runner(job), "interval", seconds=job.every, id=job.name, replace_existing=True,
                              next_run_time=datetime.now(TAIPEI))
        scheduler.start()
        self._stops.append(lambda: scheduler.shutdown(wait=True))

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            now = self.clock.now()
            try:
                job.tick(now)
            except Exception:  # a worker's failure is logged and retried next time; the watchdog sees it
                log.exception("%s failed", job.name)
                return
            job.last_success = now
            if job.recorded is None or now - job.recorded >= RECORD_EVERY:
                self._record(job, now)
        return run

    def _record(self, job: Job, now: datetime) -> None:
        """Catch-up state for doctor and restarts; at most once a minute per job, so the 2-second ticks do not
        add durable commits that compete with issuing for the write lock."""
        with self.store.write() as tx:
            job_runs.record_success(tx, job.name, stamp(now))
        job.recorded = now

    def healthy(self) -> bool:
        now = self.clock.now()
        return all(job.fresh(now) for job in self.jobs)

    # --- reload (SIGHUP, systemctl reload) ---------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the configuration and the API keys again and swap in what may change live (``daemon.reload``); on
        the main thread, while requests go on. A bad new configuration keeps the old one, is logged and raises a
        ``config.reload_failed`` alert. systemd hears RELOADING=1 first and READY=1 when done, either way."""
        notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}\n"
               "STATUS=reloading the configuration")
        status = "reload failed: still on the previous configuration (see the log)"
        try:
            done = self._reload()
            if done:
                status = "configuration reloaded"
            return done
        finally:
            notify(f"READY=1\nSTATUS=serving on {self.address}: {status}")

    def _reload(self) -> bool:
        source = self.settings.source or "the defaults"
        try:
            outcome = reloading.prepare(self.settings)
        except Exception as error:  # ConfigError, or anything unforeseen: a reload must never end the daemon
            message = f"reload of {source} failed, still running on the previous configuration: {error}"
            log.error("%s", message, exc_info=not isinstance(error, ConfigError))
            self._alert_failure(message)
            return False
        old_keys = self.api.keys if self.api is not None else {}
        self.settings = outcome.settings
        if self.api is not None:
            self.api.keys = outcome.keys  # one reference swapped: each request sees the old set or the new one
        if self.notifier is not None:
            self.notifier.conf = outcome.settings.alerts
        log.info("configuration %s reloaded: API keys %s; changed live: %s", source,
                 reloading.key_changes(old_keys, outcome.keys), ", ".join(outcome.applied) or "nothing")
        if outcome.from_credential:
            log.info("the API keys come from a systemd credential, which systemd copies at start only: a changed "
                     "key file there takes effect at the next restart (api.keys_file is read on every reload)")
        for name in outcome.restart:
            log.warning("%s changed in %s: needs a restart (still running with the previous value)", name, source)
        try:
            reloading.clear_failures(self.store, self.clock.now())
        except Exception:  # the store busy or failing: the reload itself worked
            log.exception("could not clear the config.reload_failed alerts")
        return True

    def _alert_failure(self, message: str) -> None:
        try:
            reloading.record_failure(self.store, self.clock.now(), message)
        except Exception:  # the log line above is there whatever happens to the store
            log.exception("could not raise the config.reload_failed alert")

    def stop(self) -> None:
        notify("STOPPING=1")
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:  # keep stopping the rest
                log.exception("while stopping")


@dataclass
class Wakeup:
    """What the signal handlers ask of the main loop. A handler only sets a flag and the event; the loop does the
    work on the main thread (a handler that reloaded could run in the middle of anything the main thread does)."""

    stop: threading.Event = field(default_factory=threading.Event)
    event: threading.Event = field(default_factory=threading.Event)
    reload: bool = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._reload)

    def _stop(self, *_: object) -> None:
        self.stop.set()
        self.event.set()

    def _reload(self, *_: object) -> None:
        self.reload = True
        self.event.set()

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)
        self.event.clear()


def run(settings: Settings, stop: threading.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or ``stop``, seen within a second or a watchdog period); SIGHUP reloads the
    configuration. 0 on a clean stop."""
    wakeup = Wakeup(stop or threading.Event())
    if threading.current_thread() is threading.main_thread():
        wakeup.install()  # before the start: a SIGHUP then must not end the process (its default action)
    daemon = Daemon(settings)
    try:
        address = daemon.start()
        log.info("einvd serving on %s", address)
        notify(f"READY=1\nSTATUS=serving on {address}")
        ping = watchdog_interval()
        while not wakeup.stop.is_set():
            wakeup.wait(ping or 1.0)
            if wakeup.stop.is_set():
                break
            if wakeup.reload:
                wakeup.reload = False
                daemon.reload()
            if ping and daemon.healthy():
                notify("WATCHDOG=1")
    finally:
        daemon.stop()
    return 0
