"""The guarded optimisation loop: divergence guard, early stop, averaging, on a toy problem."""

import logging

import pytest
import torch

from tomopy_dl.solvers.loop import Step, guarded_loop


def _toy(bad_at: set[int] = frozenset()):
    """Gradient descent of |w - 3|^2 by SGD; a NaN gradient at the iterations in ``bad_at`` poisons w."""
    w = torch.nn.Parameter(torch.zeros(2))
    module = torch.nn.Module()
    module.w = w
    opt = torch.optim.SGD([w], lr=0.1)

    def step(it: int) -> Step:
        loss = (w - 3.0).square().sum()
        opt.zero_grad()
        loss.backward()
        if it in bad_at:
            w.grad.fill_(float("nan"))
        opt.step()
        return Step(w.detach().clone(), (w - 3.0).square().sum().detach(), {"w0": w.detach()[0]})

    return step, module, opt


@pytest.mark.parametrize("bad", [7, 14])  # before and after averaging starts (10)
def test_a_bad_check_restores_the_last_good_state_at_half_the_step(bad, caplog):
    step, module, opt = _toy({bad})
    caplog.set_level(logging.WARNING, logger="tomopy_dl.solvers.loop")
    out = guarded_loop(step, 20, start=torch.zeros(2), state={"m": module, "opt": opt}, optimizers=[opt],
                       average_from=10, check_every=5, name="toy")  # fmt: skip
    assert out.restarts == 1 and out.iterations == 20
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert torch.isfinite(out.image).all()
    assert f"toy: loss nan at iteration {10 if bad == 7 else 15}; restoring" in caplog.text


def test_restore_puts_the_parameters_back():
    step, module, opt = _toy({9})
    seen = []

    def watching(it):
        out = step(it)
        seen.append(out.image.clone())
        return out

    guarded_loop(watching, 11, start=torch.zeros(2), state={"m": module, "opt": opt}, optimizers=[opt],
                 check_every=5)  # fmt: skip
    # Iteration 10 (index 10) starts from the state saved at iteration 5, not from iteration 9's.
    w5 = seen[4]
    expected = w5 - 0.05 * 2 * (w5 - 3.0)  # one step at half the step size
    torch.testing.assert_close(seen[10], expected)


def test_average_and_last_iterate():
    step, module, opt = _toy()
    last = guarded_loop(step, 10, start=torch.zeros(2), state={"m": module}, optimizers=[opt])
    step, module, opt = _toy()
    images = []

    def keep(it):
        out = step(it)
        images.append(out.image)
        return out

    avg = guarded_loop(keep, 10, start=torch.zeros(2), state={"m": module}, optimizers=[opt], average_from=6)
    torch.testing.assert_close(avg.image, torch.stack(images[6:]).mean(0))
    torch.testing.assert_close(last.image, images[-1])
    assert last.monitor == pytest.approx(float((images[-1] - 3).square().sum()), rel=1e-5)


def test_early_stop_on_a_plateau(caplog):
    step, module, opt = _toy()
    caplog.set_level(logging.INFO, logger="tomopy_dl.solvers.loop")
    out = guarded_loop(step, 500, start=torch.zeros(2), state={"m": module}, optimizers=[opt], early_stop=0.5,
                       check_every=5, name="toy")  # fmt: skip
    # The loss falls by 0.64 per iteration: over two checks (10 iterations) by far more than half, until it
    # reaches float32's floor and stops improving.
    assert out.iterations < 500 and "toy: plateaued" in caplog.text
