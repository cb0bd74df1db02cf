"""The jitter-estimation residual network (Fu et al., J. Synchrotron Rad. 2021, section 2.2).

Thirteen convolutional layers: one 7x7 (stride 2) and twelve 3x3 arranged as
three skip-connected residual blocks of four, the second and third starting
with a stride-2 downsampling; two pooling layers (a max pool after the 7x7, a
global average pool at the end) and one fully connected layer giving
``(d_row, d_col)``. ReLU and layer normalisation (``GroupNorm`` with one group,
which normalises each sample over channels and space) throughout.

The input is a 2-channel ``size x size`` picture: a measured projection and
the reprojection of a rough reconstruction, each normalised.
:func:`network_input` defines how projections of any shape map to it and
what one network pixel is in the original image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["JitterResNet", "network_input"]


def _norm(channels: int) -> nn.Module:
    return nn.GroupNorm(1, channels)


class _ResidualBlock(nn.Module):
    """Four 3x3 convolutions in two skip-connected pairs; the first may stride 2."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.pairs = nn.ModuleList()
        self.skips = nn.ModuleList()
        for i in range(2):
            cin, s = (c_in, stride) if i == 0 else (c_out, 1)
            self.pairs.append(
                nn.Sequential(
                    nn.Conv2d(cin, c_out, 3, stride=s, padding=1, bias=False),
                    _norm(c_out),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                    _norm(c_out),
                )
            )
            # A 1x1 projection only where shapes change: it is not counted among
            # the paper's 13 convolutions, which are the feature extractors.
            needs_proj = cin != c_out or s != 1
            self.skips.append(
                nn.Sequential(nn.Conv2d(cin, c_out, 1, stride=s, bias=False), _norm(c_out))
                if needs_proj
                else nn.Identity()
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for pair, skip in zip(self.pairs, self.skips):
            x = F.relu(pair(x) + skip(x))
        return x


class JitterResNet(nn.Module):
    """``(N, 2, size, size)`` image pairs to ``(N, 2)`` displacements in network pixels.

    Parameters
    ----------
    width : int
        Channels after the 7x7 layer; the blocks have ``width``, ``2 width`` and
        ``4 width``. 32 gives 0.7M parameters.
    out_scale : float
        The last layer's output is multiplied by this, so that a unit-scale
        output covers jitter of tens of pixels.
    """

    def __init__(self, width: int = 32, out_scale: float = 10.0):
        super().__init__()
        self.out_scale = float(out_scale)
        self.stem = nn.Sequential(
            nn.Conv2d(2, width, 7, stride=2, padding=3, bias=False), _norm(width), nn.ReLU(inplace=True)
        )
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.blocks = nn.Sequential(
            _ResidualBlock(width, width, 1),
            _ResidualBlock(width, 2 * width, 2),
            _ResidualBlock(2 * width, 4 * width, 2),
        )
        self.head = nn.Linear(4 * width, 2)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.pool(self.stem(x)))
        return self.head(x.mean(dim=(2, 3))) * self.out_scale


def network_input(
    measured: torch.Tensor, reprojected: torch.Tensor, size: int
) -> tuple[torch.Tensor, tuple[float, float]]:
    """Map projection pairs of any shape onto the network's input.

    Images larger than ``size`` are shrunk by one factor ``f = max(rows, cols) / size``
    (antialiased bilinear, aspect kept); smaller ones are not enlarged. They are
    centred in a ``size x size`` frame padded with zeros, and each image is
    divided by its mean absolute value. A network output ``(d_row, d_col)`` is
    ``(d_row * f_row, d_col * f_col)`` pixels of the original images.

    Parameters
    ----------
    measured, reprojected : torch.Tensor, shape (N, rows, cols)
    size : int
        The network's input side.

    Returns
    -------
    x : torch.Tensor, shape (N, 2, size, size)
    (f_row, f_col) : tuple of float
        Original pixels per network pixel along each axis (1 when not shrunk).
    """
    n, rows, cols = measured.shape
    f = max(1.0, rows / size, cols / size)
    pair = torch.stack([measured, reprojected], dim=1)
    h, w = rows, cols
    if f > 1.0:
        h, w = max(1, min(size, round(rows / f))), max(1, min(size, round(cols / f)))
        pair = F.interpolate(pair, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (size - h) // 2, (size - w) // 2
    pair = F.pad(pair, (left, size - w - left, top, size - h - top))
    scale = pair.abs().mean(dim=(2, 3), keepdim=True) * (size * size) / (h * w)
    return pair / scale.clamp_min(1e-12), (rows / h, cols / w)
