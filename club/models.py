"""Every feature's models, imported so that Base.metadata knows all tables (Alembic and model tests use it)."""

from club import ratelimit  # noqa: F401
from club.accounts import models as accounts_models  # noqa: F401
from club.admin import models as admin_models  # noqa: F401
from club.ambassadors import models as ambassadors_models  # noqa: F401
from club.db import Base
from club.events import models as events_models  # noqa: F401
from club.mail import models as mail_models  # noqa: F401
from club.members import models as members_models  # noqa: F401
from club.newsletters import models as newsletters_models  # noqa: F401

metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's include_name hook: what autogenerate compares. Dialect-specific objects that no model can
    describe (SQLite's FTS5 search tables) are made by hand in their migration and left out here."""
    from club.admin.models import include_name as admin_include_name

    return admin_include_name(name, type_, parent_names)
