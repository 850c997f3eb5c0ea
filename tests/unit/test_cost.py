"""README's cost table is what the cost model prints for the prod stack's settings."""

from __future__ import annotations

from pathlib import Path

from bench.cost import MINUTES, monthly, per_minute, stack_settings, table


def test_readme_shows_the_current_cost_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert table("prod") in readme


def test_cost_grows_with_use_and_per_minute_cost_falls() -> None:
    settings = stack_settings("prod")
    volume = per_minute()
    totals = [sum(monthly(m, settings, volume).values()) for m in MINUTES]
    assert totals == sorted(totals)
    assert totals[0] / MINUTES[0] > totals[-1] / MINUTES[-1]


def test_on_demand_kinesis_has_a_higher_floor_than_one_shard() -> None:
    volume = per_minute()
    provisioned = stack_settings("dev")
    on_demand = provisioned.__class__(stack="dev", kinesis_mode="on-demand")
    assert monthly(1000, on_demand, volume)["Kinesis"] > monthly(1000, provisioned, volume)["Kinesis"]
