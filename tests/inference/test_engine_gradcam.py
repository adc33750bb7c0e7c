"""Grad-CAM heat maps (shape, range, that they follow the evidence) and the localisation
metrics against lesion masks, with expected values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from inference.engine.gradcam import (
    grad_cam,
    heat_inside,
    heat_to_native,
    localisation_metrics,
    pointing_game,
)
from inference.engine.networks import build_network, gradcam_layer


class BrightnessNet(nn.Module):
    """Class 0 = "bright": a 5 x 5 box filter, ReLU, global mean, logits (+m, -m). Its Grad-CAM
    for class 0 is the filtered image itself, so the map must peak on the brightest spot."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 5, padding=2, bias=False)
        self.act = nn.ReLU()
        self.head = nn.Linear(1, 2, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1 / 25)
            self.head.weight.copy_(torch.tensor([[1.0], [-1.0]]))

    def forward(self, x):
        return self.head(self.act(self.conv(x)).mean(dim=(2, 3)))


def bright_spot(row: int, col: int, size: int = 48) -> torch.Tensor:
    x = torch.full((1, 1, size, size), 0.1)
    x[..., row - 2:row + 3, col - 2:col + 3] = 1.0
    return x


def test_the_map_peaks_on_the_bright_object_and_moves_with_it():
    net = BrightnessNet()
    for row, col in ((10, 12), (36, 30)):
        heat, classes = grad_cam(net, bright_spot(row, col), layer="act", device="cpu")
        assert classes.tolist() == [0]
        peak = np.unravel_index(heat[0].argmax(), heat[0].shape)
        assert peak == (row, col)


def test_maps_are_in_unit_range_at_input_resolution():
    torch.manual_seed(0)
    model = build_network("tiny", num_classes=3)
    heat, classes = grad_cam(model, torch.rand(5, 1, 40, 40), layer=gradcam_layer("tiny"),
                             device="cpu")
    assert heat.shape == (5, 40, 40) and heat.dtype == np.float32
    assert heat.min() >= 0.0
    np.testing.assert_allclose(heat.reshape(5, -1).max(axis=1), 1.0, rtol=1e-6)
    assert classes.shape == (5,) and set(classes) <= {0, 1, 2}


def test_a_class_without_evidence_gives_an_all_zero_map():
    heat, _ = grad_cam(BrightnessNet(), bright_spot(20, 20), layer="act", class_index=1,
                       device="cpu")
    assert np.all(heat == 0)


def test_each_case_of_a_batch_is_explained_by_its_own_class():
    # A vector of classes must not mix the cases of a batch (MONAI's own class score would
    # take logits[:, classes], an N x N block): batched maps equal one-at-a-time maps.
    torch.manual_seed(3)
    model = build_network("tiny", num_classes=3)
    x = torch.rand(6, 1, 32, 32)
    wanted = np.array([0, 1, 2, 2, 1, 0])
    layer = gradcam_layer("tiny")
    heat, classes = grad_cam(model, x, layer=layer, class_index=wanted, device="cpu")
    assert classes.tolist() == wanted.tolist()
    for i in range(6):
        alone, _ = grad_cam(model, x[i:i + 1], layer=layer, class_index=int(wanted[i]),
                            device="cpu")
        np.testing.assert_allclose(alone[0], heat[i], atol=1e-5)
    predicted, _ = grad_cam(model, x, layer=layer, device="cpu")
    assert not np.allclose(predicted, heat)  # some cases explain another class by default


def test_the_callers_model_is_left_untouched():
    model = build_network("tiny", num_classes=2).train()
    grad_cam(model, torch.rand(2, 1, 32, 32), layer="features.relu3", device="cpu")
    assert model.training
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_it_refuses_an_unknown_layer_and_torchscript():
    model = build_network("tiny", num_classes=2)
    with pytest.raises(ValueError, match="layer: 'nope' is not a module of the model"):
        grad_cam(model, torch.rand(1, 1, 32, 32), layer="nope", device="cpu")
    scripted = torch.jit.script(model.eval())
    with pytest.raises(TypeError, match="TorchScript model lacks"):
        grad_cam(scripted, torch.rand(1, 1, 32, 32), layer="features", device="cpu")


def test_masks_are_padded_and_resized_like_the_image():
    # Native image 64 rows x 32 columns -> padded to 64 x 64 (16 columns each side) -> heat grid
    # 32 x 32: native rows 0-7, columns 0-3 land on grid rows 0-3, columns 8-9.
    mask = np.zeros((64, 32), bool)
    mask[0:8, 0:4] = True
    heat = np.zeros((1, 32, 32), np.float32)
    heat[0, 1, 8] = 1.0
    assert pointing_game(heat, [mask]).tolist() == [1.0]
    heat[0, 1, 8], heat[0, 1, 7] = 0.0, 1.0
    assert pointing_game(heat, [mask]).tolist() == [0.0]


def test_heat_share_inside_the_lesion():
    mask = np.zeros((16, 16), bool)
    mask[4:8, 4:8] = True
    heat = np.zeros((1, 16, 16), np.float32)
    heat[0, 5, 5] = 1.0  # inside
    heat[0, 6, 6] = 0.5  # inside
    heat[0, 12, 12] = 0.5  # outside
    assert heat_inside(heat, [mask])[0] == pytest.approx(1.5 / 2.0)


def test_cases_without_a_lesion_are_left_out_of_the_summary():
    lesion = np.zeros((16, 16), bool)
    lesion[0:4, 0:4] = True
    heat = np.zeros((3, 16, 16), np.float32)
    heat[0, 1, 1] = 1.0  # hit, all heat inside
    heat[1, 10, 10] = 1.0  # miss, no heat inside
    heat[2, 1, 1] = 1.0  # no lesion
    result = localisation_metrics(heat, [lesion, lesion, np.zeros((16, 16), bool)])
    assert result.n == 2
    assert result.pointing_game == pytest.approx(0.5)
    assert result.mean_heat_inside == pytest.approx(0.5)
    assert np.isnan(result.hits[2]) and np.isnan(result.heat_inside[2])
    assert result.to_dict() == {"pointing_game": 0.5, "mean_heat_inside": 0.5, "n": 2}


def test_it_refuses_a_mask_count_that_differs_from_the_maps():
    with pytest.raises(ValueError, match="masks: got 1 masks for 2 heat maps"):
        pointing_game(np.zeros((2, 8, 8)), [np.zeros((8, 8), bool)])


def test_a_heat_map_goes_back_onto_the_native_image():
    # Native 64 x 32 padded to 64 x 64 and shown at 32 x 32: a hot block at grid rows 0-3,
    # columns 8-9 is native rows 0-7, columns 0-3 (see the mask test above).
    heat = np.zeros((32, 32), np.float32)
    heat[0:4, 8:10] = 1.0
    native = heat_to_native(heat, (64, 32))
    assert native.shape == (64, 32)
    assert np.all(native[0:7, 1:3] == 1.0)
    # Native column 0 is padded column 16, grid coordinate (16 + 0.5) / 2 - 0.5 = 7.75:
    # bilinear weight 0.75 on the hot column 8 and 0.25 on the cold column 7.
    np.testing.assert_allclose(native[0:7, 0], 0.75)
    assert np.all(native[10:] == 0) and np.all(native[:, 5:] == 0)
