"""The `windows:` section: mirroring maintenance windows into Alertmanager as silences (docs/windows.md)."""

from __future__ import annotations

from pydantic import Field

from webhook.config.reconcile import ReconcileConfig, Url
from webhook.config.types import Strict


class AlertmanagerSilences(Strict):
    """Each window also becomes a silence in Alertmanager (API v2); the window stays Tocsin's truth."""

    #: Mirror every maintenance window into Alertmanager as a silence (the leader creates, rolls and expires them).
    enabled: bool = False
    #: Base URLs of the Alertmanagers (one cluster: the silence is made in the first that answers and gossiped to
    #: the others). Empty: reconcile.alertmanagers, with reconcile's credentials, CA and timeout.
    alertmanagers: list[Url] = []
    #: The silences' `createdBy` (the window's creator goes into the comment).
    created_by: str = Field("tocsin", min_length=1, max_length=128)

    def targets(self, reconcile: ReconcileConfig) -> list[str]:
        return list(self.alertmanagers or reconcile.alertmanagers)


class WindowsConfig(Strict):
    #: Mirror windows into Alertmanager as silences, see docs/windows.md.
    alertmanager_silences: AlertmanagerSilences = AlertmanagerSilences()

    def problems(self, reconcile: ReconcileConfig) -> list[str]:
        s = self.alertmanager_silences
        if s.enabled and not s.targets(reconcile):
            return ["windows.alertmanager_silences: enabled, but no Alertmanager: set its alertmanagers or "
                    "reconcile.alertmanagers"]
        return []
