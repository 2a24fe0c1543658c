"""The PyTorch backend: build, train, evaluate, checkpoint and measure a model for the core's loop.

Only what must be framework-native lives here (see ``lra_core.backend``). The train step is kept
lean on purpose (the overhead benchmark compares it with a bare hand-written loop): no ``.item()``,
no per-step module traversal, gradients set to ``None``, the loss returned as a device scalar.

Randomness: ``build`` seeds torch's global generator before the factory runs, so initialisation and
then dropout draw from one seeded stream, exactly as a plain PyTorch script would. Checkpoints save
that stream (CPU and CUDA), so a resumed run continues bit-exactly on CPU.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lra_core import (
    Backend,
    Batch,
    EncoderConfig,
    EncoderInputs,
    HeadSpec,
    ModelCard,
    ModelHandle,
    OptimizerSettings,
    OutOfMemory,
    PluginError,
    UserError,
)
from lra_core.backend import Precision
from lra_core.environment import cpu_name

from .heads import Classifier, pool
from .memory import PeakMemory

CHECKPOINT_FILE = "torch_state.pt"
_CHECKPOINT_FORMAT = 1
_OOM_ERRORS: tuple[type[BaseException], ...] = (torch.OutOfMemoryError, OutOfMemory, MemoryError)


def resolve_device(request: str) -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda`` or ``cuda:N``; anything else is a UserError."""
    req = request.strip().lower()
    if req == "auto":
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if req == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", req)
    if match is None:
        raise UserError(f"--device: unknown device {request!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA device is visible"
        raise UserError(f"--device {request}: CUDA is not available ({why}); use --device cpu or auto")
    count = torch.cuda.device_count()
    index = int(match.group(1)) if match.group(1) is not None else torch.cuda.current_device()
    if index >= count:
        raise UserError(f"--device {request}: only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def _tensor(array: np.ndarray) -> torch.Tensor:
    """Zero-copy view of a NumPy array (a copy only when it is read-only or not C-contiguous)."""
    if not (array.flags.writeable and array.flags.c_contiguous):
        array = np.array(array, order="C", copy=True)
    return torch.from_numpy(array)


class _EncoderOnly(nn.Module):
    """A bare encoder under the attribute ``encoder``, so its names export as ``encoder.*``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(tokens, mask)


class TorchModelHandle(ModelHandle):
    """A built model on one device, with its AdamW optimizer when it has a classification head."""

    def __init__(
        self,
        backend: "TorchBackend",
        model: nn.Module,
        head: HeadSpec | None,
        optimizer: OptimizerSettings | None,
    ) -> None:
        self.backend = backend
        self.device = backend.device
        self.model = model
        self.encoder: nn.Module = model.encoder
        self.head_spec = head
        self._forward = torch.compile(model) if backend.compile else model
        self._autocast = backend.precision == "bf16"
        self._train_mode: bool | None = None
        self._params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer: torch.optim.Optimizer | None = None
        self._clip: float | None = None
        if head is not None:
            settings = optimizer or OptimizerSettings()
            # LRA's Flax Adam: p <- p - lr*adam_update - lr*wd*p on every parameter (biases and
            # LayerNorm included). That is AdamW with one param group; eps is added to sqrt(v_hat).
            self.optimizer = torch.optim.AdamW(
                self._params,
                lr=0.0,
                betas=(settings.beta1, settings.beta2),
                eps=settings.eps,
                weight_decay=settings.weight_decay,
                fused=True if self.device.type == "cuda" else None,
            )
            self._group = self.optimizer.param_groups[0]
            self._clip = settings.grad_clip_norm

    # ---- helpers -------------------------------------------------------------------------------
    def _set_mode(self, train: bool) -> None:
        # model.train() walks every submodule; do it only when the mode changes.
        if self._train_mode is not train:
            self.model.train(train)
            self._train_mode = train

    def _autocast_ctx(self) -> contextlib.AbstractContextManager[Any]:
        if self._autocast:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _inputs(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = _tensor(tokens).to(self.device, non_blocking=True).long()
        m = _tensor(mask).to(self.device, non_blocking=True)
        if m.dtype != torch.bool:
            m = m.bool()
        return t, m

    @contextlib.contextmanager
    def _private_rng(self, seed: int | None = None) -> Iterator[None]:
        """Run a block without moving the training RNG stream (optionally seeded for the block)."""
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            yield

    def _require_head(self, what: str) -> torch.optim.Optimizer:
        if self.optimizer is None:
            raise RuntimeError(f"{what} needs a model built with a HeadSpec (a classifier)")
        return self.optimizer

    def _flat_pair(self, t: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder-level calls take ``[B, L]``; pair inputs ``[B, 2, L]`` become ``[2B, L]``."""
        if t.dim() == 3:
            return t.reshape(-1, t.shape[-1]), m.reshape(-1, m.shape[-1])
        return t, m

    # ---- training and evaluation -------------------------------------------------------------
    def train_step(self, batch: Batch, lr: float) -> torch.Tensor:
        optimizer = self._require_head("train_step")
        tokens, mask = self._inputs(batch.tokens, batch.mask)
        labels = _tensor(batch.labels).to(self.device, non_blocking=True).long()
        self._set_mode(True)
        self._group["lr"] = float(lr)
        try:
            optimizer.zero_grad(set_to_none=True)
            if self._autocast:
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    logits = self._forward(tokens, mask)
            else:
                logits = self._forward(tokens, mask)
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            if self._clip is not None:
                self._clip_gradients(self._clip)
            optimizer.step()
        except torch.OutOfMemoryError as exc:
            optimizer.zero_grad(set_to_none=True)
            raise OutOfMemory(f"{self.device}: out of memory in train_step ({exc})") from exc
        return loss.detach()

    def _clip_gradients(self, max_norm: float) -> None:
        """LRA's clipping: scale every gradient by ``min(1, max_norm / global_norm)`` (no epsilon)."""
        grads = [p.grad for p in self._params if p.grad is not None]
        total = torch.nn.utils.get_total_norm(grads, foreach=True)
        factor = (max_norm / total).clamp(max=1.0)
        torch._foreach_mul_(grads, factor)

    def eval_step(self, batch: Batch) -> np.ndarray:
        self._require_head("eval_step")
        tokens, mask = self._inputs(batch.tokens, batch.mask)
        self._set_mode(False)
        try:
            with torch.no_grad(), self._autocast_ctx():
                logits = self._forward(tokens, mask)
        except torch.OutOfMemoryError as exc:
            raise OutOfMemory(f"{self.device}: out of memory in eval_step ({exc})") from exc
        return logits.float().cpu().numpy()

    def encode(self, tokens: np.ndarray, mask: np.ndarray, *, train: bool = False, seed: int = 0) -> np.ndarray:
        t, m = self._flat_pair(*self._inputs(tokens, mask))
        self._set_mode(train)
        with torch.no_grad(), self._private_rng(seed if train else None), self._autocast_ctx():
            out = self.encoder(t, m)
        return out.float().cpu().numpy()

    # ---- parameters --------------------------------------------------------------------------
    def export_params(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().numpy().copy() for name, p in self.model.named_parameters()}

    def import_params(self, params: dict[str, np.ndarray]) -> None:
        own = dict(self.model.named_parameters())
        missing = sorted(set(own) - set(params))
        extra = sorted(set(params) - set(own))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise KeyError(f"import_params: missing parameter {missing[0]!r}{more}")
        if extra:
            more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
            raise KeyError(f"import_params: unexpected parameter {extra[0]!r}{more}")
        arrays = {}
        for name, p in own.items():  # check everything before changing anything
            arr = np.asarray(params[name])
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"import_params: {name!r} has shape {arr.shape}, expected {tuple(p.shape)}")
            arrays[name] = arr
        with torch.no_grad():
            for name, p in own.items():
                p.copy_(_tensor(arrays[name]).to(p.dtype))

    def num_params(self, encoder_only: bool = False) -> int:
        return int(
            sum(p.numel() for n, p in self.model.named_parameters() if not encoder_only or n.startswith("encoder."))
        )

    # ---- checkpoints -------------------------------------------------------------------------
    def save_checkpoint(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {
            "format": _CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        target = directory / CHECKPOINT_FILE
        tmp = directory / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)  # a kill mid-save leaves the previous checkpoint intact
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def load_checkpoint(self, directory: Path) -> None:
        path = Path(directory) / CHECKPOINT_FILE
        if not path.is_file():
            raise UserError(f"{path}: no torch checkpoint here; was the run made with the torch backend?")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state.get("format") != _CHECKPOINT_FORMAT:
            raise UserError(f"{path}: checkpoint format {state.get('format')!r}, expected {_CHECKPOINT_FORMAT}")
        self.model.load_state_dict(state["model"])
        if self.optimizer is not None:
            if state["optimizer"] is None:
                raise UserError(f"{path}: checkpoint has no optimizer state (saved from an encoder without a head)")
            self.optimizer.load_state_dict(state["optimizer"])
            self._group = self.optimizer.param_groups[0]
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state["rng_cuda"] is not None:
            torch.cuda.set_rng_state_all(state["rng_cuda"])

    # ---- conformance and profiling primitives ------------------------------------------------
    def _encoder_params(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.model.named_parameters() if n.startswith("encoder.") and p.requires_grad]

    def encoder_gradients(self, tokens: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        t, m = self._flat_pair(*self._inputs(tokens, mask))
        named = self._encoder_params()
        self._set_mode(False)
        with torch.enable_grad(), self._autocast_ctx():
            target = pool(self.encoder(t, m).float(), m, "mean").sum()
        grads = torch.autograd.grad(target, [p for _, p in named], allow_unused=True)
        return {
            name: (g.float().cpu().numpy().copy() if g is not None else np.zeros(tuple(p.shape), np.float32))
            for (name, p), g in zip(named, grads)
        }

    def encode_preserves_inputs(self, tokens: np.ndarray, mask: np.ndarray) -> bool:
        t, m = self._flat_pair(*self._inputs(tokens, mask))
        t_before, m_before = t.clone(), m.clone()
        self._set_mode(False)
        with torch.no_grad(), self._autocast_ctx():
            self.encoder(t, m)
        return bool(torch.equal(t, t_before) and torch.equal(m, m_before))

    def count_flops(self, tokens: np.ndarray, mask: np.ndarray, *, train_step: bool = False) -> float | None:
        from torch.nn.attention import SDPBackend, sdpa_kernel
        from torch.utils.flop_counter import FlopCounterMode

        t, m = self._inputs(tokens, mask)
        counter = FlopCounterMode(display=False)
        # Counting must not move the training RNG stream nor touch .grad or the optimizer. The math
        # SDPA kernel decomposes into matmuls the counter sees (the fused CPU kernel is not counted).
        with self._private_rng(0), self._autocast_ctx(), sdpa_kernel([SDPBackend.MATH]):
            if not train_step:
                self._set_mode(False)
                t, m = self._flat_pair(t, m)
                with torch.no_grad(), counter:
                    self.encoder(t, m)
            else:
                self._set_mode(True)
                with counter:
                    if self.head_spec is not None:
                        labels = torch.zeros(t.shape[0], dtype=torch.long, device=self.device)
                        loss = F.cross_entropy(self.model(t, m).float(), labels)
                    else:
                        t, m = self._flat_pair(t, m)
                        loss = pool(self.encoder(t, m).float(), m, "mean").sum()
                    torch.autograd.grad(loss, self._params, allow_unused=True)
        return float(counter.get_total_flops())


class TorchBackend(Backend):
    """PyTorch on CPU or CUDA; fp32 or bf16 autocast; eager or ``torch.compile``."""

    framework = "torch"
    description = "PyTorch backend: CPU/CUDA, fp32 or bf16 autocast, optional torch.compile"

    def __init__(self, device: str = "auto", precision: Precision = "fp32", compile: bool = False) -> None:
        super().__init__(device, precision, compile)
        if precision not in ("fp32", "bf16"):
            raise UserError(f"--precision: unknown precision {precision!r}; use fp32 or bf16")
        self.device = resolve_device(device)
        if precision == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            name = torch.cuda.get_device_name(self.device)
            raise UserError(f"--precision bf16: {name} does not support bfloat16; use --precision fp32")
        self._memory = PeakMemory(self.device)

    def build(
        self,
        card: ModelCard,
        config: EncoderConfig,
        inputs: EncoderInputs,
        *,
        seed: int,
        head: HeadSpec | None = None,
        optimizer: OptimizerSettings | None = None,
    ) -> TorchModelHandle:
        if card.framework != self.framework:
            raise PluginError(f"model {card.id} is a {card.framework} model; the torch backend builds torch models only")
        # Seed before the factory so that initialisation is a function of the seed alone; the model
        # is built on the CPU and then moved, so CPU and CUDA start from the same weights.
        torch.manual_seed(seed)
        encoder = card.factory(config, inputs)
        if not isinstance(encoder, nn.Module):
            raise PluginError(
                f"model {card.id}: factory returned {type(encoder).__name__}, expected a torch.nn.Module"
            )
        model: nn.Module = Classifier(encoder, head, config.d_model) if head is not None else _EncoderOnly(encoder)
        model.to(self.device)
        return TorchModelHandle(self, model, head, optimizer)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def reset_peak_memory(self) -> None:
        self._memory.reset()

    def peak_memory_bytes(self) -> int | None:
        return self._memory.peak_bytes()

    def describe_device(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": self.device.type,
            "device": str(self.device),
            "torch": torch.__version__,
            "cuda_runtime": torch.version.cuda,
            "threads": torch.get_num_threads(),
            "precision": self.precision,
            "compile": self.compile,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        }
        if self.device.type == "cuda":
            props = torch.cuda.get_device_properties(self.device)
            info.update(
                name=props.name,
                count=torch.cuda.device_count(),
                memory_bytes=int(props.total_memory),
                compute_capability=f"{props.major}.{props.minor}",
                cuda_driver=_nvidia_driver_version(),
                cudnn=torch.backends.cudnn.version(),
            )
        else:
            info.update(name=cpu_name(), count=1, cuda_driver=None, cudnn=None)
        return info

    def is_out_of_memory(self, exc: BaseException) -> bool:
        if isinstance(exc, _OOM_ERRORS):
            return True
        # The CPU allocator reports exhaustion as a plain RuntimeError.
        return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def _nvidia_driver_version() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if lines else None
