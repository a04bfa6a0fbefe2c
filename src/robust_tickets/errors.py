"""The one exception type users see: a bad input, reported as a single line with exit code 2."""


class UserError(Exception):
    """Something the user can fix: the message says what is wrong and how to fix it."""

    exit_code = 2


class RunFailed(Exception):
    """Work that was started failed (a worker process died): exit code 1, what finished is kept."""

    exit_code = 1
