"""The JAX backend: the core's primitives (build, train/eval step, params, checkpoints, sync, memory).

- Steps are jit-compiled ahead of time per input signature, so compile time is measured apart from
  step time (``handle.compile_seconds``, ``handle.compile_breakdown``).
- Optimizer: LRA's Adam with decoupled weight decay on every parameter,
  ``p <- p - lr * adam(g) - lr * wd * p`` (optax ``scale_by_adam`` + ``add_decayed_weights``; the
  learning rate is a traced argument, so each step uses the LR the core hands it without
  recompiling), after clipping by global norm when ``grad_clip_norm`` is set.
- Dropout keys are ``fold_in(dropout_key, step)``: a resumed run draws exactly the same masks.
- Data parallel over all selected local devices: a 1-D ``Mesh`` over the batch axis, parameters
  and optimizer state replicated, batches sharded (replicated when the batch does not divide).
- ``fp32`` runs matmuls at full float32 precision (as torch's default, no TF32); ``bf16`` computes
  in bfloat16 with float32 master weights, optimizer state and loss.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

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
from lra_core.profiling.process_memory import ProcessPeakMemory

from .heads import ClassifierHead, Model, pool
from .memory import device_peak_bytes
from .params import from_canonical, to_canonical

CHECKPOINT_FORMAT = 1
_PLATFORM_ALIASES = {"cuda": "gpu", "rocm": "gpu", "gpu": "gpu", "cpu": "cpu", "tpu": "tpu"}


def select_devices(request: str) -> list[Any]:
    """``auto`` (all local devices of the default platform), ``cpu``/``gpu``/``cuda``/``tpu``, or ``gpu:1``."""
    req = (request or "auto").strip().lower()
    if req == "auto":
        return list(jax.local_devices())
    name, _, index = req.partition(":")
    platform = _PLATFORM_ALIASES.get(name)
    if platform is None:
        raise UserError(f"--device {request!r}: use auto, cpu, gpu (cuda), tpu, or e.g. gpu:0")
    try:
        devices = list(jax.local_devices(backend=platform))
    except RuntimeError:
        devices = []
    if not devices:
        raise UserError(f"--device {request!r}: JAX sees no {platform} device here; use --device cpu")
    if index:
        if not index.isdigit() or int(index) >= len(devices):
            raise UserError(f"--device {request!r}: there are {len(devices)} {platform} device(s)")
        return [devices[int(index)]]
    return devices


def _is_oom(exc: BaseException) -> bool:
    return "RESOURCE_EXHAUSTED" in str(exc) or "out of memory" in str(exc).lower()


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _tree_to_named(tree: Any) -> dict[str, np.ndarray]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def _flat_pair(tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoder-level calls take ``[B, L]``; pair inputs ``[B, 2, L]`` become ``[2B, L]`` (as torch)."""
    tokens = np.asarray(tokens, np.int32)
    mask = np.asarray(mask, np.bool_)
    if tokens.ndim == 3:
        return tokens.reshape(-1, tokens.shape[-1]), mask.reshape(-1, mask.shape[-1])
    return tokens, mask


def _signature(*arrays: Any) -> tuple[Any, ...]:
    """Shapes and dtypes: what makes a new compilation necessary."""
    return tuple((tuple(np.shape(a)), str(np.result_type(a))) for a in arrays)


