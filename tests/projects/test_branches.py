"""One rule for branch names and patterns: the forms, the Deploy button, the API and the
webhooks' matching agree on every value."""

import pytest
from django import forms

from projects import branches


@pytest.mark.parametrize(
    "name",
    ["main", "feature/login", "release-1.2", "3f2a9c1", "user@host", "a.b/c_d"],
)
def test_it_accepts_what_git_accepts_as_a_branch(name):
    assert branches.is_name(name)
    assert branches.clean_branch(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "a b", "a..b", "/main", "main/", "a//b", "-x", "x.lock", "x.", "a@{1}", "a~1", "a\x01"],
)
def test_it_refuses_what_git_refuses_everywhere(name):
    assert not branches.is_name(name)
    with pytest.raises(forms.ValidationError):
        branches.clean_branch(name)


@pytest.mark.parametrize("value", ["/", "//"])
def test_a_pattern_needs_something_between_its_slashes(value):
    assert not branches.is_regex(value)
    with pytest.raises(forms.ValidationError):
        branches.clean_branch(value)
    assert not branches.matches(value, "")


def test_names_may_come_one_a_line_or_separated_by_commas():
    assert branches.clean_branch(" main,\nstaging , ") == "main, staging"
    assert branches.matches("main\nstaging", "staging")
    assert branches.names("main, staging") == ["main", "staging"]


def test_a_regex_is_one_pattern_matched_whole():
    assert branches.patterns(" /release-.*,x/ ") == ["/release-.*,x/"]
    assert branches.names("/release-.*/") == []
    assert branches.matches("/release-.*/", "release-2")
    assert not branches.matches("/release-.*/", "my-release-2")
