"""Repositories are remote, and a repository's token is shown nowhere.

Attacks: a project pointed at a local path (another project's mirror, /etc), at git's `ext::`
or `fd::` transports, a row changed behind the form, and `git ls-remote`'s error text used as a
port-scan and file-existence oracle. Then a canary token in an https URL, looked for in every
page, log line, RQ job, table, the mirror's git config and every process's command line.
"""

import base64
import contextlib
import shutil
import socket
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from deploys import mirror, runners
from deploys.models import Deploy
from herokucd import git
from projects.models import Project
from tests.gitrepo import GitRepo
from tests.security.git_server import private_git_host

pytestmark = pytest.mark.django_db
TOKEN = "ghp_CanaryRepositoryToken0123456789abcdef"
NOT_LOCAL = "Local paths are not allowed: use the repository&#x27;s git URL"


@pytest.fixture(autouse=True)
def anyone_creates_projects(settings):
    """The attacker here is any user allowed to create projects (charlie, an outsider)."""
    settings.PROJECT_CREATORS = "everyone"


class Lines:
    """A log writer that keeps what it is given."""

    def __init__(self):
        self.text = []

    def system(self, text):
        self.text.append(text)

    def lines(self, lines, stream=None):
        self.text.extend(lines)


def new_project(client, url, **extra):
    data = {"name": "Evil", "slug": "evil", "repository_url": url, "default_branch": "main"}
    return client.post("/projects/new/", data | extra)


def page(response):
    return response.content.decode()


@pytest.fixture
def other_mirror(project):
    """Another project's mirror in the data folder, as a deploy leaves it."""
    path = mirror.mirror_path(project)
    shutil.rmtree(path, ignore_errors=True)  # the data folder outlives one test
    path.parent.mkdir(parents=True, exist_ok=True)
    GitRepo.create(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_another_projects_mirror_cannot_be_a_repository(client_for, charlie, other_mirror):
    for url in (str(other_mirror), f"file://{other_mirror}"):
        response = new_project(client_for(charlie), url)
        assert NOT_LOCAL in page(response)
        assert "or ask the administrator to allow" in page(response)
    assert not Project.objects.filter(slug="evil").exists()


def test_a_symlink_into_the_data_folder_is_followed_and_refused(
    client_for, charlie, other_mirror, tmp_path
):
    link = tmp_path / "innocent.git"
    link.symlink_to(other_mirror)
    assert NOT_LOCAL in page(new_project(client_for(charlie), str(link)))


def test_a_local_path_outside_the_allowed_folders_is_refused(client_for, charlie):
    response = new_project(client_for(charlie), "/etc")
    assert NOT_LOCAL + ", or ask the administrator to allow /" in page(response)


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/herokucd-pwned",
        "fd::3",
        "http://127.0.0.1:6379/x.git",
        "git://127.0.0.1/x.git",
        "-uhelp",
        "ssh://-oProxyCommand=touch%20/tmp/herokucd-pwned/x",
    ],
)
def test_other_transports_are_refused(client_for, charlie, url):
    response = new_project(client_for(charlie), url)
    assert response.status_code == 200
    refusals = ("Only https and ssh git URLs are allowed", "cannot start with", "names no host")
    assert any(refusal in page(response) for refusal in refusals)
    assert not Project.objects.filter(slug="evil").exists()
    assert not Path("/tmp/herokucd-pwned").exists()


def test_a_path_no_folder_can_have_is_refused_in_words(client_for, charlie):
    response = new_project(client_for(charlie), "0" * 300 + "\u0130" * 40)  # too long a name
    assert response.status_code == 200
    assert "neither a git URL nor a folder this machine can have" in page(response)
    assert not Project.objects.filter(slug="evil").exists()


@pytest.mark.parametrize(
    "url", ["https://github.com/o/r.git", "ssh://git@github.com/o/r.git", "git@github.com:o/r"]
)
def test_remote_urls_are_accepted_as_git_urls(url):
    git.check_repository_url(url)  # raises RepositoryRefused otherwise


