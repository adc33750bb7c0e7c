"""The network registry: every entry builds, returns logits, has its Grad-CAM layer, and the
default is small enough to ship (weights <= 30 MB)."""

from __future__ import annotations

import pytest
import torch

from inference.engine.networks import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    build_network,
    gradcam_layer,
    network_spec,
)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_returns_one_logit_per_class(architecture):
    torch.manual_seed(0)
    model = build_network(architecture, num_classes=3).eval()
    with torch.inference_mode():
        out = model(torch.rand(2, 1, 64, 64))
    assert tuple(out.shape) == (2, 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_names_a_gradcam_layer_it_has(architecture):
    model = build_network(architecture, num_classes=4)
    assert gradcam_layer(architecture) in dict(model.named_modules())


def test_the_default_network_is_small_enough_to_ship():
    model = build_network(num_classes=4)
    size_mb = sum(p.numel() * p.element_size() for p in model.state_dict().values()) / 1e6
    assert network_spec(DEFAULT_ARCHITECTURE).name == DEFAULT_ARCHITECTURE
    assert size_mb <= 30


def test_in_channels_is_honoured():
    model = build_network("tiny", num_classes=2, in_channels=3).eval()
    assert tuple(model(torch.zeros(1, 3, 16, 16)).shape) == (1, 2)


def test_it_refuses_an_unknown_architecture_and_names_the_known_ones():
    with pytest.raises(ValueError, match=r"architecture: unknown 'vgg99'; expected one of .*tiny"):
        build_network("vgg99", num_classes=4)


def test_it_refuses_fewer_than_two_classes():
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 2, got 1"):
        build_network("tiny", num_classes=1)
