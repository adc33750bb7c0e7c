"""Model cards and weights: JSON round trip, SHA-256 identity, state dict and TorchScript
loading, and clear refusals of corrupt weights, mismatched cards and label schemes."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import pytest
import torch

from inference.engine.card import (
    ModelCard,
    ModelCardError,
    WeightsError,
    check_card_labels,
    load_model,
    save_model,
    weights_sha256,
)
from inference.engine.networks import build_network

JIC = ("A", "B", "C1", "C2")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")


def make_card(**changes) -> ModelCard:
    fields = dict(
        architecture="tiny", input_size=32, num_classes=4, labels=JIC,
        preprocessing="robust [0, 1], pad to square, resize to 32",
        training_data={"cases": 200, "sites": ["S1", "S2"], "partitions": ["train"]},
        metrics={"accuracy": 0.75, "macro_auc": 0.9, "per_class_auc": {"A": None}},
        synthetic=True,
    )
    fields.update(changes)
    return ModelCard(**fields)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_network("tiny", num_classes=4).eval()


@pytest.fixture
def saved(tmp_path, model):
    return save_model(model, make_card(), tmp_path)


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_card_survives_a_json_round_trip():
    card = make_card()
    again = ModelCard.from_json(card.to_json())
    assert again == card
    assert isinstance(again.labels, tuple)
    assert json.loads(card.to_json())["labels"] == list(JIC)
    assert {"torch", "python"} <= set(card.framework)


def test_saving_fills_in_the_weights_sha256_and_names_files_after_it(saved):
    weights, card_path = saved
    card = ModelCard.read(card_path)
    assert card.weights_sha256 == sha256_of(weights) == weights_sha256(weights)
    assert weights.name == f"model-{card.weights_sha256[:12]}.pt"
    assert card_path.name == f"model-{card.weights_sha256[:12]}.json"


def test_the_same_weights_save_to_the_same_bytes(tmp_path, model, saved):
    again, _ = save_model(model, make_card(), tmp_path / "again")
    assert sha256_of(again) == sha256_of(saved[0])


def test_a_loaded_state_dict_predicts_like_the_original(model, saved):
    weights, card_path = saved
    loaded = load_model(weights, ModelCard.read(card_path))
    x = torch.rand(3, 1, 32, 32)
    assert not loaded.training
    assert torch.equal(loaded(x), model(x))


def test_an_external_torchscript_model_is_imported(tmp_path, model):
    path = tmp_path / "external.pt"
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 1, 32, 32)), str(path))
    card = make_card(architecture="their ResNet (TorchScript)", format="torchscript",
                     weights_sha256=sha256_of(path))
    loaded = load_model(path, card)
    x = torch.rand(2, 1, 32, 32)
    assert torch.allclose(loaded(x), model(x), atol=1e-6)


def test_torchscript_can_be_saved_from_a_registered_network(tmp_path, model):
    weights, card_path = save_model(model, make_card(format="torchscript"), tmp_path)
    loaded = load_model(weights, ModelCard.read(card_path))
    assert isinstance(loaded, torch.jit.ScriptModule)


def test_truncated_weights_are_refused_with_the_file_name(saved):
    weights, card_path = saved
    weights.write_bytes(weights.read_bytes()[:300])
    with pytest.raises(WeightsError, match=rf"cannot read weights file {weights}: \w+"):
        load_model(weights, ModelCard.read(card_path))


def test_garbage_weights_are_refused_for_either_format(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a model at all" * 10)
    for card in (make_card(), make_card(format="torchscript")):
        with pytest.raises(WeightsError, match=rf"cannot read weights file {path}: "):
            load_model(path, dataclasses.replace(card, weights_sha256=sha256_of(path)))


def test_a_missing_weights_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="cannot read weights file .*nothing.pt: no such file"):
        load_model(tmp_path / "nothing.pt", make_card())


def test_weights_that_differ_from_the_cards_checksum_are_refused(tmp_path, saved):
    weights, card_path = saved
    other, _ = save_model(build_network("tiny", num_classes=4), make_card(), tmp_path / "o")
    with pytest.raises(WeightsError, match=r"has SHA-256 [0-9a-f]{64}, but the model card says"):
        load_model(other, ModelCard.read(card_path))


def test_a_card_with_the_wrong_number_of_classes_is_refused(saved):
    weights, card_path = saved
    card = dataclasses.replace(ModelCard.read(card_path), num_classes=3, labels=("A", "B", "C"))
    with pytest.raises(WeightsError, match=r"does not fit the model card \(architecture 'tiny', "
                       r"num_classes 3.*classifier.weight: file \(4, 32\), network \(3, 32\)"):
        load_model(weights, card)


def test_a_card_with_the_wrong_architecture_is_refused(saved):
    weights, card_path = saved
    card = dataclasses.replace(ModelCard.read(card_path), architecture="densenet_small")
    with pytest.raises(WeightsError, match=r"architecture 'densenet_small'.*missing"):
        load_model(weights, card)


def test_a_torchscript_model_with_other_outputs_than_the_card_is_refused(tmp_path):
    path = tmp_path / "three.pt"
    torch.jit.save(torch.jit.script(build_network("tiny", num_classes=3).eval()), str(path))
    card = make_card(format="torchscript", weights_sha256=sha256_of(path))
    with pytest.raises(WeightsError, match=r"returns \(1, 3\) .* says num_classes 4"):
        load_model(path, card)


def test_a_torchscript_file_under_a_state_dict_card_is_refused(tmp_path, model):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(model), str(path))
    with pytest.raises(WeightsError, match="cannot read weights file .*format 'torchscript'"):
        load_model(path, make_card(weights_sha256=sha256_of(path)))


def test_a_card_without_checksum_cannot_load_unless_told_to_trust(saved):
    weights, card_path = saved
    card = dataclasses.replace(ModelCard.read(card_path), weights_sha256="")
    with pytest.raises(ModelCardError, match="weights_sha256 is empty"):
        load_model(weights, card)
    assert load_model(weights, card, verify_sha256=False) is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"labels": ("A", "B", "C1")}, r"labels has 3 classes \['A', 'B', 'C1'\] but "
                                       r"num_classes is 4"),
        ({"labels": ("A", "A", "C1", "C2")}, "labels has duplicates"),
        ({"architecture": "vgg99"}, "architecture 'vgg99' is not a known network"),
        ({"weights_sha256": "abc"}, "weights_sha256 must be 64 lower-case hexadecimal"),
        ({"format": "onnx"}, r"format must be one of \['state_dict', 'torchscript'\]"),
        ({"input_size": 2}, "input_size must be an integer from 8 to 4096, got 2"),
        ({"created": "yesterday"}, "created must be an ISO 8601 date-time"),
        ({"metrics": {"auc": float("nan")}}, r"metrics.auc is nan; use null"),
        ({"preprocessing": ""}, "preprocessing must describe"),
        ({"synthetic": "yes"}, "synthetic must be true or false"),
    ],
)
def test_a_malformed_card_is_refused_with_the_field_named(changes, message):
    with pytest.raises(ModelCardError, match=message):
        make_card(**changes)


def test_card_json_with_unknown_or_missing_fields_is_refused():
    data = make_card().to_dict()
    with pytest.raises(ModelCardError, match=r"unknown field\(s\) \['colour'\]"):
        ModelCard.from_dict({**data, "colour": "red"})
    del data["labels"]
    with pytest.raises(ModelCardError, match=r"missing required field\(s\) \['labels'\]"):
        ModelCard.from_dict(data)
    with pytest.raises(ModelCardError, match="not valid JSON"):
        ModelCard.from_json("{labels: A}")


def test_label_schemes_must_match_the_study_in_order():
    card = make_card()
    check_card_labels(card, ["A", "B", "C1", "C2"])
    with pytest.raises(ModelCardError, match=re.escape(
        "model card labels ['A', 'B', 'C1', 'C2'] do not match the study's ['A', 'B', 'C']"
    )):
        check_card_labels(card, ["A", "B", "C"])
    with pytest.raises(ModelCardError, match="same classes in a different order"):
        check_card_labels(card, ["C2", "C1", "B", "A"])
