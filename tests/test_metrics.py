"""Metrics on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from serkit.eval.metrics import (
    ccc_per_dimension,
    classification_scores,
    concordance_cc,
    confusion,
    macro_f1,
    unweighted_accuracy,
    weighted_accuracy,
)

# 10 utterances, 3 imbalanced classes (6/2/2); see the comments for the hand computation.
TRUE = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
PRED = [0, 0, 0, 0, 1, 2, 1, 0, 2, 2]


def test_ua_differs_from_wa_on_imbalanced_labels():
    # majority-class predictor: WA = 4/5, UA = (1 + 0) / 2
    t, p = ["a", "a", "a", "a", "b"], ["a"] * 5
    assert weighted_accuracy(t, p) == pytest.approx(0.8)
    assert unweighted_accuracy(t, p) == pytest.approx(0.5)
    # F1: a: P = 4/5, R = 1 -> 8/9; b: 0 -> macro 4/9
    assert macro_f1(t, p) == pytest.approx(4 / 9)


def test_three_class_case():
    assert weighted_accuracy(TRUE, PRED) == pytest.approx(0.7)  # 7 of 10
    # recalls 4/6, 1/2, 2/2
    assert unweighted_accuracy(TRUE, PRED) == pytest.approx((4 / 6 + 1 / 2 + 1) / 3)
    # F1 per class: 2PR/(P+R): (4/5, 4/6) -> 8/11; (1/2, 1/2) -> 1/2; (2/3, 1) -> 4/5
    assert macro_f1(TRUE, PRED) == pytest.approx((8 / 11 + 1 / 2 + 4 / 5) / 3)
    s = classification_scores(TRUE, PRED)
    assert set(s) == {"ua", "wa", "f1"} and s["wa"] == pytest.approx(0.7)


def test_confusion_rows_true_columns_predicted():
    m = confusion(TRUE, PRED, labels=[0, 1, 2])
    np.testing.assert_array_equal(m, [[4, 1, 1], [1, 1, 0], [0, 0, 2]])
    m2 = confusion(TRUE, PRED, labels=[2, 1, 0])  # label order is respected
    assert m2[0, 0] == 2 and m2[2, 2] == 4


def test_ua_ignores_classes_absent_from_truth():
    # 'c' is predicted but never true: UA averages over a and b only
    assert unweighted_accuracy(["a", "b"], ["a", "c"], labels=["a", "b", "c"]) == pytest.approx(0.5)


def test_ccc_hand_cases():
    x = np.array([-1.0, 0.0, 1.0, 2.0, -2.0])
    assert concordance_cc(x, x) == pytest.approx(1.0)
    assert concordance_cc(x, -x) == pytest.approx(-1.0)
    y = np.array([1.0, 2.0, 3.0])
    # population moments: var = 2/3; CCC(y, -y) = (-4/3) / (4/3 + (2 - -2)^2) = -1/13
    assert concordance_cc(y, -y) == pytest.approx(-1 / 13)
    # a shift costs agreement but not correlation: (4/3) / (4/3 + 1) = 4/7
    assert concordance_cc(y, y + 1) == pytest.approx(4 / 7)
    # a scale too: 2 cov = 8/3, var sum 10/3, mean gap 4 -> 4/11
    assert concordance_cc(y, 2 * y) == pytest.approx(4 / 11)
    assert concordance_cc([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert concordance_cc([1.0, 1.0], [2.0, 2.0]) == 0.0
    with pytest.raises(ValueError, match="equal length"):
        concordance_cc([1.0, 2.0], [1.0])


def test_ccc_per_dimension():
    t = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    p = np.stack([t[:, 0], -t[:, 1], t[:, 2] + 1], axis=1)
    c = ccc_per_dimension(t, p)
    assert list(c) == ["arousal", "valence", "dominance"]
    assert c["arousal"] == pytest.approx(1.0)
    assert c["valence"] == pytest.approx(-1 / 13)
    assert c["dominance"] == pytest.approx(4 / 7)
