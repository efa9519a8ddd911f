"""The commit a webhook names is deployed only when it is on the mapped branch, in a real
repository: its tip (one git command) or an older commit of it; never another branch's."""

import pytest

from deploys import mirror
from tests.gitrepo import GitRepo


@pytest.fixture
def repo(tmp_path):
    repo = GitRepo.create(tmp_path / "repo")
    repo.older = repo.head()
    repo.commit("app.py", "print(1)\n", "Second commit")
    repo.git("checkout", "-q", "-b", "feature")
    repo.unmerged = repo.commit("feature.py", "x = 1\n", "Unmerged")
    repo.git("checkout", "-q", "main")
    return repo


def test_it_gives_the_full_sha_of_the_branch_tip(repo):
    tip = repo.head()
    assert mirror.commit_on_branch(repo.path, tip, "main") == tip
    assert mirror.commit_on_branch(repo.path, tip[:7], "main") == tip


def test_it_accepts_an_older_commit_of_the_branch(repo):
    assert mirror.commit_on_branch(repo.path, repo.older[:10], "main") == repo.older


def test_it_refuses_a_commit_of_another_branch(repo):
    with pytest.raises(mirror.NotOnBranch, match=f"Commit {repo.unmerged[:7]} is not on branch"):
        mirror.commit_on_branch(repo.path, repo.unmerged, "main")


def test_it_says_which_commit_or_branch_is_missing(repo):
    with pytest.raises(mirror.UnknownCommit, match="Commit deadbeef is not in the repository"):
        mirror.commit_on_branch(repo.path, "deadbeef", "main")
    with pytest.raises(mirror.UnknownCommit, match="Branch nope is not in the repository"):
        mirror.commit_on_branch(repo.path, repo.head(), "nope")
