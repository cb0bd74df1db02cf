"""
Jitter correction with the shipped network
==========================================

A small textured body is projected over 120 angles and every projection is
moved by a random sub-pixel shift of up to 4 pixels (rows and columns), as a
shaking stage would. ``align_jitter`` (a drop-in for TomoPy's
``align_joint``) estimates the shifts with its trained residual network and
moves the projections back; the plot compares the shifts it found with the
ones applied (jitter is known up to a common offset, so both are shown with
their mean removed).
"""

import matplotlib.pyplot as plt
import numpy as np

import tomopy_dl
from tomopy_dl.sim import add_jitter, make_object, project

theta = np.linspace(0, np.pi, 120, endpoint=False).astype(np.float32)
clean = project(make_object("porous", 64, 56, seed=3), theta, pad=False)
jittered, rows, cols = add_jitter(clean, 4.0, seed=1)
aligned, sx, sy, conv = tomopy_dl.align_jitter(jittered, theta, progress=False)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, truth, found, name in ((axes[0], rows, sx, "rows"), (axes[1], cols, sy, "columns")):
    ax.plot(np.rad2deg(theta), -(truth - truth.mean()), label="applied (undone by)", lw=1)
    ax.plot(np.rad2deg(theta), found - found.mean(), "--", label="found by align_jitter", lw=1)
    rms = float(np.sqrt(np.mean((found - found.mean() + truth - truth.mean()) ** 2)))
    ax.set_title(f"{name}: residual {rms:.2f} px RMS", fontsize=9)
    ax.set_xlabel("angle (degrees)")
axes[0].set_ylabel("shift (pixels)")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
