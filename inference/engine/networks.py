"""Classification networks by name: a registry of explicit factories (no Django).

Each entry builds a 2-D classifier from ``num_classes`` and ``in_channels`` and knows the name of
the layer whose activations Grad-CAM weighs (the last convolutional stage, as in Selvaraju et al.
2017). A model card stores the registry name, so a state dict can be rebuilt into the same
network later.

=================  =======================================================  ========  ===========
name               network                                                  weights   Grad-CAM at
=================  =======================================================  ========  ===========
``resnet10``       MONAI ``ResNet``, basic blocks (1, 1, 1, 1), widths      1.2 MB    1/16 input
                   16-128, stride-1 7×7 stem + max-pool (the default)
``resnet10_wide``  the same with widths 32-256                              4.9 MB    1/16 input
``densenet_small`` MONAI ``DenseNet``, blocks (4, 8, 12, 8), growth 16      2.7 MB    1/32 input
``tiny``           three 3×3 conv/BN/ReLU stages, for tests                 0.03 MB   1/4 input
=================  =======================================================  ========  ===========

References
----------
He K, Zhang X, Ren S, Sun J (2016). Deep residual learning for image recognition. CVPR 770-778.
Huang G, Liu Z, van der Maaten L, Weinberger KQ (2017). Densely connected convolutional
networks. CVPR 4700-4708.
Selvaraju RR et al. (2017). Grad-CAM: visual explanations from deep networks via gradient-based
localization. ICCV 618-626.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_ARCHITECTURE",
    "NetworkSpec",
    "TinyCNN",
    "build_network",
    "gradcam_layer",
    "network_spec",
]

DEFAULT_ARCHITECTURE = "resnet10"


@dataclass(frozen=True)
class NetworkSpec:
    """A registered architecture: its factory, Grad-CAM target layer and a one-line summary."""

    name: str
    factory: Callable[..., nn.Module]
    gradcam_layer: str
    description: str


class TinyCNN(nn.Module):
    """Three 3×3 conv/BN/ReLU stages (8, 16, 32 channels; the first two max-pooled), global
    average pooling and a linear layer: a few thousand weights, for fast tests."""

    def __init__(self, *, num_classes: int, in_channels: int = 1, spatial_dims: int = 2) -> None:
        super().__init__()
        if spatial_dims != 2:
            raise ValueError(f"spatial_dims: TinyCNN is 2-D only, got {spatial_dims}")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = (in_channels, 8, 16, 32)
        for i in range(3):
            layers[f"conv{i + 1}"] = nn.Conv2d(channels[i], channels[i + 1], 3, padding=1,
                                               bias=False)
            layers[f"norm{i + 1}"] = nn.BatchNorm2d(channels[i + 1])
            layers[f"relu{i + 1}"] = nn.ReLU()
            if i < 2:
                layers[f"pool{i + 1}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


def _resnet(widths: tuple[int, ...]) -> Callable[..., nn.Module]:
    def factory(*, num_classes: int, in_channels: int, spatial_dims: int) -> nn.Module:
        from monai.networks.nets import ResNet

        return ResNet(
            block="basic",
            layers=(1, 1, 1, 1),
            block_inplanes=widths,
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            num_classes=num_classes,
        )

    return factory


def _densenet_small(*, num_classes: int, in_channels: int, spatial_dims: int) -> nn.Module:
    from monai.networks.nets import DenseNet

    return DenseNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=num_classes,
        init_features=32,
        growth_rate=16,
        block_config=(4, 8, 12, 8),
    )


def _tiny(*, num_classes: int, in_channels: int, spatial_dims: int) -> nn.Module:
    return TinyCNN(num_classes=num_classes, in_channels=in_channels, spatial_dims=spatial_dims)


_REGISTRY: dict[str, NetworkSpec] = {
    spec.name: spec
    for spec in (
        NetworkSpec("resnet10", _resnet((16, 32, 64, 128)), "layer4",
                    "MONAI ResNet, basic blocks (1,1,1,1), widths 16-128"),
        NetworkSpec("resnet10_wide", _resnet((32, 64, 128, 256)), "layer4",
                    "MONAI ResNet, basic blocks (1,1,1,1), widths 32-256"),
        NetworkSpec("densenet_small", _densenet_small, "class_layers.relu",
                    "MONAI DenseNet, blocks (4,8,12,8), growth rate 16, 32 initial features"),
        NetworkSpec("tiny", _tiny, "features.relu3", "three conv/BN/ReLU stages (tests)"),
    )
}

#: The registered architecture names.
ARCHITECTURES: tuple[str, ...] = tuple(_REGISTRY)


def network_spec(architecture: str) -> NetworkSpec:
    """The registry entry of ``architecture``; a clear error names the known ones."""
    try:
        return _REGISTRY[architecture]
    except (KeyError, TypeError):
        raise ValueError(
            f"architecture: unknown {architecture!r}; expected one of {list(ARCHITECTURES)}"
        ) from None


def gradcam_layer(architecture: str) -> str:
    """Name (as in ``model.named_modules()``) of the layer Grad-CAM uses for ``architecture``."""
    return network_spec(architecture).gradcam_layer


def build_network(
    architecture: str = DEFAULT_ARCHITECTURE,
    *,
    num_classes: int,
    in_channels: int = 1,
    spatial_dims: int = 2,
) -> nn.Module:
    """Build a freshly initialised classifier returning logits of shape (N, ``num_classes``).

    Parameters
    ----------
    architecture : str
        A registered name (:data:`ARCHITECTURES`); default :data:`DEFAULT_ARCHITECTURE`.
    num_classes : int, keyword-only
        Number of output classes (at least 2).
    in_channels : int, keyword-only
        Input channels (1 for a single MR slice).
    spatial_dims : int, keyword-only
        2 for slices (the MONAI networks also accept 3).

    Examples
    --------
    >>> import torch
    >>> build_network("tiny", num_classes=4)(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 4])
    """
    spec = network_spec(architecture)
    for name, value, low in (("num_classes", num_classes, 2), ("in_channels", in_channels, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims: expected 2 or 3, got {spatial_dims!r}")
    return spec.factory(num_classes=num_classes, in_channels=in_channels,
                        spatial_dims=spatial_dims)
