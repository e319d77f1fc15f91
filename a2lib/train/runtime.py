"""How a training run uses its device: bf16 autocast, channels_last, DataLoader workers, cudnn autotuning.

These are ``TrainConfig``'s runtime fields (``precision``, ``channels_last``, ``num_workers``, ``cudnn_benchmark``):
they change speed and rounding, not what is trained, so they stay out of cache keys. Each defaults to ``"auto"``:
on with CUDA (bf16 where the GPU supports it), off on a CPU, where autocast is slow and workers compete with the
training thread for a few cores. ``resolve_runtime`` turns the fields into a ``Runtime`` for one device; the trainer
then calls ``Runtime.prepare_model`` once, ``Runtime.loader_options`` for its DataLoaders, ``Runtime.images`` on each
batch and ``Runtime.forward`` for each training forward pass.

Only the forward pass runs under autocast; its floating outputs are cast back to float32 (``Runtime.forward``), so
the loss terms (inner products with all N database codes, squared norms) are summed in float32 and code that mixes
outputs with float32 tensors (the memory bank, B) works unchanged. Pinned memory goes with CUDA, persistent workers
with ``num_workers`` > 0 (each outer iteration's loader is walked ``inner_epochs`` times).
"""
from __future__ import annotations

import dataclasses
import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor

from ..checks import NON_NEGATIVE_INT, Constraint, one_of

AUTO = "auto"
PRECISIONS = (AUTO, "bf16", "fp32")
"""``precision``: bf16 autocast of the forward pass, or plain float32; ``auto`` is bf16 on a CUDA GPU that supports
it, float32 otherwise."""
MAX_AUTO_WORKERS = 8
"""``num_workers="auto"`` on CUDA: one worker per CPU core, at most this many (JPEG decoding and the paper's
random-resized-crop keep a GPU busy at about this many workers per training process)."""
PRECISION = one_of(PRECISIONS)
"""What ``TrainConfig.precision`` accepts."""
SWITCH = Constraint(f"True, False or {AUTO!r}", lambda value: isinstance(value, bool) or value == AUTO)
"""What ``channels_last`` and ``cudnn_benchmark`` accept."""
WORKERS = Constraint(f"{NON_NEGATIVE_INT.text} or {AUTO!r}",
                     lambda value: value == AUTO or NON_NEGATIVE_INT.accepts(value))
"""What ``num_workers`` accepts."""


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast runs on ``device`` (every CPU build of torch; CUDA GPUs from Ampere on)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu"


@dataclass(frozen=True)
class Runtime:
    """The resolved runtime choices of a run on ``device`` (module docstring)."""

    device: torch.device
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    num_workers: int = 0
    pin_memory: bool = False
    cudnn_benchmark: bool = False

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move ``model`` to the device, in channels_last memory format when chosen; set cudnn autotuning."""
        if self.cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        if self.channels_last:
            return model.to(self.device, memory_format=torch.channels_last)
        return model.to(self.device)

    def loader_options(self) -> dict:
        """DataLoader keyword arguments: workers, pinned memory, persistent workers when there are workers."""
        options = {"num_workers": self.num_workers, "pin_memory": self.pin_memory}
        if self.num_workers > 0:
            options["persistent_workers"] = True
        return options

    def images(self, images: Tensor) -> Tensor:
        """A batch of images on the device (asynchronously from pinned memory), channels_last when chosen."""
        images = images.to(self.device, non_blocking=self.pin_memory)
        if self.channels_last and images.dim() == 4:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def autocast(self):
        """The autocast context of the forward pass (a no-op for float32)."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def forward(self, model: torch.nn.Module, *inputs):
        """``model(*inputs)`` under ``autocast``, its floating tensors (also those of a dataclass output such as
        ``HashOutput``) cast back to float32, so the loss is computed in float32."""
        with self.autocast():
            out = model(*inputs)
        if self.autocast_dtype is None:
            return out
        return _to_float32(out)


def _to_float32(value):
    if isinstance(value, Tensor):
        return value.float() if value.is_floating_point() else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _to_float32(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, (tuple, list)):
        return type(value)(_to_float32(item) for item in value)
    return value


def _switch(value, on_cuda: bool) -> bool:
    return on_cuda if value == AUTO else bool(value)


def resolve_runtime(config, device: torch.device) -> Runtime:
    """The ``Runtime`` of ``config``'s runtime fields (checked by ``TrainConfig``) on ``device``: ``auto`` is on with
    CUDA, off elsewhere; bf16 asked for where it cannot run is an error saying to use ``precision="fp32"``."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    if config.precision == "bf16" and not bf16_supported(device):
        raise ValueError(f"TrainConfig.precision='bf16' but {device} does not support bfloat16 autocast; "
                         "use precision='fp32' (or 'auto', which picks it there)")
    bf16 = config.precision == "bf16" or (config.precision == AUTO and cuda and bf16_supported(device))
    workers = config.num_workers
    if workers == AUTO:
        workers = min(os.cpu_count() or 1, MAX_AUTO_WORKERS) if cuda else 0
    return Runtime(device=device, autocast_dtype=torch.bfloat16 if bf16 else None,
                   channels_last=_switch(config.channels_last, cuda), num_workers=int(workers), pin_memory=cuda,
                   cudnn_benchmark=_switch(config.cudnn_benchmark, cuda))


__all__ = ["AUTO", "MAX_AUTO_WORKERS", "PRECISION", "PRECISIONS", "Runtime", "SWITCH", "WORKERS", "bf16_supported",
           "resolve_runtime"]
