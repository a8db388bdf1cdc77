"""The on/off settings cnnkit reads from the environment (the notebooks' mode, read by the modes module
alone, and ``CNNKIT_OFFLINE``), parsed by one rule: ``1``, ``true``, ``yes`` and ``on`` mean
on; ``0``, ``false``, ``no``, ``off``, empty or unset mean off (any case, spaces around ignored);
anything else is refused in one line, never read as off (a quick-mode switch mistyped as ``ture`` must
not start a GPU-sized full run on a laptop)."""

from __future__ import annotations

import os

from cnnkit.errors import CnnkitError

ON, OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


class SettingError(CnnkitError, ValueError):
    """An environment setting holds a value that is neither on nor off."""


def flag(name: str, environ=None) -> bool:
    """Whether the setting ``name`` is on, by the module's rule; ``environ`` defaults to ``os.environ``."""
    raw = (os.environ if environ is None else environ).get(name, "")
    value = raw.strip().lower()
    if value in ON:
        return True
    if value in OFF:
        return False
    spelled = f"on ({', '.join(ON)}) nor off ({', '.join(OFF[1:])}, or unset)"
    raise SettingError(f"{name}={raw!r} is neither {spelled}; set it to one of them.")
