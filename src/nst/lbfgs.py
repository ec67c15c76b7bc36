"""L-BFGS whose state stays on the image's device and whose step never waits for the device.

``torch.optim.LBFGS`` reads tensor values on the host inside every step: ``if ys > 1e-10`` to
accept a curvature pair, ``alpha=-al[i]`` twice per stored pair in the two-loop recursion, the
first step's length and its convergence tests. On a GPU each read is a synchronisation (about 200
per step with 100 pairs). This one keeps the history in preallocated ``history_size x N`` tensors
used as a ring buffer and computes everything with tensor arithmetic, so a step only queues work:

- a pair with ``y.s <= 1e-10`` is stored with weight ``rho = 0``, which makes it contribute nothing
  to either loop (torch drops it instead, so it keeps one older pair that this version evicts);
- the step length of the first iteration, ``min(1, 1/|g|_1) * lr``, is a tensor;
- a direction that is not a descent direction (``g.d >= 0``) gives a zero step, as torch's break
  does; there is no other early stop (nst runs with both tolerances at 0: ``steps`` means steps).

It is L-BFGS without a line search, one iteration per ``step()`` (``optimizer=lbfgs_device``): the
same iterates as ``torch.optim.LBFGS(max_iter=1, line_search_fn=None)`` up to rounding
(tests/test_lbfgs.py measures it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

ACCEPT = 1e-10  # the smallest y.s that torch's L-BFGS accepts as a curvature pair


class DeviceLBFGS(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float = 1.0,
        max_iter: int = 1,
        max_eval: int | None = None,
        tolerance_grad: float = 0.0,
        tolerance_change: float = 0.0,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if max_iter != 1 or line_search_fn is not None:
            raise ValueError("DeviceLBFGS runs one iteration per step without a line search")
        if tolerance_grad or tolerance_change:
            raise ValueError("DeviceLBFGS has no early stop: tolerance_grad and tolerance_change must be 0")
        super().__init__(params, {"lr": lr, "history_size": history_size, "max_eval": max_eval})
        if len(self.param_groups) != 1 or len(self.param_groups[0]["params"]) != 1:
            raise ValueError("DeviceLBFGS optimises one tensor (the image)")

    @property
    def _param(self) -> torch.Tensor:
        return self.param_groups[0]["params"][0]

    def _state(self) -> dict[str, Any]:
        state = self.state[self._param]
        if not state:
            size, flat = self.param_groups[0]["history_size"], self._param.detach().reshape(-1)
            state.update(
                s=flat.new_zeros(size, flat.numel()),  # steps x_{k+1} - x_k
                y=flat.new_zeros(size, flat.numel()),  # gradient changes
                rho=flat.new_zeros(size),  # 1 / y.s (0: an unused or rejected slot)
                h_diag=flat.new_ones(()),
                direction=torch.zeros_like(flat),
                step_length=flat.new_zeros(()),
                previous_grad=torch.zeros_like(flat),
                count=0,  # pairs stored (host integers: counting needs no device value)
                head=0,  # the slot the next pair goes to
                n_iter=0,
            )
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        with torch.enable_grad():
            loss = closure()
        param, lr = self._param, self.param_groups[0]["lr"]
        grad = param.grad.detach().reshape(-1)
        state = self._state()
        size = state["s"].shape[0]
        state["n_iter"] += 1
        if state["n_iter"] == 1:
            direction = -grad
            step_length = torch.clamp(1.0 / grad.abs().sum(), max=1.0) * lr
        else:
            y = grad - state["previous_grad"]
            s = state["direction"] * state["step_length"]
            ys = y.dot(s)
            accepted = ys > ACCEPT
            slot = state["head"]
            state["y"][slot], state["s"][slot] = y, s
            state["rho"][slot] = torch.where(accepted, 1.0 / ys, torch.zeros_like(ys))
            state["h_diag"] = torch.where(accepted, ys / y.dot(y), state["h_diag"])
            state["head"], state["count"] = (slot + 1) % size, min(state["count"] + 1, size)
            direction = self._two_loop(grad, state)
            step_length = grad.new_tensor(lr)
        descent = grad.dot(direction) < 0  # torch stops when it is not; here the step is zero
        step_length = torch.where(descent, step_length, torch.zeros_like(step_length))
        state["previous_grad"].copy_(grad)
        state["direction"], state["step_length"] = direction, step_length
        param.add_((direction * step_length).view_as(param))
        return loss

    @staticmethod
    def _two_loop(grad: torch.Tensor, state: dict[str, Any]) -> torch.Tensor:
        """H_k (-g) by the two-loop recursion over the stored pairs, newest first then oldest first."""
        size, count, head = state["s"].shape[0], state["count"], state["head"]
        order = [(head - 1 - i) % size for i in range(count)]  # newest first
        s, y, rho = state["s"], state["y"], state["rho"]
        q, alphas = -grad, {}
        for i in order:
            alphas[i] = s[i].dot(q) * rho[i]
            q = q - alphas[i] * y[i]
        r = q * state["h_diag"]
        for i in reversed(order):
            beta = y[i].dot(r) * rho[i]
            r = r + s[i] * (alphas[i] - beta)
        return r