class JaxModelHandle(ModelHandle):
    """A Flax model with its parameters, optimizer state and dropout RNG on the backend's mesh."""

    def __init__(
        self,
        backend: "JaxBackend",
        card: ModelCard,
        config: EncoderConfig,
        inputs: EncoderInputs,
        *,
        seed: int,
        head: HeadSpec | None,
        optimizer: OptimizerSettings | None,
    ) -> None:
        self.backend = backend
        self.card = card
        self.config = config
        self.inputs = inputs
        self.head_spec = head
        self.seed = int(seed)
        self.step = 0
        self.compile_seconds = 0.0
        self.compile_breakdown: dict[str, float] = {}
        self._compiled: dict[tuple[Any, ...], Any] = {}
        self._bf16 = backend.precision == "bf16"

        encoder = card.factory(config, inputs)
        if not isinstance(encoder, flax.linen.Module):
            raise TypeError(f"{card.id}: factory returned {type(encoder).__name__}, not a flax.linen.Module")
        self.model = Model(encoder=encoder, head=ClassifierHead(head) if head is not None else None)

        self.opt_settings = optimizer or OptimizerSettings()
        self.tx = self._optimizer(self.opt_settings)

        root = jax.random.PRNGKey(self.seed)
        init_key = jax.random.fold_in(root, 0)
        self.dropout_key = np.asarray(jax.random.fold_in(root, 1))

        pair = head is not None and head.pair
        shape = (1, 2, inputs.max_length) if pair else (1, inputs.max_length)
        dummy_tokens = jnp.zeros(shape, jnp.int32)
        dummy_mask = jnp.ones(shape, jnp.bool_)
        rep = backend.replicated

        def init(key: jax.Array) -> Any:
            return self.model.init({"params": key}, dummy_tokens, dummy_mask, train=False)["params"]

        # Compiled: op-by-op initialisation compiles every op separately and is slower.
        self.params = jax.jit(init, out_shardings=rep)(init_key)
        self.opt_state = jax.jit(self.tx.init, out_shardings=rep)(self.params)
        self._last: Any = None

    # ---- optimizer / pure step functions ----------------------------------------------------------
    @staticmethod
    def _optimizer(s: OptimizerSettings) -> optax.GradientTransformation:
        parts = []
        if s.grad_clip_norm is not None:
            parts.append(optax.clip_by_global_norm(s.grad_clip_norm))
        parts.append(optax.scale_by_adam(b1=s.beta1, b2=s.beta2, eps=s.eps))
        if s.weight_decay:
            # Added after Adam, then scaled by lr with it: p - lr*adam - lr*wd*p (decoupled, all params).
            parts.append(optax.add_decayed_weights(s.weight_decay))
        return optax.chain(*parts)

    def _compute_params(self, params: Any) -> Any:
        if not self._bf16:
            return params
        return jax.tree.map(lambda p: p.astype(jnp.bfloat16) if jnp.issubdtype(p.dtype, jnp.floating) else p, params)

    def _loss(self, params: Any, tokens: jax.Array, mask: jax.Array, labels: jax.Array, rng: jax.Array) -> jax.Array:
        logits = self.model.apply(
            {"params": self._compute_params(params)}, tokens, mask, train=True, rngs={"dropout": rng}
        )
        # LRA: summed softmax cross-entropy divided by the number of examples.
        return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()

    def _train_fn(
        self, params: Any, opt_state: Any, tokens: jax.Array, mask: jax.Array, labels: jax.Array,
        lr: jax.Array, step: jax.Array, dropout_key: jax.Array,
    ) -> tuple[Any, Any, jax.Array]:
        rng = jax.random.fold_in(dropout_key, step)
        loss, grads = jax.value_and_grad(self._loss)(params, tokens, mask, labels, rng)
        updates, opt_state = self.tx.update(grads, opt_state, params)
        params = jax.tree.map(lambda p, u: (p - lr * u).astype(p.dtype), params, updates)
        return params, opt_state, loss

    def _eval_fn(self, params: Any, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        return self.model.apply({"params": self._compute_params(params)}, tokens, mask, train=False).astype(jnp.float32)

    def _encode_fn(self, params: Any, tokens: jax.Array, mask: jax.Array, rng: jax.Array, train: bool) -> jax.Array:
        return self.model.apply(
            {"params": self._compute_params(params)}, tokens, mask, train,
            method=Model.encode, rngs={"dropout": rng},
        ).astype(jnp.float32)

    def _encoder_grad_fn(self, params: Any, tokens: jax.Array, mask: jax.Array) -> Any:
        def objective(enc_params: Any) -> jax.Array:
            full = {**params, "encoder": enc_params}
            out = self.model.apply({"params": full}, tokens, mask, False, method=Model.encode)
            return pool(out, mask, "mean").sum()

        return jax.grad(objective)(params["encoder"])

    # ---- compilation ------------------------------------------------------------------------------
    def _run(self, kind: str, fn: Callable[..., Any], args: tuple[Any, ...], batch_args: tuple[int, ...],
             static: tuple[Any, ...] = (), donate: tuple[int, ...] = (), outs: Any = None) -> Any:
        """Run ``fn(*args)`` through an ahead-of-time compiled executable cached per signature.

        Arguments at positions ``batch_args`` are sharded over the batch axis (when it divides);
        the rest are replicated. The first call for a signature compiles and adds the time to
        ``compile_seconds``.
        """
        be = self.backend
        batch = np.shape(args[batch_args[0]])[0] if batch_args else 0
        shard_batch = bool(batch_args) and batch % be.num_devices == 0
        key = (kind, static, shard_batch, _signature(*[a for i, a in enumerate(args) if i in batch_args]))
        compiled = self._compiled.get(key)
        if compiled is None:
            in_sh = tuple(
                (be.batch_sharding if shard_batch else be.replicated) if i in batch_args else be.replicated
                for i in range(len(args))
            )
            jitted = jax.jit(
                (lambda *a: fn(*a, *static)) if static else fn,
                in_shardings=in_sh,
                out_shardings=outs if outs is not None else be.replicated,
                donate_argnums=donate if be.donate else (),
            )
            t0 = time.perf_counter()
            with be.matmul_precision():
                compiled = jitted.lower(*args).compile()
            dt = time.perf_counter() - t0
            self.compile_seconds += dt
            self.compile_breakdown[kind] = self.compile_breakdown.get(kind, 0.0) + dt
            self._compiled[key] = compiled
        try:
            return compiled(*args)
        except Exception as exc:
            if _is_oom(exc):
                raise OutOfMemory(str(exc).splitlines()[0]) from exc
            raise

    def _check_batch(self, tokens: np.ndarray) -> None:
        pair = self.head_spec is not None and self.head_spec.pair
        want = 3 if pair else 2
        if np.ndim(tokens) != want:
            kind = "pair" if pair else "single"
            raise ValueError(f"{self.card.id}: a {kind}-input model expects tokens of rank {want}, got {np.shape(tokens)}")

    # ---- the contract -----------------------------------------------------------------------------
    def train_step(self, batch: Batch, lr: float) -> jax.Array:
        if self.head_spec is None:
            raise RuntimeError("train_step needs a model built with a head (HeadSpec)")
        self._check_batch(batch.tokens)
        args = (
            self.params, self.opt_state, batch.tokens, batch.mask, batch.labels,
            np.float32(lr), np.uint32(self.step), self.dropout_key,
        )
        self.params, self.opt_state, loss = self._run("train_step", self._train_fn, args, (2, 3, 4), donate=(0, 1))
        self.step += 1
        self._last = loss
        return loss

    def eval_step(self, batch: Batch) -> np.ndarray:
        if self.head_spec is None:
            raise RuntimeError("eval_step needs a model built with a head (HeadSpec)")
        self._check_batch(batch.tokens)
        logits = self._run("eval_step", self._eval_fn, (self.params, batch.tokens, batch.mask), (1, 2))
        return np.asarray(jax.device_get(logits), dtype=np.float32)

    def encode(self, tokens: np.ndarray, mask: np.ndarray, *, train: bool = False, seed: int = 0) -> np.ndarray:
        rng = np.asarray(jax.random.PRNGKey(seed))
        tokens, mask = _flat_pair(tokens, mask)
        out = self._run("encode", self._encode_fn, (self.params, tokens, mask, rng), (1, 2), static=(bool(train),))
        return np.asarray(jax.device_get(out), dtype=np.float32)

    def export_params(self) -> dict[str, np.ndarray]:
        return to_canonical(jax.device_get(self.params))

    def import_params(self, params: dict[str, np.ndarray]) -> None:
        template = jax.device_get(self.params)
        tree = from_canonical(params, template)
        self.params = jax.device_put(tree, self.backend.replicated)

    def save_checkpoint(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_savez(directory / "params.npz", self.export_params())
        _atomic_savez(directory / "optimizer.npz", _tree_to_named(jax.device_get(self.opt_state)))
        _atomic_savez(directory / "rng.npz", {"dropout_key": np.asarray(self.dropout_key)})
        from lra_core.io import write_json_atomic

        write_json_atomic(
            directory / "jax_state.json",
            {"format": CHECKPOINT_FORMAT, "framework": "jax", "model": self.card.id, "step": self.step, "seed": self.seed},
        )

    def load_checkpoint(self, directory: Path) -> None:
        directory = Path(directory)
        meta_path = directory / "jax_state.json"
        if not meta_path.exists():
            raise UserError(f"{directory}: not a JAX checkpoint (no jax_state.json)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise UserError(f"{meta_path}: checkpoint format {meta.get('format')} is not {CHECKPOINT_FORMAT}")
        with np.load(directory / "params.npz") as z:
            self.import_params({k: z[k] for k in z.files})
        with np.load(directory / "optimizer.npz") as z:
            saved = {k: z[k] for k in z.files}
        flat, treedef = jax.tree_util.tree_flatten_with_path(jax.device_get(self.opt_state))
        leaves = []
        for path, leaf in flat:
            name = jax.tree_util.keystr(path)
            if name not in saved or np.shape(saved[name]) != np.shape(leaf):
                raise UserError(f"{directory / 'optimizer.npz'}: optimizer entry {name} missing or misshapen")
            leaves.append(np.asarray(saved[name], dtype=np.asarray(leaf).dtype))
        self.opt_state = jax.device_put(jax.tree_util.tree_unflatten(treedef, leaves), self.backend.replicated)
        with np.load(directory / "rng.npz") as z:
            self.dropout_key = np.asarray(z["dropout_key"])
        self.step = int(meta["step"])
        self.seed = int(meta["seed"])

    def encoder_gradients(self, tokens: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        args = (self.params, *_flat_pair(tokens, mask))
        grads = self._run("encoder_gradients", self._encoder_grad_fn, args, (1, 2))
        return to_canonical(jax.device_get(grads), prefix="encoder.")

    def encode_preserves_inputs(self, tokens: np.ndarray, mask: np.ndarray) -> bool:
        tokens, mask = _flat_pair(tokens, mask)
        t_dev, m_dev = jax.device_put(tokens), jax.device_put(mask)
        t_before, m_before = np.array(t_dev), np.array(m_dev)
        out = self.model.apply({"params": self.params}, t_dev, m_dev, False, method=Model.encode)
        jax.block_until_ready(out)
        return bool(np.array_equal(np.asarray(t_dev), t_before) and np.array_equal(np.asarray(m_dev), m_before))

    def count_flops(self, tokens: np.ndarray, mask: np.ndarray, *, train_step: bool = False) -> float | None:
        tokens = np.asarray(tokens, np.int32)
        mask = np.asarray(mask, np.bool_)
        args: tuple[Any, ...]
        if train_step and self.head_spec is not None:
            labels = np.zeros(tokens.shape[0], np.int32)
            fn = jax.jit(self._train_fn)
            args = (self.params, self.opt_state, tokens, mask, labels, np.float32(0.0), np.uint32(0), self.dropout_key)
        elif train_step:
            # Encoder only (as torch): forward + backward of the mean-pooled output's sum.
            fn = jax.jit(self._encoder_grad_fn)
            args = (self.params, *_flat_pair(tokens, mask))
        else:
            tokens, mask = _flat_pair(tokens, mask)
            rng = np.asarray(jax.random.PRNGKey(0))
            fn = jax.jit(lambda p, t, m, r: self._encode_fn(p, t, m, r, False))
            args = (self.params, tokens, mask, rng)
        with self.backend.matmul_precision():
            analysis = fn.lower(*args).compile().cost_analysis()
        if isinstance(analysis, (list, tuple)):
            analysis = analysis[0] if analysis else None
        if not analysis or "flops" not in analysis:
            return None
        return float(analysis["flops"])

    def block_until_ready(self) -> None:
        jax.block_until_ready((self.params, self.opt_state, self._last))


class JaxBackend(Backend):
    """JAX/Flax on all local devices of one platform (data parallel over the batch axis)."""

    framework = "jax"
    description = "JAX/Flax: AOT-compiled jit steps, optax AdamW (LRA decay), data parallel over local devices"

    def __init__(self, device: str = "auto", precision: str = "fp32", compile: bool = False) -> None:
        if precision not in ("fp32", "bf16"):
            raise UserError(f"--precision {precision!r}: use fp32 or bf16")
        super().__init__(device, precision, compile)  # type: ignore[arg-type]
        self.devices = select_devices(device)
        self.platform = self.devices[0].platform
        self.mesh = Mesh(np.array(self.devices), ("batch",))
        self.replicated = NamedSharding(self.mesh, PartitionSpec())
        self.batch_sharding = NamedSharding(self.mesh, PartitionSpec("batch"))
        # Buffer donation halves parameter/optimizer memory on accelerators; the CPU client ignores it.
        self.donate = self.platform != "cpu"
        self._handles: "weakref.WeakSet[JaxModelHandle]" = weakref.WeakSet()
        self._cpu_meter = ProcessPeakMemory()

    @property
    def num_devices(self) -> int:
        return len(self.devices)

    def matmul_precision(self) -> Any:
        """Context for tracing: full-float32 matmuls under fp32 (no TF32), the default under bf16."""
        return jax.default_matmul_precision("float32" if self.precision == "fp32" else "default")

    def build(
        self,
        card: ModelCard,
        config: EncoderConfig,
        inputs: EncoderInputs,
        *,
        seed: int,
        head: HeadSpec | None = None,
        optimizer: OptimizerSettings | None = None,
    ) -> JaxModelHandle:
        if card.framework != self.framework:
            raise PluginError(f"model {card.id} is a {card.framework} model; the jax backend builds jax models only")
        handle = JaxModelHandle(self, card, config, inputs, seed=seed, head=head, optimizer=optimizer)
        self._handles.add(handle)
        return handle

    def sync(self) -> None:
        for handle in list(self._handles):
            handle.block_until_ready()
        jax.effects_barrier()

    def reset_peak_memory(self) -> None:
        if self.platform == "cpu":
            self._cpu_meter.reset()

    def peak_memory_bytes(self) -> int | None:
        if self.platform == "cpu":
            return self._cpu_meter.peak_bytes()
        return device_peak_bytes(self.devices)

    def describe_device(self) -> dict[str, Any]:
        d0 = self.devices[0]
        try:
            platform_version = d0.client.platform_version
        except Exception:
            platform_version = None
        import jaxlib

        info: dict[str, Any] = {
            "framework": "jax",
            "kind": self.platform,
            "device": str(d0),
            "name": getattr(d0, "device_kind", str(d0)),
            "count": self.num_devices,
            "devices": [str(d) for d in self.devices],
            "driver": platform_version,
            "precision": self.precision,
            "versions": {
                "jax": jax.__version__,
                "jaxlib": jaxlib.__version__,
                "flax": flax.__version__,
                "optax": optax.__version__,
            },
        }
        if self.platform == "cpu":
            from lra_core.environment import cpu_name

            info["name"] = cpu_name()
        stats = None
        try:
            stats = d0.memory_stats()
        except Exception:
            pass
        if stats and "bytes_limit" in stats:
            info["memory_bytes"] = int(stats["bytes_limit"])
        return info

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return super().is_out_of_memory(exc) or _is_oom(exc)
