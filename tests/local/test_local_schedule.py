"""The cleanup schedule: rate() honoured, cron() at a fixed interval, CLEANUP_INTERVAL_SECS wins."""

from __future__ import annotations

import pytest

from local import aws, template
from local.schedule import CRON_FALLBACK_SECS, schedule_interval


@pytest.mark.parametrize(
    ("expression", "secs"),
    [
        ("rate(15 minutes)", 900),
        ("rate(1 minute)", 60),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("rate(30 seconds)", 30),
    ],
)
def test_rate_expressions(expression: str, secs: int) -> None:
    assert schedule_interval(expression)[0] == secs


@pytest.mark.parametrize("expression", ["cron(0 * * * ? *)", "at(2030-01-01T00:00:00)"])
def test_other_expressions_run_at_a_fixed_interval_and_say_so(expression: str) -> None:
    secs, why = schedule_interval(expression)
    assert secs == CRON_FALLBACK_SECS
    assert "fixed interval" in why and "CLEANUP_INTERVAL_SECS" in why


def test_the_override_wins_and_zero_turns_it_off() -> None:
    assert schedule_interval("rate(15 minutes)", "2")[0] == 2
    assert schedule_interval("rate(15 minutes)", "0.5")[0] == 0.5
    assert schedule_interval("rate(15 minutes)", "0")[0] is None
    assert schedule_interval("rate(15 minutes)", "")[0] == 900


def test_the_template_schedule_follows_its_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    refs = {aws.TABLE_ID: "t", aws.SECRET_ID: "s"}
    scheduled = {name: fn.schedule for name, fn in template.functions(refs).items() if fn.schedule}
    assert scheduled == {"cleanup": template.load()["Parameters"]["CleanupSchedule"]["Default"]}
    monkeypatch.setenv("CLEANUP_SCHEDULE", "rate(2 minutes)")
    assert schedule_interval(template.functions(refs)["cleanup"].schedule)[0] == 120
