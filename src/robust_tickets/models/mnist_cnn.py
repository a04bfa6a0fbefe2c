"""`mnist-cnn`: the MNIST network of Madry et al. 2018 (their mnist_challenge model).

5x5 convolution of 32 channels ('same' padding) + ReLU + 2x2 max pooling, 5x5 convolution of 64
channels ('same') + ReLU + 2x2 max pooling, fully connected 1024 + ReLU, output 10: 3,274,634
parameters on 28x28 images. Both convolutions are 'same' padded as in Madry et al.'s code (7x7x64
features before the fully connected layer). Gaussian Glorot weights and zero biases, the
convention of the other convolutional networks here (`conv.py`), not Madry et al.'s truncated
normal (std 0.1, biases 0.1): a ticket's reset then means the same for every model.
"""

from __future__ import annotations

from torch import nn

from robust_tickets.models.conv import ConvNet
from robust_tickets.models.init import glorot
from robust_tickets.models.registry import MODELS, ModelSpec


def _mnist_cnn(input_shape: tuple[int, ...], classes: int) -> nn.Module:
    channels, height, width = input_shape
    features = [
        nn.Conv2d(channels, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]
    return ConvNet(features, 64 * (height // 4) * (width // 4), [1024], classes)


def _fits(shape: tuple[int, ...]) -> str | None:
    if len(shape) != 3 or shape[1] < 4 or shape[2] < 4:
        return "needs images of at least 4x4 pixels"
    return None


MODELS.register("mnist-cnn")(ModelSpec(build=_mnist_cnn, init=glorot(normal=True), fits=_fits))
