"""The roles of a study's team and what each may do: one table for every surface.

The console checks it through ``delphi.console.requires`` (each route names the permission
it needs) and the JSON API through the same ``allows``; nothing else decides who may do
what in a study. Keep the names stable: other modules import ``Role``, ``Permission``,
``ROLE_PERMISSIONS`` and ``allows`` from here.

=============  =====================================================================
owner          everything, including the team (invite, change roles, remove) and
               archiving the study
editor         the definition, the panel, rounds and decisions, and all that a viewer sees
viewer         reads everything (results, panel, outbox, audit log), changes nothing
statistician   results and exports only (no panel, no personal data)
=============  =====================================================================
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"
    STATISTICIAN = "statistician"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def summary(self) -> str:
        return ROLE_SUMMARIES[self]


class Permission(enum.StrEnum):
    VIEW_STUDY = "study.view"            # the study's page and its audit log
    EDIT_DEFINITION = "study.edit"       # the builder: settings, groups, sections, statements
    ARCHIVE_STUDY = "study.archive"      # archive a finished study
    VIEW_PANEL = "panel.view"            # the panel and each panellist's page (personal data)
    MANAGE_PANEL = "panel.manage"        # import, withdraw, reissue, export or erase a panellist
    VIEW_ROUNDS = "rounds.view"          # rounds, the outbox, message previews
    RUN_ROUNDS = "rounds.run"            # launch, close, remind, resend
    DECIDE = "decisions.make"            # carry, drop, reword, split, merge, add, finish
    VIEW_RESULTS = "results.view"        # round results and the next round's preview
    EXPORT = "exports.download"          # downloads and the report
    CONFIGURE_EXPORTS = "exports.configure"  # the report's fields
    VIEW_TEAM = "team.view"              # who is on the team; leave it
    MANAGE_TEAM = "team.manage"          # invite, change roles, remove members


_READ = {Permission.VIEW_STUDY, Permission.VIEW_PANEL, Permission.VIEW_ROUNDS,
         Permission.VIEW_RESULTS, Permission.EXPORT, Permission.VIEW_TEAM}
_EDIT = _READ | {Permission.EDIT_DEFINITION, Permission.MANAGE_PANEL, Permission.RUN_ROUNDS,
                 Permission.DECIDE, Permission.CONFIGURE_EXPORTS}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.EDITOR: frozenset(_EDIT),
    Role.VIEWER: frozenset(_READ),
    Role.STATISTICIAN: frozenset({Permission.VIEW_RESULTS, Permission.EXPORT,
                                  Permission.CONFIGURE_EXPORTS, Permission.VIEW_TEAM}),
}

ROLE_SUMMARIES: dict[Role, str] = {
    Role.OWNER: "everything, including the team",
    Role.EDITOR: "definition, panel, rounds and decisions",
    Role.VIEWER: "reads everything, changes nothing",
    Role.STATISTICIAN: "results and exports only",
}

ROLE_VALUES = tuple(r.value for r in Role)


def allows(role: Role | str | None, permission: Permission | str) -> bool:
    """Whether a team member with ``role`` may do what ``permission`` names."""
    if role is None or role not in ROLE_VALUES:
        return False
    return Permission(permission) in ROLE_PERMISSIONS[Role(role)]
