"""Who may hold a Heroku app's deploy lock: only a deploy whose project's current key reached
the app (deploys/jobs.py claims the lock; this says whether a deploy may ask for it).

Saving an app name checks it with Heroku and records the check on the environment (which app,
with which key's hash). A deploy asks Heroku only when that record does not match the app and
the project's current key: a row saved behind the forms, a key replaced since. An app that the
key cannot reach fails the deploy before it holds anything, so another project's deploy of that
app is never kept waiting by it.
"""

from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Q

from deploys import notifications
from deploys.models import Deploy, State
from projects import setup
from projects.models import HerokuCredential
from projects.setup_forms import check_app_on_heroku


def refusal(deploy: Deploy) -> str | None:
    """Why `deploy` may not take its app's lock, or None when its project's key reaches it."""
    try:
        credential = deploy.project.heroku_credential  # read with the deploy (jobs.RUN_WITH)
    except HerokuCredential.DoesNotExist:
        credential = None
    if credential is None:
        return "The project has no Heroku API key: save one in setup step 1, then deploy again."
    environment = deploy.environment
    if _same_app(environment, deploy) and environment.app_checked_with(credential.key_hash):
        return None
    try:
        with setup.client_with_key(credential.api_key) as client:
            app = check_app_on_heroku(client, deploy.app_name, credential.account_email)
    except ValidationError as error:
        return " ".join(error.messages)
    if _same_app(environment, deploy):
        _record(environment, credential, app)
    return None


def _same_app(environment, deploy) -> bool:
    return environment is not None and environment.app_name == deploy.app_name


def _record(environment, credential, app) -> None:
    environment.record_app_check(environment.app_name, credential.key_hash)
    fields = ["app_checked_name", "app_checked_key_hash", "app_checked_at"]
    environment.save(update_fields=fields)


# A deploy whose environment's app check matches its app and its project's current key: it will
# take the app when its turn comes, so deploys of other projects wait for it.
CHECKED_FOR_ITS_KEY = Q(
    environment__app_checked_name=F("app_name"),
    environment__app_checked_key_hash=F("project__heroku_credential__key_hash"),
)


def same_app_waiting_before():
    """The older queued deploys of the app (a subquery of the claim) that a deploy waits for:
    those of its own project, and others' whose app check matches their project's current
    key. Another project's unchecked deploy (which will fail its check) keeps nobody waiting.
    deploys/waiting.py tells the same for the pages."""
    return Deploy.objects.filter(
        CHECKED_FOR_ITS_KEY | Q(project_id=OuterRef("project_id")),
        app_name=OuterRef("app_name"),
        state=State.QUEUED,
        pk__lt=OuterRef("pk"),
    )


def fail_queued(deploy: Deploy, reason: str) -> bool:
    """Fail a deploy that never ran (it held nothing, so there is nothing to undo)."""
    ended = deploy.fail_queued(reason)
    if ended:
        notifications.deploy_ended(deploy)
    return ended
