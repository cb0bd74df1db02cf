"""GANrec's generator and discriminator (Yang et al., J. Synchrotron Rad. 2020, section 2.2).

Generator: the sinogram is flattened and passed through four fully connected
layers with Softplus, the last giving ``num_gridx * num_gridy`` values, which
are reshaped to an image and refined by nine convolutional layers with ReLU.
Discriminator: four stride-2 convolutional layers and no fully connected layer;
the flattened last feature map is the logits. Every layer is layer-normalised.

``ImageCorrection`` and ``ProjectionDiscriminator`` are ours, not the paper's.
The first is no network: the correction to a starting image, one free value
per pixel. The second judges single
projections (detector rows), so that GANrec's default mode can compare the
projections it models in the missing wedge with the measured ones.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Generator", "ImageCorrection", "Discriminator", "ProjectionDiscriminator"]


class Generator(nn.Module):
    """Sinogram ``(B, nangles, ndet)`` to image ``(B, num_gridx, num_gridy)``.

    Parameters
    ----------
    n_angles, n_det : int
        Sinogram shape.
    num_gridx, num_gridy : int
        Image shape.
    fc_units : int
        Width of the first three fully connected layers (the authors' code: 128).
    conv_channels : int
        Channels of the convolutional layers (the authors' code: 32; 16 by
        default here, measured to cost half the time at no loss in quality).
    kernel : int
        Convolution kernel size.
    n_conv : int
        Convolutional layers after the fully connected part (the paper: 9).
    dropout : float
        Dropout after the first three fully connected layers.
    """

    def __init__(
        self,
        n_angles: int,
        n_det: int,
        num_gridx: int,
        num_gridy: int,
        fc_units: int = 128,
        conv_channels: int = 16,
        kernel: int = 3,
        n_conv: int = 9,
        dropout: float = 0.0,
    ):
        super().__init__()
        if n_conv < 2:
            raise ValueError(f"n_conv must be >= 2, got {n_conv}")
        self.image_shape = (int(num_gridx), int(num_gridy))
        n_in, n_out = n_angles * n_det, num_gridx * num_gridy
        fc = []
        for width_in, width_out in ((n_in, fc_units), (fc_units, fc_units), (fc_units, fc_units)):
            fc += [nn.Linear(width_in, width_out), nn.LayerNorm(width_out), nn.Softplus()]
            if dropout:
                fc.append(nn.Dropout(dropout))
        fc += [nn.Linear(fc_units, n_out), nn.LayerNorm(n_out), nn.Softplus()]
        self.fc = nn.Sequential(*fc)
        pad = kernel // 2
        conv: list[nn.Module] = []
        channels_in = 1
        for _ in range(n_conv - 1):
            # GroupNorm with one group normalises over (C, H, W): layer normalisation.
            conv += [
                nn.Conv2d(channels_in, conv_channels, kernel, padding=pad),
                nn.GroupNorm(1, conv_channels),
                nn.ReLU(),
            ]
            channels_in = conv_channels
        self.conv = nn.Sequential(*conv)
        self.last = nn.Conv2d(conv_channels, 1, kernel, padding=pad)

    def forward(self, sino: torch.Tensor) -> torch.Tensor:
        b = sino.shape[0]
        x = self.fc(sino.reshape(b, -1)).reshape(b, 1, *self.image_shape)
        return self.last(self.conv(x))[:, 0]


class ImageCorrection(nn.Module):
    """A correction image ``(B, num_gridx, num_gridy)``: one free value per pixel, starting at zero.

    This is not a network. GANrec's default mode optimises the image itself
    (a correction added to a TV start) where the paper trains a
    :class:`Generator`: added to a TV image, the paper's network moved it by
    0.3% (relative norm) in 300 iterations at its stable step size, and at a
    three times larger step the image collapsed, so it could not act on what
    the discriminator finds. It is an ``nn.Module`` so that the optimiser,
    the snapshots and the divergence guard treat both modes alike.
    """

    def __init__(self, batch: int, num_gridx: int, num_gridy: int):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(batch, num_gridx, num_gridy))

    def forward(self) -> torch.Tensor:
        return self.delta


class Discriminator(nn.Module):
    """Sinogram ``(B, nangles, ndet)`` to logits ``(B, n_logits)``.

    Four convolutions with stride 2, layer-normalised, with LeakyReLU between
    them (as in the authors' code), and no fully connected layer: each element of the last feature map
    judges one patch of the sinogram.

    Parameters
    ----------
    channels : tuple of int
        Output channels of the four layers.
    kernel : int
        Kernel size.
    """

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32, 1), kernel: int = 5):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(channels):
            layers.append(nn.Conv2d(c_in, c_out, kernel, stride=2, padding=kernel // 2))
            if i < len(channels) - 1:
                layers += [nn.GroupNorm(1, c_out), nn.LeakyReLU(0.2)]
            c_in = c_out
        self.net = nn.Sequential(*layers)

    def forward(self, sino: torch.Tensor) -> torch.Tensor:
        return self.net(sino[:, None]).flatten(1)


class ProjectionDiscriminator(nn.Module):
    """Projections ``(N, ndet)`` to patch logits ``(N, n_logits)``.

    Three stride-2 one-dimensional convolutions with LeakyReLU and a last
    convolution to one channel, no normalisation and no fully connected
    layer: with the default layers each logit judges a window of 61
    detector pixels, so the verdict is about local shape (how sharp the
    edges are, how the values rise and fall) rather than about where along
    the detector the object lies, which differs from angle to angle.

    Parameters
    ----------
    channels : tuple of int
        Output channels of the four layers; the last must be 1.
    kernel : int
        Kernel size in detector pixels.
    """

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 1), kernel: int = 5):
        super().__init__()
        if channels[-1] != 1:
            raise ValueError(f"the last layer must have 1 channel, got {channels[-1]}")
        layers: list[nn.Module] = []
        c_in = 1
        for i, c_out in enumerate(channels):
            last = i == len(channels) - 1
            layers.append(nn.Conv1d(c_in, c_out, kernel, stride=1 if last else 2, padding=kernel // 2))
            if not last:
                layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.net = nn.Sequential(*layers)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.net(rows[:, None]).flatten(1)
