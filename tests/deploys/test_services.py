"""request_deploy under concurrency: numbers, superseding, enqueueing after commit."""

import threading

import pytest
from django.db import connection, transaction

from deploys.models import Deploy, State
from deploys.services import request_deploy
from projects.models import Environment

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_requests_get_distinct_numbers(environment, queue):
    environments = [
        Environment.objects.create(
            project=environment.project, name=f"env{n}", branch="main", app_name=f"app-{n}"
        )
        for n in range(8)
    ]
    errors = []

    def request(env):
        try:
            request_deploy(env)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(env,)) for env in environments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Deploy.objects.values_list("number", flat=True)) == list(range(1, 9))
    assert len(queue.get_job_ids()) == 8


def test_the_job_is_queued_only_when_the_transaction_commits(environment, queue):
    with transaction.atomic():
        deploy = request_deploy(environment)
        assert queue.get_job_ids() == []
    (job_id,) = queue.get_job_ids()
    job = queue.fetch_job(job_id)
    assert job.args == (deploy.pk,)
    assert job.description == f"deploy #{deploy.number} of foo-bar to foo-bar-123"
    assert job.timeout > 3600


def test_a_deploy_rolled_back_with_its_transaction_is_never_queued(environment, queue):
    with pytest.raises(RuntimeError), transaction.atomic():
        request_deploy(environment)
        raise RuntimeError("the caller failed after requesting")
    assert queue.get_job_ids() == []
    assert not Deploy.objects.filter(state=State.QUEUED).exists()
