"""Freeze windows: time-zone aware occurrences, what they hold, and the windows refused."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from deploys import freeze, gates, services
from deploys.models import Deploy, Trigger
from projects.models import AuditEvent, Environment, FreezeWindow, Membership, Role

pytestmark = pytest.mark.django_db
BERLIN = ZoneInfo("Europe/Berlin")


def weekly(project, environment=None, title="Weekend", **extra):
    fields = {
        "start_weekday": 4,
        "start_time": time(16, 0),
        "end_weekday": 0,
        "end_time": time(8, 0),
        "time_zone": "Europe/Berlin",
    }
    return FreezeWindow.objects.create(
        project=project, environment=environment, title=title, weekly=True, **(fields | extra)
    )


def once(project, starts, ends, environment=None, title="Launch"):
    return FreezeWindow.objects.create(
        project=project,
        environment=environment,
        title=title,
        starts_at=starts,
        ends_at=ends,
        time_zone="Europe/Berlin",
    )


def test_a_weekly_window_keeps_its_wall_clock_times_across_daylight_saving(project):
    window = weekly(project)
    # Friday 2026-03-27 is CET (+1); the window ends Monday 2026-03-30 in CEST (+2).
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    (begins, ends), *_ = freeze.occurrences(window, start, start + timedelta(days=1))
    assert begins.astimezone(UTC) == datetime(2026, 3, 27, 15, tzinfo=UTC)
    assert ends.astimezone(UTC) == datetime(2026, 3, 30, 6, tzinfo=UTC)
    summer = datetime(2026, 7, 3, 12, tzinfo=UTC)
    (begins, _), *_ = freeze.occurrences(window, summer, summer + timedelta(days=1))
    assert begins.astimezone(UTC) == datetime(2026, 7, 3, 14, tzinfo=UTC)


def test_covering_and_next_start(project):
    window = weekly(project)
    saturday = datetime(2026, 12, 12, 10, tzinfo=UTC)
    found, until = freeze.covering([window], saturday)
    assert found == window and until.astimezone(UTC) == datetime(2026, 12, 14, 7, tzinfo=UTC)
    tuesday = datetime(2026, 12, 8, 10, tzinfo=UTC)
    assert freeze.covering([window], tuesday) == (None, None)
    found, starts, _ends = freeze.next_start([window], tuesday)
    assert starts.astimezone(UTC) == datetime(2026, 12, 11, 15, tzinfo=UTC)
    assert freeze.moment(starts, window.time_zone) == "Fri 11 Dec 2026 16:00 CET"


def test_a_window_holds_deploys_of_its_environment_only(project):
    production = Environment.objects.create(project=project, name="production", app_name="p-1")
    staging = Environment.objects.create(project=project, name="staging", app_name="s-1")
    now = timezone.now()
    once(project, now - timedelta(hours=1), now + timedelta(hours=1), environment=production)
    decision = gates.check(production, trigger=Trigger.WEBHOOK)
    assert decision.held and "freeze window “Launch” until" in decision.why_not
    assert decision.holds[0].kind == gates.FREEZE
    assert gates.check(staging).may_start_now


def test_a_project_wide_window_holds_every_environment_but_not_a_rollback(project):
    production = Environment.objects.create(project=project, name="production", app_name="p-1")
    staging = Environment.objects.create(project=project, name="staging", app_name="s-1")
    now = timezone.now()
    once(project, now - timedelta(hours=1), now + timedelta(hours=1))
    assert gates.check(production).held and gates.check(staging, trigger=Trigger.RETRY).held
    assert gates.check(production, trigger=Trigger.ROLLBACK).may_start_now


def test_a_manual_deploy_in_a_window_needs_an_admin_override_with_a_reason(project, alice):
    production = Environment.objects.create(project=project, name="production", app_name="p-1")
    now = timezone.now()
    once(project, now - timedelta(hours=1), now + timedelta(hours=1))
    with pytest.raises(services.Held, match="freeze window"):
        services.request_deploy(production, user=alice, branch="main", check_queue=False)
    with pytest.raises(services.DeployError, match="needs a reason"):
        services.request_deploy(
            production, user=alice, branch="main", override="", check_queue=False
        )
    assert not Deploy.objects.exists()
    decision = gates.check(production, user=alice, override="security fix")
    assert decision.may_start_now and decision.override == "security fix"


# Windows refused --------------------------------------------------------------------------------


@pytest.fixture
def add_url(project):
    return reverse("freeze_window_add", args=[project.slug])


def form(**extra):
    return {"title": "Freeze", "time_zone": "Europe/Berlin", "environment": ""} | extra


def test_an_admin_adds_a_weekly_window_and_it_is_audited(project, client_for, alice, add_url):
    data = form(
        weekly="1", start_weekday="4", start_time="16:00", end_weekday="0", end_time="08:00"
    )
    response = client_for(alice).post(add_url, data, follow=True)
    assert b"Added the freeze window" in response.content
    assert b"Friday 16:00 to Monday 08:00 every week (Europe/Berlin)" in response.content
    event = AuditEvent.objects.get(action="freeze_window.added")
    assert event.details["scope"] == "every environment"


@pytest.mark.parametrize(
    "data,message",
    [
        (
            form(starts_at="2030-01-02T10:00", ends_at="2030-01-01T10:00"),
            "The window ends before it starts",
        ),
        (form(starts_at="2020-01-01T10:00", ends_at="2020-01-02T10:00"), "over already"),
        (
            form(starts_at="2030-03-31T02:30", ends_at="2030-04-01T10:00"),
            "2030-03-31 02:30 does not exist in Europe/Berlin",
        ),
        (
            form(
                weekly="1", start_weekday="0", start_time="09:00", end_weekday="0", end_time="09:00"
            ),
            "cannot last the whole week",
        ),
        (form(weekly="1", start_weekday="0"), "Needed for a weekly window"),
        (form(starts_at="2030-01-02T10:00"), "Needed for a one-off window"),
        (
            form(
                time_zone="Mars/Olympus", starts_at="2030-01-02T10:00", ends_at="2030-01-03T10:00"
            ),
            "Select a valid choice",
        ),
    ],
)
def test_an_impossible_window_is_refused_with_why_and_nothing_saved(
    project, client_for, alice, add_url, data, message
):
    page = client_for(alice).post(add_url, data)
    assert page.status_code == 200
    assert message in page.content.decode()
    assert not FreezeWindow.objects.exists()
    assert not AuditEvent.objects.filter(action="freeze_window.added").exists()


def test_an_overlapping_window_is_refused_naming_the_other(project, client_for, alice, add_url):
    weekly(project, title="Weekend")
    # Saturday 2030-01-05 12:00 to 14:00 Berlin lies in the weekend window.
    page = client_for(alice).post(
        add_url, form(starts_at="2030-01-05T12:00", ends_at="2030-01-05T14:00")
    )
    text = page.content.decode()
    assert "It overlaps “Weekend” (Friday 16:00 to Monday 08:00 every week" in text
    assert FreezeWindow.objects.count() == 1


def test_windows_of_different_environments_may_overlap_but_not_with_a_project_wide_one(
    project, client_for, alice, add_url
):
    production = Environment.objects.create(project=project, name="production", app_name="p-1")
    staging = Environment.objects.create(project=project, name="staging", app_name="s-1")
    span = {"starts_at": "2030-01-05T12:00", "ends_at": "2030-01-05T14:00"}
    client_for(alice).post(add_url, form(environment=production.pk, **span))
    client_for(alice).post(add_url, form(environment=staging.pk, title="Other", **span))
    assert FreezeWindow.objects.count() == 2
    page = client_for(alice).post(add_url, form(title="All", **span))
    assert "It overlaps" in page.content.decode()
    assert FreezeWindow.objects.count() == 2


def test_touching_windows_do_not_overlap(project, client_for, alice, add_url):
    client_for(alice).post(add_url, form(starts_at="2030-01-05T12:00", ends_at="2030-01-05T14:00"))
    client_for(alice).post(
        add_url, form(title="Next", starts_at="2030-01-05T14:00", ends_at="2030-01-05T16:00")
    )
    assert FreezeWindow.objects.count() == 2


def test_a_deployer_cannot_add_or_delete_windows(project, client_for, bob, add_url):
    Membership.objects.create(project=project, user=bob, role=Role.DEPLOYER)
    window = weekly(project)
    data = form(starts_at="2030-01-02T10:00", ends_at="2030-01-03T10:00")
    assert client_for(bob).post(add_url, data).status_code == 403
    delete = reverse("freeze_window_delete", args=[project.slug, window.pk])
    assert client_for(bob).post(delete).status_code == 403
    assert FreezeWindow.objects.count() == 1


def test_deleting_a_window_is_audited(project, client_for, alice):
    window = weekly(project)
    url = reverse("freeze_window_delete", args=[project.slug, window.pk])
    asked = client_for(alice).post(url).content.decode()
    assert "Delete the freeze window “Weekend”?" in asked
    assert "Deploys are no longer held Friday 16:00 to Monday 08:00 every week" in asked
    assert FreezeWindow.objects.exists()
    client_for(alice).post(url, {"confirmed": "yes"})
    assert not FreezeWindow.objects.exists()
    assert AuditEvent.objects.get(action="freeze_window.deleted").details["title"] == "Weekend"


def test_the_project_page_says_when_the_next_window_starts_and_ends(project, client_for, alice):
    Environment.objects.create(project=project, name="production", app_name="p-1")
    now = timezone.now()
    starts, ends = now + timedelta(days=2), now + timedelta(days=3)
    once(project, starts, ends, title="Year end")
    page = client_for(alice).get(reverse("project", args=[project.slug])).content.decode()
    assert "Next freeze window: <strong>Year end</strong>" in page
    assert f"starts {freeze.moment(starts, 'Europe/Berlin')}" in page
    assert f"ends {freeze.moment(ends, 'Europe/Berlin')}" in page


@pytest.mark.parametrize(
    ("zone", "starts", "ends"),
    [
        ("America/New_York", "9999-12-31T20:00", "9999-12-31T23:00"),  # past year 9999 in UTC
        ("Asia/Tokyo", "0001-01-01T00:00", "0001-01-01T05:00"),  # before year 1 in UTC
    ],
)
def test_a_window_at_the_edge_of_the_calendar_is_refused_in_words(
    project, client_for, alice, add_url, zone, starts, ends
):
    data = form(time_zone=zone, starts_at=starts, ends_at=ends)
    response = client_for(alice).post(add_url, data)
    assert response.status_code == 200
    assert b"cannot be given in UTC" in response.content
    assert not FreezeWindow.objects.exists()


def test_a_window_ending_years_ahead_is_refused_before_any_overlap_is_looked_for(
    project, client_for, alice, add_url
):
    """A weekly window beside it would be compared week by week up to the calendar's end."""
    weekly = form(
        weekly="1", start_weekday="4", start_time="16:00", end_weekday="3", end_time="08:00"
    )
    client_for(alice).post(add_url, weekly | {"title": "Weekly"})
    data = form(
        time_zone="UTC", starts_at="9999-12-20T00:00", ends_at="9999-12-31T23:59", title="Far"
    )
    response = client_for(alice).post(add_url, data)
    assert response.status_code == 200
    assert b"A window ends within 10 years" in response.content
    assert list(FreezeWindow.objects.values_list("title", flat=True)) == ["Weekly"]
