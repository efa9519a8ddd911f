"""The heroku's calls against the Heroku simulator, over real HTTP."""

from herokucd.heroku import USER_AGENT, HerokuClient

from .helpers import is_stopped
from .scripted_server import scripted_server

PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHbUVY1cFNmtdRZ1aq7qNMsl4bdCFo7cHIC4hOS4UUo2"
    " deployer@example.com"
)


def test_it_sends_bearer_auth_the_v3_accept_header_and_its_user_agent():
    with scripted_server([(200, {}, {"email": "x@example.com"})]) as (server, url):
        HerokuClient("HRKU-header-check", api_url=url).account()
    headers = server.requests[0]
    assert headers["Authorization"] == "Bearer HRKU-header-check"
    assert headers["Accept"] == "application/vnd.heroku+json; version=3"
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("herokucd/")


def test_it_reads_the_api_url_from_settings_at_call_time(settings):
    heroku = HerokuClient("HRKU-k")
    with scripted_server([(200, {}, {"email": "late@example.com"})]) as (_, url):
        settings.HEROKU_API_URL = url + "/"
        assert heroku.account()["email"] == "late@example.com"


def test_an_explicit_api_url_wins_over_settings(settings):
    settings.HEROKU_API_URL = "http://127.0.0.1:9"
    with scripted_server([(200, {}, {"email": "explicit@example.com"})]) as (_, url):
        assert HerokuClient("HRKU-k", api_url=url).account()["email"] == "explicit@example.com"


def test_git_url_uses_the_git_host_setting_and_carries_no_credentials(settings):
    settings.HEROKU_GIT_URL = "https://git.example.test/"
    assert (
        HerokuClient("HRKU-k").git_url("foo-bar-123") == "https://git.example.test/foo-bar-123.git"
    )


def test_account_is_the_keys_owner(heroku):
    assert heroku.account()["email"] == "deployer@example.com"


def test_rate_limits_report_the_remaining_calls(heroku):
    assert heroku.rate_limits()["remaining"] > 0


def test_app_returns_the_app_with_its_web_url(heroku, app_name):
    app = heroku.app(app_name)
    assert app["name"] == app_name
    assert app["web_url"].startswith(f"https://{app_name}-")


def test_set_maintenance_turns_it_on_and_off(heroku, app_name):
    assert heroku.set_maintenance(app_name, True)["maintenance"] is True
    assert heroku.app(app_name)["maintenance"] is True
    heroku.set_maintenance(app_name, False)
    assert heroku.app(app_name)["maintenance"] is False


def test_formation_lists_each_process_type(heroku, app_name):
    quantities = {item["type"]: item["quantity"] for item in heroku.formation(app_name)}
    assert quantities == {"web": 1, "worker": 2}


def test_scale_sets_several_quantities_in_one_call(heroku, app_name):
    heroku.scale(app_name, {"web": 0, "worker": 0})
    quantities = {item["type"]: item["quantity"] for item in heroku.formation(app_name)}
    assert quantities == {"web": 0, "worker": 0}


def test_update_config_vars_sets_values_and_none_deletes(heroku, app_name):
    heroku.update_config_vars(app_name, {"FEATURE": "on", "OTHER": "x"})
    after = heroku.update_config_vars(app_name, {"OTHER": None})
    assert after["FEATURE"] == "on"
    assert "OTHER" not in after
    assert heroku.config_vars(app_name) == after


def test_releases_are_newest_first(heroku, app_name):
    versions = [release["version"] for release in heroku.releases(app_name)]
    assert versions == sorted(versions, reverse=True)
    assert len(versions) >= 2


def test_releases_follow_next_range_across_pages(sim, app_name):
    with HerokuClient(sim.api_key, page_size=2) as small_pages:
        for n in range(5):
            small_pages.update_config_vars(app_name, {"N": str(n)})
        versions = [release["version"] for release in small_pages.releases(app_name)]
    assert versions == list(range(max(versions), 0, -1))


def test_releases_with_a_limit_stop_at_the_newest(heroku, app_name):
    newest = heroku.releases(app_name)[0]["version"]
    assert [r["version"] for r in heroku.releases(app_name, limit=2)] == [newest, newest - 1]


def test_release_finds_a_release_by_version_or_id(heroku, app_name):
    first = heroku.release(app_name, 1)
    assert heroku.release(app_name, first["id"])["version"] == 1


def test_rollback_creates_a_new_release_copying_the_old_one(heroku, app_name):
    target = heroku.release(app_name, 1)
    rolled = heroku.rollback(app_name, target["id"])
    assert rolled["version"] == heroku.releases(app_name)[0]["version"]
    assert "v1" in rolled["description"]


def test_keys_can_be_added_listed_and_removed(heroku):
    key = heroku.add_key(PUBLIC_KEY)
    assert key["id"] in [k["id"] for k in heroku.list_keys()]
    heroku.remove_key(key["id"])
    assert key["id"] not in [k["id"] for k in heroku.list_keys()]


def test_a_detached_dyno_can_be_read_and_stopped(heroku, app_name):
    dyno = heroku.create_dyno(app_name, "sleep 30", attach=False, env={"X": "1"}, time_to_live=60)
    assert dyno["attach_url"] is None
    assert heroku.dyno(app_name, dyno["name"])["id"] == dyno["id"]
    heroku.stop_dyno(app_name, dyno["id"])
    assert is_stopped(heroku, app_name, dyno["id"])
