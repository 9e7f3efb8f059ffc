"""Secret never prints its value, whatever formatting path a log line takes, and cannot be pickled."""

import copy
import logging
import pickle

import pytest

from vault_dagster import REDACTED, Secret


def test_every_way_of_printing_redacts():
    s = Secret("hunter2-value")
    assert str(s) == REDACTED
    assert repr(s) == REDACTED
    assert f"{s}" == REDACTED
    assert f"{s!r}" == REDACTED
    assert f"{s:>12}" == f"{REDACTED:>12}"
    assert "%s %r" % (s, s) == f"{REDACTED} {REDACTED}"
    assert "{}".format(s) == REDACTED
    assert repr({"password": s}) == "{'password': [redacted]}"
    assert repr([s]) == "[[redacted]]"
    assert s.reveal() == "hunter2-value"
    assert s.get_secret_value() == "hunter2-value", "pydantic's SecretStr name works too"
    assert len(s) == 13 and bool(s) and not Secret("")


def test_logging_redacts(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("value is %s", Secret("hunter2-value"))
    assert "hunter2" not in caplog.text
    assert REDACTED in caplog.text


def test_cannot_be_pickled_or_built_from_non_strings():
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret("x"))
    with pytest.raises(TypeError):
        Secret(42)  # type: ignore[arg-type]
    s = Secret("x")
    assert copy.deepcopy(s) is s
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