def test_the_allowed_folder_itself_lets_a_local_repository_in(client_for, alice, git_repo):
    response = new_project(client_for(alice), str(git_repo.path))
    assert response.status_code == 302
    assert Project.objects.get(slug="evil").repository_url == str(git_repo.path)


def listening_port(answer: bytes):
    """A port that answers anything with `answer` (an open port that is no git server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.sendall(answer)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_git_errors_are_no_oracle_for_ports_or_files(client_for, charlie, tmp_path):
    open_port = listening_port(b"-ERR unknown command\r\n")
    (tmp_path / "a-file").write_text("x")
    tried = [
        f"https://127.0.0.1:{open_port.getsockname()[1]}/x.git",
        f"https://127.0.0.1:{closed_port()}/x.git",
        str(tmp_path / "missing"),
        str(tmp_path / "a-file"),
        str(tmp_path),
    ]
    errors = set()
    for url in tried:
        form = new_project(client_for(charlie), url).context["form"]
        errors.add(tuple(form.errors["repository_url"]))
    open_port.close()
    assert len(errors) == 1, errors
    assert errors.pop()[0].startswith("git could not read this repository. Check the URL")


def test_a_row_changed_behind_the_form_reads_nothing_at_fetch_time(project, other_mirror):
    victim = Project.objects.create(name="V", slug="v", repository_url=str(other_mirror))
    for url in (str(other_mirror), "ext::sh -c id", "/etc"):
        Project.objects.filter(pk=victim.pk).update(repository_url=url)
        victim.refresh_from_db()
        log = Lines()
        with pytest.raises(runners.CommandFailed) as failed:
            mirror.update(victim, log)
        assert str(failed.value).startswith(("Local paths are not allowed", "Only https and ssh"))
        assert not mirror.mirror_path(victim).exists()


def test_git_itself_refuses_other_transports_for_the_mirror(project, tmp_path):
    """Below the URL check: git is told which transports it may use at all."""
    env = git.git_env(tmp_path) | git.protocol_env("https://example.com/r.git")
    target = tmp_path / "clone"
    result = runners.subprocess.run(
        ["git", "clone", "--mirror", "ext::sh -c 'touch /tmp/herokucd-ext'", str(target)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "transport 'ext' not allowed" in result.stderr
    assert not Path("/tmp/herokucd-ext").exists()


# -- The repository's token ----------------------------------------------------------------------


@pytest.fixture
def private_host(tmp_path, monkeypatch):
    root = tmp_path / "host"
    root.mkdir()
    GitRepo.create(tmp_path / "work")
    runners.subprocess.run(
        ["git", "clone", "-q", "--bare", str(tmp_path / "work"), str(root / "app.git")], check=True
    )
    tls = tmp_path / "tls"
    tls.mkdir()
    with private_git_host(root, tls, "ci-bot", TOKEN) as server:
        monkeypatch.setenv("GIT_SSL_CAINFO", str(server.ca_path))
        yield server


def token_forms():
    basic = base64.b64encode(f"ci-bot:{TOKEN}".encode()).decode()
    return {TOKEN, TOKEN[:16], basic, basic[:20]}


def assert_no_token(text, where):
    for form in token_forms():
        assert form not in text, f"the repository token appears in {where}"


def cmdlines() -> str:
    seen = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            seen.append(path.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
    return "\n".join(seen)


@pytest.mark.django_db(transaction=True)
def test_a_repository_token_is_kept_encrypted_and_shown_nowhere(
    client_for, alice, bob_as, private_host, caplog
):
    url = f"{private_host.url}/app.git"
    owner = client_for(alice)
    responses = [new_project(owner, f"https://ci-bot:{TOKEN}@127.0.0.1:1/x.git")]
    assert "ci-bot:••••@127.0.0.1:1" in page(responses[0])  # re-shown masked, never whole
    responses.append(new_project(owner, url.replace("https://", f"https://ci-bot:{TOKEN}@")))
    assert responses[-1].status_code == 302, page(responses[-1])
    assert private_host.seen_authorizations, "ls-remote never asked the host"
    project = Project.objects.get(slug="evil")
    assert (project.repository_url, project.repository_userinfo) == (url, f"ci-bot:{TOKEN}")
    masked = url.replace("https://", "https://ci-bot:••••@")
    for path in ("/", "/projects/evil/", "/projects/evil/settings/"):
        responses.append(owner.get(path))
    assert masked in page(responses[-2])

    # The mirror clones and fetches with it, while every process's command line is read.
    private_host.delay = 0.3
    seen_lines, log = [], Lines()
    stop = threading.Event()
    watcher = threading.Thread(
        target=lambda: [seen_lines.append(cmdlines()) for _ in iter(stop.is_set, True)]
    )
    watcher.start()
    try:
        path = mirror.update(project, log)
        mirror.update(project, log)
    finally:
        stop.set()
        watcher.join()
    assert mirror.resolve(path, branch="main")
    assert any("git" in lines and "app.git" in lines for lines in seen_lines)

    for response in responses:
        assert_no_token(page(response) + str(response.items()), f"page {response.request}")
    for record in caplog.records:
        assert_no_token(f"{record.getMessage()} {record.args!r}", f"log {record.name}")
    assert_no_token("\n".join(log.text), "the deploy log")
    assert_no_token((path / "config").read_text(), "the mirror's git config")
    assert_no_token("\n".join(seen_lines), "a process's command line")
    for table, cell in all_cells():
        if table == "projects_project" and cell.startswith("gAAAA"):
            continue
        assert_no_token(cell, f"table {table}")
    assert_no_token(redis_dump(), "Redis (RQ jobs)")


def all_cells():
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                yield from ((table, str(cell)) for cell in row if cell not in (None, ""))


def redis_dump() -> str:
    import django_rq

    redis = django_rq.get_connection("default")
    values = []
    for key in redis.scan_iter():
        kind = redis.type(key)
        if kind == b"string":
            values.append(redis.get(key))
        elif kind == b"hash":
            values.extend(redis.hgetall(key).values())
    return b"\n".join(value for value in values if isinstance(value, bytes)).decode("latin-1")


def test_existing_tokens_move_out_of_the_url_column(project):
    from importlib import import_module

    from django.apps import apps

    moved = import_module("projects.migrations.0006_repository_credential_app_checks")
    Project.objects.filter(pk=project.pk).update(
        repository_url=f"https://ci-bot:{TOKEN}@github.com/o/r.git"
    )
    moved.move_userinfo_out(apps, None)
    project.refresh_from_db()
    assert project.repository_url == "https://github.com/o/r.git"
    assert project.repository_userinfo == f"ci-bot:{TOKEN}"
    assert project.shown_repository_url == "https://ci-bot:••••@github.com/o/r.git"
    assert Deploy.objects.count() == 0 and settings.ALLOWED_LOCAL_REPOSITORY_FOLDERS


def test_a_failed_fetch_says_one_thing_in_the_deploy_log(project, tmp_path):
    """git's words (refused connection, missing file) stay out of the log a deployer reads."""
    reasons, logs = set(), []
    for url in (f"https://127.0.0.1:{closed_port()}/x.git", str(tmp_path / "missing")):
        Project.objects.filter(pk=project.pk).update(repository_url=url)
        project.refresh_from_db()
        shutil.rmtree(mirror.mirror_path(project), ignore_errors=True)
        log = Lines()
        with pytest.raises(runners.CommandFailed) as failed:
            mirror.update(project, log)
        reasons.add(str(failed.value))
        logs.append("\n".join(log.text))
    assert len(reasons) == 1 and git.UNREADABLE in reasons.pop()
    for text in logs:
        assert "onnect" not in text and "does not appear" not in text and "fatal" not in text
