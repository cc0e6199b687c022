"""``HotCall``, the entry fast path of every call (``numbavmap.hot_call``).

The C type and its Python twin must route each call the same way: plain
arrays in the entry's form to the entry, everything else (and whatever the
entry declines) to ``_call_by_plan``. Both run here on a stand-in entry that
records its calls, so the Python one stays tested where the C one is built.
"""

import gc
import shutil
import sysconfig
import weakref

import numpy as np
import pytest

from numbavmap import hot_call

IMPLEMENTATIONS = [hot_call.PythonHotCall] + ([hot_call.HotCall] if hot_call.COMPILED else [])


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda cls: cls.__module__)
def make(request):
    """A ``HotCall`` subclass instance whose plan path records its calls."""

    class Recorded(request.param):
        def __init__(self, entry=None):
            self.plan_calls = []
            self._entry = entry

        def _call_by_plan(self, *args, **kwargs):
            self.plan_calls.append((args, kwargs))
            return "plan"

    return Recorded


class Entry:
    """A stand-in compiled entry: answers with ``answer`` (or raises it)."""

    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def __call__(self, *args):
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Tagged(np.ndarray):
    """An ndarray subclass of the user's."""


X = np.zeros((4, 3))


def test_without_an_entry_every_call_takes_the_plan_path(make):
    f = make()
    assert f._entry is None and f._entry_hits == 0
    assert f(X, X, scale=2) == "plan"
    assert f(*[X] * 9) == "plan"  # more arguments than C passes on its stack
    assert f(X) == "plan"
    assert f.plan_calls == [((X, X), {"scale": 2}), ((X,) * 9, {}), ((X,), {})]


def test_plain_positional_arrays_get_the_entry_s_answer_and_count_a_hit(make):
    answer = np.ones(4)
    entry = Entry(answer)
    f = make(entry)
    assert f(X, X) is answer
    assert f() is answer  # no arguments: nothing that is not an array
    assert entry.calls == 2 and f._entry_hits == 2 and f.plan_calls == []


def test_keywords_subclasses_and_other_values_never_reach_the_entry(make):
    entry = Entry(np.ones(4))
    f = make(entry)
    calls = [((X,), {"v": X}), ((np.ma.masked_array(X),), {}), ((X.view(Tagged),), {}),
             ((X, 2.0), {}), (([1.0, 2.0],), {}), ((X, np.float64(1.0)), {})]
    for args, kwargs in calls:
        assert f(*args, **kwargs) == "plan"
    assert entry.calls == 0 and f._entry_hits == 0
    assert [call[0] for call in f.plan_calls] == [args for args, _ in calls]
    assert f._entry is entry


def test_an_entry_for_keyword_and_container_calls_takes_exactly_its_form(make):
    answer = np.ones(4)
    entry = Entry(answer)
    f = make(entry)
    f._entry_form = hot_call.call_form((X, (X, X), [X]), {"w": X, "b": X})
    assert f._entry_form == ((0, 2, -1), ("w", "b"), 6)
    assert f(X, (X, X), [X], w=X, b=X) is answer and entry.calls == 1
    others = [((X, (X, X), [X]), {"b": X, "w": X}), ((X, (X, X), [X]), {"w": X}),
              ((X, (X, X), [X], X), {"w": X, "b": X}), ((X, [X, X], [X]), {"w": X, "b": X}),
              ((X, (X, X), (X,)), {"w": X, "b": X}), ((X, (X,), [X]), {"w": X, "b": X}),
              ((X, (X, X, X), [X]), {"w": X, "b": X}), ((X, (X, 1.0), [X]), {"w": X, "b": X}),
              ((X, (X, X), [X]), {"w": X, "b": X, "c": X}), ((X, (X, X), [X]), {}),
              ((X, (X, X), [X]), {"w": X, "b": 1.0}), ((X, (X, X), [[X]]), {"w": X, "b": X}),
              ((X.view(Tagged), (X, X), [X]), {"w": X, "b": X}), ((X,), {"w": X, "b": X})]
    for args, kwargs in others:
        assert f(*args, **kwargs) == "plan"
    assert entry.calls == 1 and f._entry_hits == 1
    assert f.plan_calls == others
    f._entry_form = hot_call.call_form(((X, X),), {})
    assert f((X, X)) is answer and f([X, X]) == "plan" and entry.calls == 2


def test_call_forms():
    assert hot_call.call_form((X, X), {}) is None
    assert hot_call.call_form((), {}) is None
    assert hot_call.call_form((X,), {"w": X}) == ((0,), ("w",), 2)
    assert hot_call.call_form(([X, X, X], (X,)), {}) == ((-3, 1), (), 4)
    for args, kwargs in [((X, 1.0), {}), (((X, (X,)),), {}), ((X,), {"w": (X,)}),
                         ((X.view(Tagged),), {}), (((),), {}), (([],), {})]:
        assert hot_call.call_form(args, kwargs) is False


def test_a_declined_call_takes_the_plan_path_and_keeps_the_entry(make):
    entry = Entry(None)
    f = make(entry)
    assert f(X) == "plan"
    assert entry.calls == 1 and f._entry is entry and f._entry_hits == 0


def test_a_type_error_retires_the_entry_and_other_errors_propagate(make):
    f = make(Entry(ValueError("from the kernel")))
    with pytest.raises(ValueError, match="from the kernel"):
        f(X)
    assert f._entry is not None and f.plan_calls == []
    f._entry = Entry(TypeError("no matching definition"))
    assert f(X) == "plan"
    assert f._entry is None and f.plan_calls == [((X,), {})]


def test_an_entry_that_refers_back_to_its_owner_is_collected(make):
    f = make()
    f._entry = Entry(f)  # a cycle through the entry
    owner = weakref.ref(f)
    del f
    gc.collect()
    assert owner() is None


def test_the_c_type_is_built_where_a_c_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "").split()
    if not compiler or shutil.which(compiler[0]) is None:
        pytest.skip("no C compiler here: the install uses PythonHotCall")
    assert hot_call.COMPILED, "a C compiler is here but numbavmap._hot_call was not built"
