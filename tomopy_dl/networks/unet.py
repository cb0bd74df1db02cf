"""A small residual U-Net for images: the wedge filler of GANrec's ``mode='volume'``.

Two poolings (average), two 3x3 convolutions with leaky ReLU per level,
``channels``, ``2 channels`` and ``4 channels`` deep, transposed-convolution
upsampling with skip connections, and the input added to the output: the
network learns a correction, so that an untrained one is the identity plus a
small perturbation. Fully convolutional: trained on patches, applied to whole
slices of any size (padded by reflection to a multiple of 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UNet"]


def _block(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(o, o, 3, padding=1),
                         nn.LeakyReLU(0.1))  # fmt: skip


class UNet(nn.Module):
    """Image ``(B, 1, H, W)`` to image ``(B, 1, H, W)``: the input plus a learned correction.

    Parameters
    ----------
    channels : int
        Feature maps at full resolution (16); twice and four times as many
        after each pooling.

    Examples
    --------
    >>> import torch
    >>> UNet()(torch.zeros(2, 1, 30, 37)).shape
    torch.Size([2, 1, 30, 37])
    """

    def __init__(self, channels: int = 16):
        super().__init__()
        c = channels
        self.e1, self.e2, self.e3 = _block(1, c), _block(c, 2 * c), _block(2 * c, 4 * c)
        self.u2, self.d2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, 2), _block(4 * c, 2 * c)
        self.u1, self.d1 = nn.ConvTranspose2d(2 * c, c, 2, 2), _block(2 * c, c)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % 4 or w % 4:  # two poolings: pad to a multiple of 4 and crop back
            mode = "reflect" if min(h, w) > 4 else "replicate"
            return self.forward(F.pad(x, (0, -w % 4, 0, -h % 4), mode=mode))[..., :h, :w]
        a = self.e1(x)
        b = self.e2(F.avg_pool2d(a, 2))
        b = self.d2(torch.cat([self.u2(self.e3(F.avg_pool2d(b, 2))), b], 1))
        return x + self.out(self.d1(torch.cat([self.u1(b), a], 1)))
