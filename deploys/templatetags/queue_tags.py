"""How a queued deploy's place in its app's queue reads (deploys/waiting.py says what it is).

Two forms: the sentence of the deploy page ("Waiting behind #10 (running on demo-staging, step 3
of 8, started 2 minutes ago)."), and the short place of history rows and environment cards
("2nd behind #10", templates/deploys/_queue_place.html). A deploy of another project is named
only to its members: the sentence is given the projects the viewer belongs to; the short form,
kept for every viewer of the project's pages (projects/pagecache.py), never names one.
"""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from deploys.models import State
from projects.templatetags.project_tags import ago

register = template.Library()

ANOTHER_PROJECT = "a deploy of another project"
RATE_LIMIT = "Heroku's git rate limit"


@register.filter
def ordinal(number) -> str:
    """1st, 2nd, 3rd, 4th... 11th, 12th, 13th, 21st."""
    number = int(number)
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


# The deploy page's sentence --------------------------------------------------------------------


@register.simple_tag
def queue_sentence(waiting, project, visible=None):
    """Why the queued deploy waits and behind what, with links to the deploys it waits behind.
    `visible`: {project id: project} of the viewer's projects, whose deploys may be named."""
    if not waiting:
        return ""
    if waiting.deferred:
        return _deferred(waiting)
    names = Names(project, visible or {})
    if waiting.running is not None:
        text = format_html("Waiting behind {}", names.running(waiting.running))
        if waiting.ahead:
            verb = "is" if len(waiting.ahead) == 1 else "are"
            text = format_html(
                "{}; {} {} ahead of it in the queue", text, names.queued(waiting.ahead), verb
            )
        return format_html("{}.", text)
    if waiting.ahead:
        verb = "is" if len(waiting.ahead) == 1 else "are"
        first = names.queued(waiting.ahead)
        return format_html("{} {} ahead of it in the queue.", _capfirst(first), verb)
    return mark_safe("Waiting for a worker to pick it up.")


def _deferred(waiting):
    from deploys.templatetags.deploy_tags import _clock  # which shows this row's place

    if waiting.until is None:
        return format_html("{} allows its push again: waiting for a worker.", RATE_LIMIT)
    return format_html("Waiting for {} until {}.", RATE_LIMIT, _clock(waiting.until))


class Names:
    """Deploys as the sentence names them: linked `#10` of this project, `#4 of Other` of
    another project the viewer belongs to, else "a deploy of another project"."""

    def __init__(self, project, visible):
        self.project, self.visible = project, visible

    def of(self, deploy):
        if deploy.project_id == self.project.pk:
            url = self._url(self.project, deploy)
            return format_html('<a href="{}">#{}</a>', url, deploy.number)
        other = self.visible.get(deploy.project_id)
        if other is None:
            return ANOTHER_PROJECT
        url = self._url(other, deploy)
        return format_html('<a href="{}">#{} of {}</a>', url, deploy.number, other.name)

    def shown(self, deploy) -> bool:
        return deploy.project_id == self.project.pk or deploy.project_id in self.visible

    @staticmethod
    def _url(project, deploy):
        return reverse("deploy", args=[project.slug, deploy.number])

    def running(self, deploy):
        facts = [format_html("running on {}", deploy.app_name)]
        if self.shown(deploy) and deploy.step_count:
            facts.append(format_html("step {} of {}", deploy.current_step, deploy.step_count))
        if deploy.started_at:
            facts.append(format_html("started {}", since(deploy.started_at)))
        return format_html("{} ({})", self.of(deploy), mark_safe(", ".join(facts)))  # noqa: S308

    def queued(self, deploys):
        named = [self._queued(deploy) for deploy in deploys]
        if len(named) == 1:
            return named[0]
        listed = format_html_join(", ", "{}", ((name,) for name in named[:-1]))
        return format_html("{} and {}", listed, named[-1])

    def _queued(self, deploy):
        if deploy.started_at is not None:  # put back by the rate limit
            return format_html("{} (waiting for {})", self.of(deploy), RATE_LIMIT)
        return self.of(deploy)


def since(moment):
    """`<time>` saying "2 minutes ago", which the deploy page keeps ticking (static/js/log.js)."""
    return format_html(
        '<time class="since" datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z"),
        ago(moment),
    )


def _capfirst(html):
    return mark_safe(html[:1].upper() + html[1:])  # noqa: S308 - html is escaped already


# The short place of rows and cards -------------------------------------------------------------


@register.inclusion_tag("deploys/_queue_place.html")
def queue_place(project, waiting):
    """ "2nd behind #10", "2nd in line", "waiting for a worker"."""
    return {"project": project, "waiting": waiting}


@register.filter
def step_of(deploy):
    """ "step 3 of 8" of a running deploy that waiting.describe() read; empty otherwise."""
    if getattr(deploy, "state", None) != State.RUNNING or not getattr(deploy, "step_count", 0):
        return ""
    return f"step {deploy.current_step} of {deploy.step_count}"
