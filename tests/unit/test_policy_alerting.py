"""Which webhook messages and printed notices go now: one per alert kind an hour, carrying every waiting alert of
the kind (a printed burst on a quiet kind first prints its oldest alert alone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daemon.policy.alerting import Message, Waiting, due_times, print_messages, webhook_messages

T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def waiting(alert_id: int, kind: str = "deadline.missed", minutes: int = 0, attempts: int = 0,
            backoff: int = 0) -> Waiting:
    at = T0 + timedelta(minutes=minutes)
    return Waiting(alert_id, kind, "invoice", str(alert_id), at, at + timedelta(minutes=backoff), attempts)


def test_a_quiet_kind_goes_at_once_and_alone() -> None:
    [message] = webhook_messages([waiting(1)], {}, T0, HOUR)
    assert message.alert_ids == (1,) and message.count == 1 and message.attempts == 0


def test_many_of_a_kind_are_one_message_in_order_of_the_oldest_kind() -> None:
    alerts = [waiting(i, "deadline.missed" if i % 3 else "e0402.missed", minutes=i) for i in range(1, 301)]
    messages = webhook_messages(list(reversed(alerts)), {}, T0 + 6 * HOUR, HOUR)
    assert [(m.kind, m.count) for m in messages] == [("deadline.missed", 200), ("e0402.missed", 100)]
    storm = messages[0]
    assert storm.oldest.alert_id == 1 and storm.newest.alert_id == 299
    assert storm.sample() == ("1", "2", "4", "5", "7")
    assert storm.summary_text().startswith("200 deadline.missed alerts: oldest invoice 1 raised 2026-11-21T06:01")
    assert "(first: 1, 2, 4, 5, 7)" in storm.summary_text()


def test_a_kind_sent_within_the_hour_waits_and_others_do_not() -> None:
    alerts = [waiting(1), waiting(2, "outbox.failed")]
    sent = {"deadline.missed": T0 - timedelta(minutes=59)}
    assert [m.kind for m in webhook_messages(alerts, sent, T0, HOUR)] == ["outbox.failed"]
    assert [m.kind for m in webhook_messages(alerts, sent, T0 + timedelta(minutes=1), HOUR)] == [
        "deadline.missed", "outbox.failed"]


def test_a_backing_off_message_is_retried_whole_with_what_joined_it() -> None:
    alerts = [waiting(1, attempts=2, backoff=10), waiting(2, minutes=5)]
    assert webhook_messages(alerts, {}, T0 + timedelta(minutes=9), HOUR) == []
    [message] = webhook_messages(alerts, {}, T0 + timedelta(minutes=10), HOUR)
    assert message == Message("deadline.missed", (alerts[0], alerts[1])) and message.attempts == 2


def test_nothing_waiting_nothing_sent() -> None:
    assert webhook_messages([], {"deadline.missed": T0}, T0, HOUR) == []


def test_due_times_per_kind() -> None:
    alerts = [waiting(1, backoff=30), waiting(2, minutes=1), waiting(3, "outbox.failed", minutes=2)]
    sent = {"deadline.missed": T0 + timedelta(minutes=5), "ranges.low": T0}
    assert due_times(alerts, sent, HOUR) == {"deadline.missed": T0 + timedelta(minutes=65),
                                             "outbox.failed": T0 + timedelta(minutes=2)}
    assert due_times(alerts, {}, HOUR)["deadline.missed"] == T0 + timedelta(minutes=30)


def test_printed_a_burst_on_a_quiet_kind_prints_its_oldest_alone_then_the_rest_an_hour_later() -> None:
    burst = [waiting(i, minutes=30 - i) for i in range(1, 31)]  # id 30 is the oldest raised
    [first] = print_messages(burst, {}, T0 + timedelta(minutes=30), HOUR)
    assert first.alert_ids == (30,) and first.count == 1
    assert due_times(burst, {}, HOUR, first_alone=True)["deadline.missed"] == T0
    rest = burst[:-1]
    sent = {"deadline.missed": T0 + timedelta(minutes=30)}
    assert print_messages(rest, sent, T0 + timedelta(minutes=89), HOUR) == []
    assert due_times(rest, sent, HOUR, first_alone=True) == {"deadline.missed": T0 + timedelta(minutes=90)}
    [summary] = print_messages(rest, sent, T0 + timedelta(minutes=90), HOUR)
    assert summary.count == 29 and summary.oldest.alert_id == 29 and summary.newest.alert_id == 1
    [late] = print_messages(rest, sent, T0 + timedelta(hours=5), HOUR)
    assert late == summary, "a summary that waited past its hour is still whole: the kind was not quiet for them"
    assert webhook_messages(burst, {}, T0 + timedelta(minutes=30), HOUR)[0].count == 30, "the webhook sums at once"


def test_printed_a_kind_quiet_for_an_hour_before_its_oldest_is_news_again() -> None:
    alerts = [waiting(1, minutes=0), waiting(2, minutes=1)]
    assert print_messages(alerts, {"deadline.missed": T0 - HOUR}, T0 + HOUR, HOUR)[0].alert_ids == (1,)
    assert print_messages(alerts, {"deadline.missed": T0 - timedelta(minutes=59)}, T0 + HOUR, HOUR)[0].count == 2


def test_printed_a_retry_goes_whole_and_one_alert_goes_as_itself() -> None:
    tried = [waiting(1, attempts=1, backoff=2), waiting(2, minutes=1)]
    assert print_messages(tried, {}, T0 + timedelta(minutes=1), HOUR) == []
    [retry] = print_messages(tried, {}, T0 + timedelta(minutes=2), HOUR)
    assert retry.alert_ids == (1, 2) and retry.attempts == 1
    [lone] = print_messages([waiting(3, "e0402.missed")], {}, T0, HOUR)
    assert lone.alert_ids == (3,)
