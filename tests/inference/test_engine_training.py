"""Training on phantom slices: it learns the JIC class better than always answering the most
frequent class, is reproducible from its seed, and only takes train and validation cases.

The phantoms (a 192 x 192 matrix, 1.15 mm pixels) are cropped around the femoral head
(72 x 72 pixels, about 82 mm) so that a tiny network at 48 px can see the lesion's lateral extent
within a few seconds of CPU time. Torch runs on one thread here: the machine the tests run on is
shared, and oversubscribed threads make training several times slower.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from inference.engine import phantoms as ph
from inference.engine.card import ModelCard
from inference.engine.training import (
    EpochRecord,
    _class_weights,
    classification_metrics,
    evaluate,
    train_classifier,
)
from inference.engine.transforms import cached_array

JIC = list(ph.JIC_LABELS)
HALF = 36


def phantom_set(rng, signature, n):
    arrays, labels = [], []
    for _ in range(n):
        cls = int(rng.choice(4, p=ph.DEFAULT_CLASS_FREQUENCIES))
        side = "R" if rng.random() < 0.5 else "L"
        pixels, _, geometry = ph.generate_slice(rng, cls, signature, side=side)
        cx, cy = (int(round(v)) for v in geometry["head_center_px"])
        crop = pixels[cy - HALF:cy + HALF, cx - HALF:cx + HALF]
        arrays.append(cached_array(crop, slope=signature.rescale_slope,
                                   intercept=signature.rescale_intercept))
        labels.append(cls)
    return arrays, np.array(labels)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def phantoms():
    site = ph.make_site_signatures(np.random.default_rng(5), 1, external_sites=0)[0]
    site = dataclasses.replace(site, matrix=192, pixel_spacing=220 / 192)  # small: fast to draw
    rng = np.random.default_rng(0)
    return {
        "train": phantom_set(rng, site, 200),
        "validation": phantom_set(rng, site, 50),
        "test": phantom_set(rng, site, 100),
    }


@pytest.fixture(scope="module")
def trained(phantoms):
    records = []
    result = train_classifier(
        train=phantoms["train"], validation=phantoms["validation"], num_classes=4,
        architecture="tiny", input_size=48, epochs=8, batch_size=16, lr=3e-3, seed=0,
        patience=None, augment=False, device="cpu", progress=records.append,
    )
    return result, records


def test_training_beats_the_majority_class_on_held_out_phantoms(phantoms, trained):
    result, _ = trained
    arrays, labels = phantoms["test"]
    codes = [JIC[i] for i in labels]
    metrics = evaluate(result.model, arrays, codes, JIC, input_size=48, device="cpu")
    majority = np.bincount(labels).max() / len(labels)
    assert metrics["n"] == 100
    assert metrics["accuracy"] > majority + 0.1
    assert metrics["macro_auc"] > 0.7  # chance is 0.5


def test_the_best_validation_epoch_is_the_one_kept(phantoms, trained):
    result, records = trained
    assert [r.epoch for r in records] == list(range(1, 9))
    assert all(isinstance(r, EpochRecord) for r in records)
    best = max(records, key=lambda r: (r.metrics["macro_f1"], -r.validation_loss))
    assert result.best_epoch == best.epoch
    assert result.validation == best.metrics
    again = evaluate(result.model, *phantoms["validation"], [0, 1, 2, 3], input_size=48,
                     device="cpu")
    assert again["macro_f1"] == pytest.approx(best.metrics["macro_f1"])
    assert not result.model.training


def test_the_result_makes_a_valid_model_card(phantoms, trained):
    result, _ = trained
    card = result.model_card(labels=JIC, training_data={"sites": ["S1"]}, synthetic=True)
    again = ModelCard.from_json(card.to_json())
    assert again.labels == tuple(JIC) and again.architecture == "tiny"
    assert again.input_size == 48 and again.synthetic
    assert set(again.metrics["validation"]["per_class"]) == set(JIC)
    assert again.training_data["train_cases"] == 200 and again.training_data["sites"] == ["S1"]
    counts = np.bincount(phantoms["train"][1], minlength=4)
    assert again.training_data["train_class_counts"] == dict(zip(JIC, counts.tolist(), strict=True))


def small_run(phantoms, seed):
    arrays, labels = phantoms["train"]
    return train_classifier(
        train=(arrays[:64], labels[:64]), validation=phantoms["validation"], num_classes=4,
        architecture="tiny", input_size=32, epochs=2, batch_size=16, seed=seed, patience=None,
        augment=True, device="cpu",
    )


def test_the_same_seed_gives_the_same_model(phantoms):
    torch.manual_seed(123)
    before = torch.rand(1)
    a, b, c = small_run(phantoms, 7), small_run(phantoms, 7), small_run(phantoms, 8)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key]), key
    assert a.history[0].train_loss != c.history[0].train_loss
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), before)  # the caller's RNG state is left alone
    assert not torch.are_deterministic_algorithms_enabled()


def test_early_stopping_ends_patience_epochs_after_the_best(phantoms):
    arrays, labels = phantoms["train"]
    result = train_classifier(
        train=(arrays[:48], labels[:48]), validation=phantoms["validation"], num_classes=4,
        architecture="tiny", input_size=32, epochs=30, batch_size=16, lr=0.05, seed=1,
        patience=2, augment=False, device="cpu",
    )
    if result.stopped_early:
        assert len(result.history) == result.best_epoch + 2
    else:
        assert len(result.history) == 30


def test_it_sees_only_train_and_validation_cases(phantoms):
    with pytest.raises(TypeError, match="test"):
        train_classifier(train=phantoms["train"], validation=phantoms["validation"],
                         test=phantoms["test"], num_classes=4)
    with pytest.raises(TypeError):
        train_classifier(phantoms["train"], phantoms["validation"], num_classes=4)


def test_it_refuses_labels_outside_the_classes(phantoms):
    arrays, labels = phantoms["train"]
    with pytest.raises(ValueError, match=r"train: labels must be class indices 0..2"):
        train_classifier(train=(arrays, labels), validation=phantoms["validation"],
                         num_classes=3, architecture="tiny", input_size=32, epochs=1)
    with pytest.raises(ValueError, match=r"validation: 50 arrays but labels of shape \(3,\)"):
        train_classifier(train=(arrays, labels), validation=(phantoms["validation"][0],
                                                             [0, 1, 2]),
                         num_classes=4, architecture="tiny", input_size=32, epochs=1)
    with pytest.raises(ValueError, match="select_on: expected one of"):
        train_classifier(train=(arrays, labels), validation=phantoms["validation"],
                         num_classes=4, select_on="loss")


def test_inverse_frequency_weights_balance_the_classes():
    # Counts 6, 3, 1, 0 of N = 10 over K = 4 classes: w = N / (K n) = 10/24, 10/12, 10/4, 0.
    y = torch.tensor([0] * 6 + [1] * 3 + [2])
    expected = torch.tensor([10 / 24, 10 / 12, 10 / 4, 0.0])
    assert torch.allclose(_class_weights(y, 4, "inverse_frequency"), expected)
    assert torch.equal(_class_weights(y, 4, "none"), torch.ones(4))


def test_metrics_match_a_hand_count():
    # Truth A A B B C; predicted (argmax) A B B B A: 3 of 5 correct; per-class F1 A 1/2,
    # B 4/5, C 0 -> macro F1 13/30. AUC of C: its score 0.2 vs others all < 0.2 -> 1.
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1],
                      [0.1, 0.8, 0.1], [0.5, 0.3, 0.2]])
    m = classification_metrics(["A", "A", "B", "B", "C"], probs, ["A", "B", "C"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["macro_f1"] == pytest.approx(13 / 30)
    assert m["per_class"]["C"]["auc"] == pytest.approx(1.0)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
