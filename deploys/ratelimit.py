"""Heroku's git rate limit (75 git requests per hour per user and app, HEROKU.md §5): a stub.

`before_push` will raise DeferDeploy(until) when a push now would hit the limit; the job then
puts the deploy back in the queue until that time.
"""


class DeferDeploy(Exception):
    def __init__(self, until):
        super().__init__(f"deferred until {until:%H:%M}")
        self.until = until


def before_push(deploy, credential):
    return None
