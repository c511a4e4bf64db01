"""The stages that build big structures pause the cycle collector, and always restore it."""
import gc

import pytest

from gradcalc import collector
from gradcalc.errors import ParseError
from gradcalc.parse import parse


def test_the_collector_is_off_inside_and_back_on_after():
    seen = []
    collector.paused(lambda: seen.append(gc.isenabled()))()
    assert seen == [False] and gc.isenabled()


def test_it_is_back_on_after_an_error_too():
    with pytest.raises(ParseError):
        parse("x +")
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        parse("x + 1")
        assert not gc.isenabled()
    finally:
        gc.enable()
