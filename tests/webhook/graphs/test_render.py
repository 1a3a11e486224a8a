"""The rendered PNG, read back from its pixels: series, threshold line, firing span, forecast, text."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tests.webhook.graphs.pixels import decode, has_text, matches, near, share
from webhook.graphs.render import (
    FIRING_COLOUR,
    INTERVAL_COLOUR,
    PROJECTION_COLOUR,
    SERIES_COLOURS,
    THRESHOLD_COLOUR,
    Chart,
    Line,
    render,
)

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=6)
FIRED = END - timedelta(hours=1)


def ramp() -> Line:
    """0.2 for five hours, then a rise to 0.9 during the last hour (the alert fires at 0.7)."""
    t = np.arange(START.timestamp(), END.timestamp() + 1, 30.0)
    v = np.where(t < FIRED.timestamp(), 0.2, 0.2 + 0.7 * (t - FIRED.timestamp()) / 3600.0)
    return Line("", t, v)


def chart(**kw: object) -> Chart:
    base: dict[str, object] = dict(title="CeleryQueueBacklog · namespace=erp, queue=orders", start=START, end=END,
                                   series=[ramp()], threshold=0.7, threshold_label="> 0.7", firing=(FIRED, None),
                                   tz=ZoneInfo("Europe/Berlin"))
    base.update(kw)
    return Chart(**base)  # type: ignore[arg-type]


def test_series_threshold_span_and_title_are_in_the_pixels() -> None:
    out = render(chart())
    px = decode(out.png)
    assert px.shape == (400, 800, 3)
    line = ramp()
    for t, v in zip(line.t[::40], line.v[::40], strict=False):  # along the whole path, flat part and rise
        x, y = out.to_pixel(t, v)
        assert near(px, SERIES_COLOURS[0], x, y), (t, v)
    # the dashed threshold: many threshold-coloured pixels on its row across the plot, none far from it
    x0, y = out.to_pixel(START.timestamp(), 0.7)
    x1, _ = out.to_pixel(END.timestamp(), 0.7)
    row = matches(px[round(y) - 2:round(y) + 3, round(x0):round(x1)], THRESHOLD_COLOUR).any(axis=0)
    assert row.mean() > 0.5  # dashes 6 on 3 off, partly under the series
    assert not matches(px[:round(y) - 25, round(x0) + 60:round(x1)], THRESHOLD_COLOUR).any()
    # the firing span: the last hour's background, not the hours before
    fx, top = out.to_pixel(FIRED.timestamp(), 0.88)
    _, bottom = out.to_pixel(FIRED.timestamp(), 0.75)
    assert share(px, FIRING_COLOUR, fx + 3, x1 - 3, top, bottom) > 0.6
    sx, _ = out.to_pixel((START + timedelta(hours=2)).timestamp(), 0.8)
    assert share(px, FIRING_COLOUR, sx, fx - 3, top, bottom) == 0.0
    assert has_text(px, 70, 600, 5, 35)  # the title
    assert has_text(px, 70, 780, 345, 395)  # the time axis and its label
    blank = render(chart(title=" ", threshold_label=None))
    assert not has_text(decode(blank.png), 70, 600, 5, 35)  # the check sees a missing title


def test_several_series_get_their_colours_and_a_legend() -> None:
    a = ramp()
    b = Line("queue=mails", a.t, a.v * 0.5)
    out = render(chart(series=[Line("queue=orders", a.t, a.v), b]))
    px = decode(out.png)
    x, y = out.to_pixel(float(b.t[100]), float(b.v[100]))
    assert near(px, SERIES_COLOURS[1], x, y)
    lx, ly = out.to_pixel(START.timestamp(), 0.9)  # the legend sits top left: text and both colours
    assert has_text(px, round(lx), round(lx) + 200, round(ly), round(ly) + 60)


def test_a_moving_threshold_is_drawn_where_it_is() -> None:
    a = ramp()
    limit = Line("", a.t, np.linspace(0.5, 0.8, len(a.t)))
    out = render(chart(threshold=None, threshold_lines=[limit]))
    px = decode(out.png)
    for i in (10, len(a.t) // 2, len(a.t) - 10):
        x, y = out.to_pixel(float(limit.t[i]), float(limit.v[i]))
        assert near(px, THRESHOLD_COLOUR, x, y, radius=5)


def test_forecast_projection_and_interval() -> None:
    now = END
    eta, low, high = now + timedelta(hours=3), now + timedelta(hours=2), now + timedelta(hours=5)
    t = np.arange(START.timestamp(), now.timestamp() + 1, 60.0)
    v = 0.5 + 0.3 * (t - t[0]) / (t[-1] - t[0])
    out = render(Chart(title="PVC filling · forecast", start=START, end=now, series=[Line("", t, v)], threshold=0.9,
                       threshold_label="0.9", projection=((now, 0.8), (eta, 0.9)), interval=(low, high),
                       note="0.9 reached ~15:00", tz=UTC))
    px = decode(out.png)
    for frac in (0.2, 0.5, 0.8):  # along the projection from (now, 0.8) to (eta, 0.9)
        when = now.timestamp() + frac * (eta - now).total_seconds()
        x, y = out.to_pixel(when, 0.8 + 0.1 * frac)
        assert near(px, PROJECTION_COLOUR, x, y, radius=4), frac
    lx, top = out.to_pixel(low.timestamp(), 0.7)
    hx, bottom = out.to_pixel(high.timestamp(), 0.6)
    assert share(px, INTERVAL_COLOUR, lx + 3, hx - 3, top, bottom) > 0.6
    nx, _ = out.to_pixel((now + timedelta(minutes=30)).timestamp(), 0.7)
    assert share(px, INTERVAL_COLOUR, nx, lx - 3, top, bottom) == 0.0  # before eta_low: no band
    assert has_text(px, 70, 500, 34, 50)  # the note under the title


def test_renders_from_several_threads_at_once() -> None:
    results: list[bytes] = []

    def work() -> None:
        results.append(render(chart()).png)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 4 and len({len(r) for r in results}) == 1


def test_a_render_leaves_nothing_behind_for_the_next() -> None:
    first = render(chart())
    second = render(chart(firing=None, threshold=None, threshold_label=None, title="Other",
                          series=[Line("", ramp().t, ramp().v * 2)]))
    px = decode(second.png)
    assert not matches(px, FIRING_COLOUR, 12).any() and not matches(px, THRESHOLD_COLOUR).any()
    x, y = first.to_pixel(float(ramp().t[-1]), float(ramp().v[-1]))  # still the first graph's coordinates
    assert near(decode(first.png), SERIES_COLOURS[0], x, y)
