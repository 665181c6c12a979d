"""Errors that carry a message meant for the person who typed the input."""


class InputError(ValueError):
    """Bad user input (unknown name, value out of range, malformed file ...).

    The message is one plain sentence saying what was wrong and what to do; the CLI prints it on one
    line and exits with status 2, the pages show it with st.error.  Never raised for programming
    errors.
    """
