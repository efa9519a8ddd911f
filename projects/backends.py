"""Django's ModelBackend, reading the signed-in user of each request with one plain query.

Every signed-in request loads its user by primary key; building that query with the ORM costs
more than the database spends answering it, and more than a simple page's other work.
"""

from django.contrib.auth import backends, get_user_model

from projects.access import may_add_project_sql

UserModel = get_user_model()
# With whether the user may create projects, which every page's top bar shows (projects/access.py).
_TABLE, _PK = UserModel._meta.db_table, UserModel._meta.pk.column
_USER_SQL = f"""
    SELECT u.*, {may_add_project_sql(f"u.{_PK}")} AS may_add_project
    FROM {_TABLE} u WHERE u.{_PK} = %s
"""  # noqa: S608


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id):
        user = next(iter(UserModel._default_manager.raw(_USER_SQL, [user_id])), None)
        return user if user is not None and self.user_can_authenticate(user) else None
