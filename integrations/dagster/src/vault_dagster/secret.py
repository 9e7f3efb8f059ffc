"""`Secret`: a value that prints as `[redacted]` everywhere Dagster might show it.

`str`, `repr`, f-strings and `%` formatting all give `[redacted]`, so a value passed to `context.log.info`, put in
metadata, or caught in an exception's repr does not reach the run's logs or event records. `reveal()` returns the
value (so does `get_secret_value()`, the name pydantic's `SecretStr` uses), which makes each place that needs it
easy to find in review. Pickling is refused, so a Secret cannot be stored by an IO manager or sent between
processes by accident.
"""

import hmac

REDACTED = "[redacted]"


class Secret:
    """A secret value. `reveal()` returns it; everything else prints `[redacted]`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a str")
        self._value = value

    def reveal(self) -> str:
        """The plaintext. Use it only where the value must leave the process (a connection, a request header)."""
        return self._value

    def get_secret_value(self) -> str:
        """The plaintext, like pydantic's `SecretStr.get_secret_value()`: the same as `reveal()`."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return format(REDACTED, spec)

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        # Constant-time, so comparing to a guess does not leak the value through timing.
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self):
        raise TypeError(
            "Secret values cannot be pickled: return or store something derived from them, not the secret"
        )

    def __copy__(self) -> "Secret":
        return self

    def __deepcopy__(self, memo) -> "Secret":
        return self
