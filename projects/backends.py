"""Django's ModelBackend, reading the signed-in user of each request with one plain query.

Every signed-in request loads its user by primary key; building that query with the ORM costs
more than the database spends answering it, and more than a simple page's other work.
"""

from django.contrib.auth import backends, get_user_model

UserModel = get_user_model()
_USER_SQL = f"SELECT * FROM {UserModel._meta.db_table} WHERE {UserModel._meta.pk.column} = %s"  # noqa: S608


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id):
        user = next(iter(UserModel._default_manager.raw(_USER_SQL, [user_id])), None)
        return user if user is not None and self.user_can_authenticate(user) else None
