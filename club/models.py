"""Every feature's models, imported so that Base.metadata knows all tables (Alembic and model tests use it)."""

import importlib

from club.accounts import models as accounts_models  # noqa: F401
from club.db import Base

FEATURE_MODELS = ("club.mail.models", "club.members.models", "club.ambassadors.models", "club.newsletters.models",
                  "club.admin.models", "club.events.models")

for _module in FEATURE_MODELS:
    try:
        importlib.import_module(_module)
    except ModuleNotFoundError as exc:  # a feature without tables of its own (yet)
        if exc.name is None or not _module.startswith(exc.name):
            raise

metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's include_name hook: what autogenerate compares. Dialect-specific objects that no model can
    describe (SQLite's FTS5 search tables) are made by hand in their migration and left out here."""
    from club.admin.models import include_name as admin_include_name

    return admin_include_name(name, type_, parent_names)
