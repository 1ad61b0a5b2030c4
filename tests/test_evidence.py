"""Verdicts: the same statistics as scipy's t-tests, decided by a margin in standard errors."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lrcourse.evidence import OUTCOMES, Verdict, compare_arms

values = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy on nearly identical data
@settings(max_examples=200)
@given(values, st.data())
def test_paired_matches_scipy_ttest_rel(a, data):
    b = data.draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=len(a), max_size=len(a)))
    v = compare_arms(a, b, paired=True)
    d = np.subtract(a, b)
    assert v.n == len(a) and v.paired
    assert math.isclose(v.diff, d.mean(), rel_tol=1e-12, abs_tol=1e-15)
    if d.std(ddof=1) > 1e-9:
        res = stats.ttest_rel(a, b)
        assert math.isclose(v.z, res.statistic, rel_tol=1e-7)
        lo, hi = res.confidence_interval(0.95)
        assert math.isclose(v.ci[0], lo, rel_tol=1e-7, abs_tol=1e-12)
        assert math.isclose(v.ci[1], hi, rel_tol=1e-7, abs_tol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=200)
@given(values, values)
def test_unpaired_matches_scipy_welch(a, b):
    v = compare_arms(a, b, paired=False)
    assert not v.paired and v.n == min(len(a), len(b))
    if np.var(a, ddof=1) + np.var(b, ddof=1) > 1e-9:
        res = stats.ttest_ind(a, b, equal_var=False)
        assert math.isclose(v.z, res.statistic, rel_tol=1e-7)
        lo, hi = res.confidence_interval(0.95)
        assert math.isclose(v.ci[0], lo, rel_tol=1e-6, abs_tol=1e-12)
        assert math.isclose(v.ci[1], hi, rel_tol=1e-6, abs_tol=1e-12)


@settings(max_examples=200)
@given(values, st.data(), st.floats(0.5, 6.0))
def test_outcome_follows_the_margin(a, data, margin):
    b = data.draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=len(a), max_size=len(a)))
    v = compare_arms(a, b, paired=True, margin=margin, tie_tol=0.05)
    assert v.outcome in OUTCOMES
    if v.z >= margin:
        assert v.outcome == "A better" and v.winner == "A"
    elif v.z <= -margin:
        assert v.outcome == "B better" and v.winner == "B"
    elif v.outcome == "tie":
        assert -0.05 < v.ci[0] <= v.ci[1] < 0.05
    else:
        assert v.outcome == "not established at this scale" and not v.established
    # swapping the arms mirrors the verdict
    w = compare_arms(b, a, paired=True, margin=margin, tie_tol=0.05)
    assert {"A better": "B better", "B better": "A better"}.get(v.outcome, v.outcome) == w.outcome


def test_landmarks_paired_by_seed_and_for_a_loss():
    a = {0: 0.70, 1: 0.71, 2: 0.72, 3: 0.70}
    b = {0: 0.65, 1: 0.66, 2: 0.66, 3: 0.65}
    v = compare_arms(a, b, names=("cosine", "constant"))
    assert v.paired and v.outcome == "A better" and v.winner == "cosine"
    assert "cosine better" in str(v) and "n = 4 paired seeds" in str(v)
    # the pairing is by seed, not by position
    shuffled = dict(reversed(list(b.items())))
    assert compare_arms(a, shuffled).diff == v.diff and compare_arms(a, shuffled).se == v.se
    # for a loss, lower is better
    loss = compare_arms([1.0, 1.1, 1.05], [1.5, 1.6, 1.52], paired=True, higher_is_better=False, metric="test_loss")
    assert loss.outcome == "A better" and loss.diff < 0 and loss.z > 0


def test_a_tie_needs_a_tolerance_and_a_narrow_interval():
    a = [0.700, 0.701, 0.699, 0.700, 0.702]
    b = [0.701, 0.700, 0.700, 0.699, 0.701]
    assert compare_arms(a, b, paired=True).outcome == "not established at this scale"
    v = compare_arms(a, b, paired=True, tie_tol=0.01)
    assert v.outcome == "tie" and v.text == "tie within ±0.01" and v.established
    # a wide interval is not a tie even if the mean difference is small
    assert compare_arms([0.6, 0.8, 0.7], [0.8, 0.6, 0.7], paired=True, tie_tol=0.01).outcome != "tie"


def test_identical_differences_have_zero_se():
    v = compare_arms([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], paired=True)  # exact differences of 0.5
    assert v.se == 0 and math.isinf(v.z) and v.outcome == "A better"
    assert compare_arms([0.7, 0.8], [0.7, 0.8], paired=True).outcome == "not established at this scale"
    assert isinstance(v, Verdict) and "inf" in str(v)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(a=[0.5], b=[0.4, 0.3]), ValueError, "at least 2"),
    (dict(a=[0.5, float("nan")], b=[0.4, 0.3]), ValueError, "finite"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3, 0.2], paired=True), ValueError, "one value per seed"),
    (dict(a={0: 0.5, 1: 0.6}, b={0: 0.4, 2: 0.3}, paired=True), ValueError, "same seeds"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], margin=0), ValueError, "margin"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], margin=True), ValueError, "margin"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], tie_tol=-1), ValueError, "tie_tol"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], names=("x",)), ValueError, "names"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], word=""), ValueError, "word"),
    (dict(a=[0.5, 0.6], b=[0.4, 0.3], word=None), ValueError, "word"),
])
def test_bad_input_names_the_parameter(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        compare_arms(**kwargs)


def test_print_verdicts_renders_a_markdown_table_in_a_notebook_and_prints_it_elsewhere(monkeypatch, capsys):
    """In a Jupyter kernel the table is displayed as Markdown (rendered, wrapping inside cells);
    in a terminal or a doctest the same text is printed."""
    import IPython.display

    from lrcourse import results

    v = compare_arms({0: 0.71, 1: 0.70, 2: 0.72}, {0: 0.66, 1: 0.66, 2: 0.67}, names=("cosine", "const"))
    assert results._in_notebook() is False  # pytest is not a Jupyter kernel
    results.print_verdicts([("decay beats constant", v)])
    printed = capsys.readouterr().out
    assert printed.startswith("| claim") and "cosine better" in printed
    shown = []
    monkeypatch.setattr(results, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append((obj, raw)))
    results.print_verdicts([("decay beats constant", v)])
    assert capsys.readouterr().out == ""
    assert shown == [({"text/markdown": printed.rstrip("\n"), "text/plain": printed.rstrip("\n")}, True)]


def test_word_says_how_the_winner_is_named_and_changes_nothing_else():
    """A size that is neither good nor bad reads "A larger"; the outcome code and the numbers stay."""
    a, b = {0: 3.1, 1: 2.9, 2: 3.4}, {0: 1.0, 1: 1.1, 2: 0.9}
    plain, sized = compare_arms(a, b, names=("burst", "healthy")), compare_arms(a, b, names=("burst", "healthy"),
                                                                                 word="larger")
    assert (plain.text, sized.text) == ("burst better", "burst larger")
    assert sized.outcome == plain.outcome == "A better" and sized.z == plain.z and sized.winner == "burst"
    assert str(sized) == str(plain).replace("→ burst better", "→ burst larger")
