"""Batched prediction: probabilities are the model's softmax, rows sum to 1, and neither the
batch size nor the way inputs are handed over changes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.engine.networks import build_network
from inference.engine.predictor import Predictor, resolve_device


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = build_network("tiny", num_classes=4)
    # Non-trivial BatchNorm statistics, so that eval() vs train() mode would show.
    m.train()
    with torch.no_grad():
        m(torch.rand(16, 1, 32, 32) * 3)
    return m.eval()


@pytest.fixture
def inputs():
    return np.random.default_rng(1).random((10, 1, 32, 32), dtype=np.float32)


def test_probabilities_are_the_models_softmax(model, inputs):
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(inputs)), dim=1).numpy()
    probs = Predictor(model, device="cpu").predict(inputs)
    assert probs.dtype == np.float32 and probs.shape == (10, 4)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)


def test_it_predicts_in_eval_mode_even_from_a_model_in_training_mode(model, inputs):
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(inputs)), dim=1).numpy()
    model.train()
    np.testing.assert_allclose(Predictor(model, device="cpu").predict(inputs), expected,
                               atol=1e-6)
    assert not model.training


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_batch_size_does_not_change_the_probabilities(model, inputs, batch_size):
    reference = Predictor(model, device="cpu", batch_size=10).predict(inputs)
    probs = Predictor(model, device="cpu", batch_size=batch_size).predict(inputs)
    np.testing.assert_allclose(probs, reference, atol=1e-6)


def test_cases_can_come_as_a_list_a_generator_or_without_channel_axis(model, inputs):
    p = Predictor(model, device="cpu", batch_size=4)
    reference = p.predict(inputs)
    np.testing.assert_allclose(p.predict(list(inputs)), reference, atol=1e-6)
    np.testing.assert_allclose(p.predict(x[0] for x in inputs), reference, atol=1e-6)
    np.testing.assert_allclose(p.predict(inputs[:, 0]), reference, atol=1e-6)
    np.testing.assert_allclose(p.predict(torch.from_numpy(inputs).half()), reference, atol=2e-3)


def test_ready_batches_are_predicted_one_by_one(model, inputs):
    p = Predictor(model, device="cpu")
    parts = list(p.predict_batches([inputs[:3], inputs[3:]]))
    assert [part.shape for part in parts] == [(3, 4), (7, 4)]
    np.testing.assert_allclose(np.concatenate(parts), p.predict(inputs), atol=1e-6)


def test_bf16_autocast_stays_close_to_float32(model, inputs):
    exact = Predictor(model, device="cpu").predict(inputs)
    bf16 = Predictor(model, device="cpu", amp=True).predict(inputs)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(bf16.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(bf16, exact, atol=0.05)


def test_channels_last_gives_the_same_probabilities(model, inputs):
    exact = Predictor(model, device="cpu").predict(inputs)
    np.testing.assert_allclose(
        Predictor(model, device="cpu", channels_last=True).predict(inputs), exact, atol=1e-5
    )


def test_defaults_follow_the_device():
    p = Predictor(build_network("tiny", num_classes=2), device="cpu")
    assert p.device.type == "cpu" and not p.amp and not p.channels_last
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only host")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ValueError, match="device: 'cuda' was asked for, but CUDA is not"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_probabilities_match_the_cpu(model, inputs):
    cpu = Predictor(model, device="cpu").predict(inputs)
    gpu = Predictor(build_network("tiny", num_classes=4), device="cuda")
    gpu.module.load_state_dict(model.state_dict())
    np.testing.assert_allclose(gpu.predict(inputs), cpu, atol=0.05)


def test_it_refuses_malformed_inputs(model, inputs):
    p = Predictor(model, device="cpu")
    with pytest.raises(ValueError, match=r"inputs: expected a batch \(N, C, S, S\)"):
        p.predict(inputs[0, 0, 0])
    with pytest.raises(ValueError, match=r"inputs\[1\]: shape \(1, 16, 16\) differs"):
        p.predict([inputs[0], inputs[1, :, :16, :16]])
    with pytest.raises(ValueError, match="inputs: no cases to predict"):
        p.predict([])
    with pytest.raises(TypeError, match="inputs: expected an array"):
        p.predict(42)
    with pytest.raises(ValueError, match="batch_size: expected a positive integer"):
        Predictor(model, batch_size=0)
