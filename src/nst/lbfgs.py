"""L-BFGS whose state stays on the image's device and whose step never waits for the device.

``torch.optim.LBFGS`` reads tensor values on the host inside every step: ``if ys > 1e-10`` to
accept a curvature pair, ``alpha=-al[i]`` twice per stored pair in the two-loop recursion, the
first step's length and its convergence tests. On a GPU each read is a synchronisation (about 200
per step with 100 pairs). This one keeps the history in preallocated ``history_size x N`` tensors
used as a ring buffer and computes everything with tensor arithmetic, so a step only queues work:

- a pair with ``y.s <= 1e-10`` is stored with weight ``rho = 0``, which makes it contribute nothing
  to either loop (torch drops it instead, so it keeps one older pair that this version evicts);
- the step length of the first iteration, ``min(1, 1/|g|_1) * lr``, is a tensor;
- a direction that is not a descent direction (``g.d >= 0``) drops the history and restarts with
  steepest descent (torch's ``break`` makes a zero step, and with both tolerances at 0 it then
  stays there for good); there is no early stop (``steps`` means steps);
- a safeguard torch's version does not have: a step whose loss is not finite or more than
  ``1 + SLACK`` times the last kept point's is taken back; the next step retries from that point
  along the same direction with the length the quadratic through the two losses suggests (0.1-0.5
  of the rejected one). Every step is still one evaluation. Without it, a step that overshoots
  (the second one from a content image, or on shallow-layer textures by 1e17x) can leave L-BFGS
  stalled; tests/test_lbfgs.py shows both.

It is L-BFGS without a line search, one iteration per ``step()`` (``optimizer=lbfgs_device``, the
default): the same iterates as ``torch.optim.LBFGS(max_iter=1, line_search_fn=None)`` up to
rounding as long as no step is taken back (tests/test_lbfgs.py measures it).

A checkpoint keeps only the newest pairs (:func:`compact`, ``checkpoint_history``): the history is
two image-sized vectors a pair, 200 images' worth at the default ``history_size``. A state with
fewer slots than ``history_size`` loads into a full-size ring buffer that fills up again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

ACCEPT = 1e-10  # the smallest y.s that torch's L-BFGS accepts as a curvature pair
SLACK = 1e-3  # a step may raise the loss by this fraction and still be accepted (bf16 rounding)


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

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A saved state; one compacted to fewer pairs (:func:`compact`) gets its ring buffer back at
        ``history_size`` slots, the kept pairs oldest first, and fills it again as it steps."""
        super().load_state_dict(state_dict)
        state = self.state[self._param]
        size = self.param_groups[0]["history_size"]
        if state and state["s"].shape[0] < size:
            count = state["count"]
            kept = _ring_order(state["s"].shape[0], state["head"], count)  # oldest first
            for key in ("s", "y", "rho"):
                grown = state[key].new_zeros((size, *state[key].shape[1:]))
                grown[:count] = state[key][kept]
                state[key] = grown
            state["head"] = count % size

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
        x, grad = param.detach().reshape(-1), param.grad.detach().reshape(-1)
        state = self._state()
        state["n_iter"] += 1
        if state["n_iter"] == 1:  # steepest descent, torch's first step length
            state["previous_x"], state["previous_loss"] = x.clone(), loss.detach().clone()
            state["previous_grad"].copy_(grad)
            direction, step_length = -grad, self._steepest_length(grad, lr)
        else:
            if "previous_x" not in state:  # a state saved before the safeguard: accept this point
                state["previous_x"] = x - state["direction"] * state["step_length"]
                state["previous_loss"] = loss.detach().new_tensor(float("inf"))
            direction, step_length = self._next(state, x, grad, loss.detach(), lr)
        state["direction"], state["step_length"] = direction, step_length
        state["slope"] = state["previous_grad"].dot(direction)  # along the step, at its start
        param.copy_((state["previous_x"] + direction * step_length).view_as(param))
        return loss

    def _next(
        self, state: dict[str, Any], x: torch.Tensor, grad: torch.Tensor, loss: torch.Tensor, lr: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The next direction and step length from the point just evaluated, all as tensor arithmetic.

        Accepted (the loss is finite and at most ``1 + SLACK`` times the last accepted loss): a
        curvature pair and the two-loop direction, step length ``lr``, as torch's L-BFGS. Rejected:
        back to the last accepted point, the same direction with the step the quadratic through the
        two losses and the slope suggests (kept within 0.1-0.5 of the rejected one); no pair.
        """
        size, slot = state["s"].shape[0], state["head"]
        accepted = torch.isfinite(loss) & (loss <= state["previous_loss"] * (1 + SLACK))
        y = grad - state["previous_grad"]
        s = state["direction"] * state["step_length"]
        ys = y.dot(s)
        keep = accepted & (ys > ACCEPT)  # a pair from an accepted step with positive curvature
        state["y"][slot], state["s"][slot] = torch.where(keep, y, 0.0), torch.where(keep, s, 0.0)
        state["rho"][slot] = torch.where(keep, 1.0 / ys, torch.zeros_like(ys))
        state["h_diag"] = torch.where(keep, ys / y.dot(y), state["h_diag"])
        state["head"], state["count"] = (slot + 1) % size, min(state["count"] + 1, size)
        quasi_newton = self._two_loop(grad, state)
        descent = grad.dot(quasi_newton) < 0
        # Not a descent direction (history gone stale): forget the pairs, steepest descent again.
        state["rho"].mul_((descent | ~accepted).to(state["rho"].dtype))
        fresh = torch.where(descent, quasi_newton, -grad)
        fresh_length = torch.where(descent, grad.new_tensor(lr), self._steepest_length(grad, lr))
        # The rejected step's length t: minimiser of the quadratic through f0, slope f0' and f(t).
        t, f0 = state["step_length"], state["previous_loss"]
        slope = state.get("slope", state["previous_grad"].dot(state["direction"]))
        curvature = torch.nan_to_num(loss - f0 - slope * t, nan=float("inf"), posinf=float("inf"))
        shorter = torch.clamp(-slope * t * t / (2 * curvature).clamp_min(1e-30), min=0.1 * t, max=0.5 * t)
        direction = torch.where(accepted, fresh, state["direction"])
        step_length = torch.where(accepted, fresh_length, shorter)
        state["previous_x"] = torch.where(accepted, x, state["previous_x"])
        state["previous_loss"] = torch.where(accepted, loss, state["previous_loss"])
        state["previous_grad"] = torch.where(accepted, grad, state["previous_grad"])
        return direction, step_length

    @staticmethod
    def _steepest_length(grad: torch.Tensor, lr: float) -> torch.Tensor:
        """torch's first step length along -grad (no history yet): ``min(1, 1/|g|_1) * lr``."""
        return torch.clamp(1.0 / grad.abs().sum(), max=1.0) * lr

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


def _ring_order(size: int, head: int, count: int) -> list[int]:
    """The slots of a ring buffer's ``count`` pairs, oldest first (``head`` is the next slot)."""
    return [(head - count + i) % size for i in range(count)]


def compact(state_dict: dict[str, Any], keep: int) -> dict[str, Any]:
    """``state_dict`` with only the newest ``keep`` curvature pairs: what a checkpoint saves.

    DeviceLBFGS: its ring buffers become ``min(keep, count)`` slots, oldest first; torch's LBFGS: the
    last ``keep`` entries of its lists. Other optimisers' states, and states with at most ``keep``
    pairs, are returned as they are. The optimiser's own state is not changed (new dicts, and only
    the kept rows are copied). A state of ``count <= keep`` pairs resumes bit-identically; fewer
    pairs than the run had make the steps after a resume differ (README: Resume).
    """
    states = state_dict.get("state", {})
    if len(states) != 1:
        return state_dict
    ((index, state),) = states.items()
    if "s" in state and "head" in state:  # DeviceLBFGS
        size, count = state["s"].shape[0], state["count"]
        if size <= keep:
            return state_dict
        kept = min(keep, count)
        rows = torch.tensor(
            _ring_order(size, state["head"], kept), dtype=torch.long, device=state["s"].device
        )
        smaller = {key: state[key].index_select(0, rows) for key in ("s", "y", "rho")}
        state = {**state, **smaller, "count": kept, "head": 0}  # a full ring of `kept` slots
    elif "old_dirs" in state:  # torch.optim.LBFGS: lists, oldest first
        if len(state["old_dirs"]) <= keep:
            return state_dict
        start = len(state["old_dirs"]) - keep
        state = {**state, **{key: state[key][start:] for key in ("old_dirs", "old_stps", "ro")}}
    else:
        return state_dict
    return {**state_dict, "state": {index: state}}
