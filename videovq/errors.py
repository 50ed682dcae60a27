"""The one exception type for bad user input.

The CLI prints an `InputError` as a single line on stderr (no traceback unless `--debug`), so its message must name
the offending file or value *and* the fix.
"""


class InputError(ValueError):
    """Bad input from the user: a missing/corrupt file, mismatched sizes, an output that already exists, ..."""
