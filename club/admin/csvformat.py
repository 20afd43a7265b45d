"""The member CSV both ways: the columns an import reads and an export writes, named in the three languages, the
words for yes/no (cities, languages and roles are club.labels'; neutralising cells is club.csvfile's)."""

from __future__ import annotations

from club.i18n import N_

# These names are a file format, not interface text: they stay fixed across releases, so they are not in the
# catalogs. The import page lists them; the template CSV and the export use the admin's language.
COLUMN_NAMES: dict[str, dict[str, str]] = {
    "email": {"en": "email", "nl": "e-mailadres", "ja": "メールアドレス"},
    "name": {"en": "name", "nl": "naam", "ja": "名前"},
    "city": {"en": "city", "nl": "stad", "ja": "都市"},
    "language": {"en": "language", "nl": "taal", "ja": "言語"},
    "interests": {"en": "interests", "nl": "interesses", "ja": "関心"},
    "newsletter": {"en": "newsletter", "nl": "nieuwsbrief", "ja": "ニュースレター"},
    "consent_date": {"en": "consent_date", "nl": "toestemmingsdatum", "ja": "同意日"},
}
# Columns only the export writes; an import ignores them, so an export can be imported again.
EXPORT_ONLY_COLUMNS: dict[str, dict[str, str]] = {
    "role": {"en": "role", "nl": "rol", "ja": "役割"},
    "confirmed_at": {"en": "confirmed_at", "nl": "bevestigd_op", "ja": "確認日時"},
    "suppressed_at": {"en": "suppressed_at", "nl": "geblokkeerd_op", "ja": "配信停止日時"},
    "created_at": {"en": "created_at", "nl": "ingeschreven_op", "ja": "登録日時"},
}
YES_LABEL, NO_LABEL = N_("yes"), N_("no")
