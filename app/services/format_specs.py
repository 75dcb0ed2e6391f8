"""Bounds on the format specs people write in file-name and e-mail subject templates.

`format(4, ">9999999999")` allocates a 10 GB string before anything can cut it short (and
strftime takes widths too: "%999999999Y"),
so a width or precision is refused above MAX_FORMAT_NUMBER, before any value is
formatted, wherever a template is checked or rendered.
"""

from __future__ import annotations

import re

# Far beyond any useful zero-padding or label cut, far below anything costly.
MAX_FORMAT_NUMBER = 64
_NUMBERS = re.compile(r"\d+")


def spec_problem(spec: str) -> str | None:
    """Why a `{token:spec}` spec is refused, or None when its widths and precisions are small.

    Every run of digits is read as a number: width and precision are digit runs, and the
    only other digit a spec can hold is a one-character fill, so nothing larger slips by.
    """
    if any(int(run) > MAX_FORMAT_NUMBER for run in _NUMBERS.findall(spec or "")):
        return f"width and precision must be at most {MAX_FORMAT_NUMBER}"
    return None
