"""What the dispatcher's coverage panel (static/js/coverage.js) shows, in the page's language.

`%(unit)s`, `%(station)s` and `%(seconds)s` are filled in by the script."""

from __future__ import annotations

from flask_babel import gettext as _


def coverage_labels() -> dict[str, str]:
    return {
        "figure": _("Fire engine coverage %(seconds)s s"),
        "move": _("Move %(unit)s to %(station)s"),
        "gain": _("coverage"),
        "regain": _("covers again"),
        "no_move": _("No move-up gains coverage"),
        "layer": _("Show roads out of reach"),
        "unavailable": _("Coverage not available"),
        "no_units": _("No fire engine in the fleet"),
    }
