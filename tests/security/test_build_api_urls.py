"""The Build API's upload and output URLs come from Heroku's answer: only Heroku's hosts (or the
configured API's own host) are used, and the call still goes through the outbound policy."""

import pytest

from deploys import buildapi


@pytest.fixture(autouse=True)
def local_heroku(settings):
    settings.HEROKU_API_URL = "http://127.0.0.1:5999"


@pytest.mark.parametrize(
    "url",
    [
        "https://heroku-sources-production.s3.amazonaws.com/abc?Signature=x",
        "https://build-output.heroku.com/streams/01/02",
        "http://127.0.0.1:5999/source-blobs/1.tgz?signature=x",
    ],
)
def test_herokus_hosts_and_the_configured_api_are_accepted(url):
    buildapi.check_url(url, "The upload")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://evil.example/steal", "https://evil.example"),
        ("https://amazonaws.com.evil.example/x", "https://amazonaws.com.evil.example"),
        ("http://build-output.heroku.com/streams/1", "http://build-output.heroku.com"),
        ("http://127.0.0.1:6379/", "http://127.0.0.1"),
        ("file:///etc/passwd", "no host"),
    ],
)
def test_any_other_url_is_refused_before_it_is_called(url, shown):
    with pytest.raises(buildapi.Refused) as refused:
        buildapi.check_url(url, "The upload")
    assert str(refused.value).startswith(f"The upload refused: Heroku's answer named {shown},")


def test_an_allowed_host_still_meets_the_address_policy(settings, tmp_path):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    settings.HEROKU_API_URL = "https://127.0.0.1:5999"
    source = tmp_path / "source.tar.gz"
    source.write_bytes(b"x")
    archive = buildapi.Archive(source, 1, "SHA256:00")
    with pytest.raises(buildapi.Refused) as refused:
        buildapi.upload("https://127.0.0.1:5999/source-blobs/1.tgz", archive)
    assert "127.0.0.1 is a loopback address" in str(refused.value)
