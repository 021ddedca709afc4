#!/usr/bin/env python3
"""llem's PyTorch worker: runs a Hugging Face transformers model for the C
harness over JSON lines on stdin/stdout (protocol v1, docs/pytorch-protocol.md).

The harness measures (energy, timing aggregation); this process only loads
and runs the model and stamps each decoding step with CLOCK_MONOTONIC, the
clock the harness reads too. stdout is the protocol channel and nothing else
may write to it: at start the real stdout is duplicated for the protocol and
fd 1 is pointed at stderr, which is the worker's log.

Needs Python 3.10+, torch and transformers; nothing else. torch and
transformers are imported lazily so that `--check` and `hello` can report
them missing instead of crashing.
"""
import json
import math
import os
import re
import signal
import sys
import time
import traceback

PROTOCOL = 1
WORKER = "llem-pytorch-worker 1"

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
TENSOR_STRIDE = 0xD1B54A32D192ED03
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
# Elements per chunk when filling synthetic weights: large on a GPU (few
# kernel launches; ~0.5 GB of temporaries), cache-sized on a CPU.
CHUNK_GPU = 1 << 24
CHUNK_CPU = 1 << 20

DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}

# Synthetic recipe: the number k of each per-layer tensor (tensor number
# 1 + 16 i + k) and how it is filled; see src/engine/synthetic.c.
LAYER_TENSORS = {
    "input_layernorm.weight": (0, "ones"),
    "self_attn.q_proj.weight": (1, "weight"),
    "self_attn.k_proj.weight": (2, "weight"),
    "self_attn.v_proj.weight": (3, "weight"),
    "self_attn.o_proj.weight": (4, "weight"),
    "self_attn.q_proj.bias": (5, "bias"),
    "self_attn.k_proj.bias": (6, "bias"),
    "self_attn.v_proj.bias": (7, "bias"),
    "post_attention_layernorm.weight": (8, "ones"),
    "mlp.gate_proj.weight": (9, "weight"),
    "mlp.up_proj.weight": (10, "weight"),
    "mlp.down_proj.weight": (11, "weight"),
}
LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
BIAS_SCALE = 0.02


class Reply(Exception):
    """An ok:false reply: error type, message and optional extra fields."""

    def __init__(self, etype, message, **extra):
        super().__init__(message)
        self.etype = etype
        self.message = message
        self.extra = extra


# ---------------------------------------------------------------- imports

_ML = None


def _import_status():
    """Imports torch and transformers; returns (torch, transformers, missing)
    where missing lists (module, why) for each that failed."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    missing = []
    torch = transformers = None
    try:
        import torch  # noqa: F811
    except Exception as e:  # a broken install counts as missing too
        missing.append(("torch", "%s: %s" % (type(e).__name__, e)))
    if torch is not None:
        try:
            import transformers  # noqa: F811
        except Exception as e:
            missing.append(("transformers", "%s: %s" % (type(e).__name__, e)))
    else:
        # Without torch, transformers cannot be used: report it when it is
        # absent as well, without importing it (that would need torch).
        import importlib.util
        if importlib.util.find_spec("transformers") is None:
            missing.append(("transformers", "ModuleNotFoundError: No module named 'transformers'"))
    return torch, transformers, missing


def _install_hint(names):
    pkgs = " ".join(names)
    return "pip install %s (with this interpreter: %s -m pip install %s)" % (
        pkgs, sys.executable, pkgs)


def _ml():
    """(torch, transformers), importing them on first use; raises an
    ImportError reply naming what is missing."""
    global _ML
    if _ML is None:
        torch, transformers, missing = _import_status()
        if missing:
            names = [m for m, _ in missing]
            raise Reply("ImportError",
                        "missing Python modules for the pytorch backend: %s (%s)" % (
                            ", ".join(names), "; ".join(w for _, w in missing)),
                        missing=names, hint=_install_hint(names))
        try:
            transformers.utils.logging.disable_progress_bar()
        except Exception:
            pass
        _ML = (torch, transformers)
    return _ML


def _tf_version_tuple(transformers):
    out = []
    for part in transformers.__version__.split(".")[:2]:
        m = re.match(r"\d+", part)
        out.append(int(m.group(0)) if m else 0)
    return tuple(out)


def _dtype_kwarg(transformers):
    """transformers 4.56 renamed from_pretrained's torch_dtype to dtype (the
    old name warns in 5.x)."""
    return "dtype" if _tf_version_tuple(transformers) >= (4, 56) else "torch_dtype"


# ---------------------------------------------------------- the recipe

def _s64(x):
    """An unsigned 64-bit value as the signed int64 with the same bits."""
    x &= MASK64
    return x - (1 << 64) if x >= (1 << 63) else x


def synthetic_base(seed, number):
    return (seed * GOLDEN + number * TENSOR_STRIDE) & MASK64


def fill_uniform(torch, param, seed, number, scale, chunk=None):
    """Overwrites param (any float dtype, any device) with the recipe's values
    for tensor `number`: element j is the bf16 rounding of the float32
    rounding of ((mix64(base + j) >> 11) * 2^-52 - 1) * scale. Computed in
    int64 on the param's device, chunk elements at a time in reused
    buffers; int64 additions and products wrap, which is the arithmetic
    mod 2^64 the recipe needs, and logical shifts are arithmetic shifts
    with the sign-extended bits masked off."""
    base = _s64(synthetic_base(seed, number))
    flat = param.data.view(-1)
    n = flat.numel()
    if n == 0:
        return
    dev = flat.device
    if chunk is None:
        chunk = CHUNK_CPU if dev.type == "cpu" else CHUNK_GPU
    size = min(n, chunk)
    z_buf = torch.empty(size, dtype=torch.int64, device=dev)
    t_buf = torch.empty(size, dtype=torch.int64, device=dev)
    u_buf = torch.empty(size, dtype=torch.float64, device=dev)
    f_buf = torch.empty(size, dtype=torch.float32, device=dev)
    b_buf = torch.empty(size, dtype=torch.bfloat16, device=dev)
    steps = ((30, _s64(MIX1)), (27, _s64(MIX2)), (31, None))
    with torch.no_grad():
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            m = e - s
            z, t = z_buf[:m], t_buf[:m]
            torch.arange(s, e, dtype=torch.int64, device=dev, out=z)
            z.add_(base)
            for k, mult in steps:  # z ^= z >>> k; z *= mult
                torch.bitwise_right_shift(z, k, out=t)
                t.bitwise_and_((1 << (64 - k)) - 1)
                z.bitwise_xor_(t)
                if mult is not None:
                    z.mul_(mult)
            torch.bitwise_right_shift(z, 11, out=t)
            t.bitwise_and_((1 << 53) - 1)
            u = u_buf[:m]
            u.copy_(t)  # exact: below 2^53
            u.mul_(2.0 ** -52).sub_(1.0).mul_(scale)
            f_buf[:m].copy_(u)       # round to nearest even, as C's (float)
            b_buf[:m].copy_(f_buf[:m])  # round to nearest even
            flat[s:e].copy_(b_buf[:m])


def synthetic_plan(model, text_config):
    """[(name, param, tensor number or None for ones, scale)] for every
    parameter of a synthetic model; raises a LoadError reply for any
    parameter outside the recipe. A tied lm_head sharing the embedding's
    storage is skipped; a separate one in a tied config gets tensor 0's
    values (what tying means)."""
    n_layers = int(text_config.num_hidden_layers)
    tied = bool(getattr(text_config, "tie_word_embeddings", False))
    plan, problems, seen = [], [], {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            continue  # shared storage (tied weights) is filled once
        seen[id(p)] = name
        number, kind = None, None
        if name == "model.embed_tokens.weight":
            number, kind = 0, "weight"
        elif name == "model.norm.weight":
            number, kind = 1 + 16 * n_layers, "ones"
        elif name == "lm_head.weight":
            number, kind = (0 if tied else 2 + 16 * n_layers), "weight"
        else:
            m = LAYER_RE.match(name)
            if m and int(m.group(1)) < n_layers and m.group(2) in LAYER_TENSORS:
                k, kind = LAYER_TENSORS[m.group(2)]
                number = 1 + 16 * int(m.group(1)) + k
        if kind is None:
            problems.append(name)
            continue
        want_dims = 2 if kind == "weight" else 1
        if p.dim() != want_dims:
            raise Reply("LoadError", "synthetic model: parameter %s has shape %s, expected %d dimensions"
                        % (name, list(p.shape), want_dims))
        if kind == "ones":
            plan.append((name, p, None, 1.0))
        elif kind == "bias":
            plan.append((name, p, number, BIAS_SCALE))
        else:
            plan.append((name, p, number, math.sqrt(3.0 / float(p.shape[1]))))
    if problems:
        raise Reply("LoadError",
                    "synthetic model: %d parameter(s) outside llem's synthetic recipe "
                    "(the architecture is not one the recipe covers): %s"
                    % (len(problems), ", ".join(problems[:12]) + (" ..." if len(problems) > 12 else "")))
    return plan


def synthetic_fill(torch, model, text_config, seed, chunk=None):
    for _name, p, number, scale in synthetic_plan(model, text_config):
        if number is None:
            with torch.no_grad():
                p.data.fill_(1.0)
        else:
            fill_uniform(torch, p, seed, number, scale, chunk)


def synthetic_config(transformers, config):
    """The HF config object for a preset's config dict (keys starting with
    '_' dropped)."""
    cfg = {k: v for k, v in config.items() if not k.startswith("_")}
    model_type = cfg.pop("model_type", None)
    if not isinstance(model_type, str):
        raise Reply("LoadError", "synthetic config has no model_type")
    try:
        return transformers.AutoConfig.for_model(model_type, **cfg)
    except Exception as e:
        raise Reply("LoadError", "synthetic config: %s: %s" % (type(e).__name__, e))


def build_synthetic(torch, transformers, config, seed, dtype, device, attn_implementation=None):
    """A synthetic model built directly on `device` with the recipe's weights."""
    cfg = synthetic_config(transformers, config)
    kwargs = {_dtype_kwarg(transformers): dtype}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(cfg, **kwargs)
    model.eval()
    synthetic_fill(torch, model, _text_config(model.config), seed)
    for name, p in model.named_parameters():
        if p.dtype != dtype:
            raise Reply("LoadError", "synthetic model: parameter %s has dtype %s, expected %s"
                        % (name, p.dtype, dtype))
    return model


# ------------------------------------------------------------ channel

class Channel:
    """The protocol channel: one JSON object per line on a private duplicate
    of the original stdout, written whole and flushed at once."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, obj):
        try:
            text = json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except ValueError:  # a NaN or infinity slipped in: never send one
            text = json.dumps(_finite(obj), allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        data = (text + "\n").encode("utf-8", "backslashreplace")
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except (BrokenPipeError, OSError):
            # The harness is gone: nobody is left to serve.
            _log("protocol channel closed; exiting")
            os._exit(1)


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _log(msg):
    try:
        sys.stderr.write("llem-pytorch-worker: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def _protect_stdout():
    """Duplicates fd 1 for the protocol and points fd 1 and sys.stdout at
    stderr, so stray prints from libraries land in the log."""
    fd = os.dup(1)  # non-inheritable (PEP 446): children cannot write to it
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return fd


def _die_with_parent():
    """SIGKILL when the parent dies (Linux; failure is ignored). A parent
    that died before the prctl is caught by the parent pid changing."""
    if not sys.platform.startswith("linux"):
        return
    ppid = os.getppid()
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        return
    if os.getppid() != ppid:
        os._exit(1)


# ---------------------------------------------------------- arguments

# Argument kinds: "int", "uint64", "bool", "float", "str", "dict",
# "list". Every argument is nullable unless listed in REQUIRED.
ARGS = {
    "hello": {},
    "shutdown": {},
    "memory": {"reset": "bool"},
    "load": {
        "model": "str", "synthetic": "dict", "dtype": "str", "device": "str",
        "device_map": "str", "max_memory": "str", "attn_implementation": "str",
        "torch_compile": "bool", "torch_compile_mode": "str", "torch_compile_backend": "str",
        "load_in_4bit": "bool", "load_in_8bit": "bool", "bnb_4bit_compute_dtype": "str",
        "bnb_4bit_quant_type": "str", "bnb_4bit_use_double_quant": "bool",
        "revision": "str", "trust_remote_code": "bool", "threads": "int",
    },
    "generate": {
        "input_ids": "list", "prompts": "list", "max_input_tokens": "int",
        "max_new_tokens": "int", "min_new_tokens": "int", "do_sample": "bool",
        "temperature": "float", "top_p": "float", "min_p": "float", "top_k": "int",
        "repetition_penalty": "float", "num_beams": "int", "no_repeat_ngram_size": "int",
        "prompt_lookup_num_tokens": "int", "early_stopping": "bool", "length_penalty": "float",
        "use_cache": "bool", "cache_implementation": "str", "seed": "uint64",
        "eos_token_id": "eos", "pad_token_id": "int",
    },
}
REQUIRED = {"generate": ("max_new_tokens",)}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_type(op, key, kind, v):
    ok = {
        "int": _is_int(v),
        "uint64": _is_int(v) and 0 <= v <= MASK64,
        "bool": isinstance(v, bool),
        "float": (_is_int(v) or isinstance(v, float)),
        "str": isinstance(v, str),
        "dict": isinstance(v, dict),
        "list": isinstance(v, list),
        "eos": _is_int(v) or (isinstance(v, list) and len(v) > 0 and all(_is_int(x) for x in v)),
    }[kind]
    if not ok:
        want = {"uint64": "an integer in [0, 2^64)", "eos": "an integer or a non-empty list of integers",
                "dict": "an object", "list": "an array", "float": "a number",
                "int": "an integer", "bool": "a boolean", "str": "a string"}[kind]
        raise Reply("ProtocolError", "%s: argument '%s' must be %s or null, got %s"
                    % (op, key, want, json.dumps(v)[:80]))


def _args(op, req):
    spec = ARGS[op]
    unknown = sorted(k for k in req if k not in ("id", "op") and k not in spec)
    if unknown:
        raise Reply("ProtocolError", "%s: unknown argument(s): %s (known: %s)"
                    % (op, ", ".join(unknown), ", ".join(sorted(spec)) or "none"))
    out = {}
    for key, kind in spec.items():
        v = req.get(key)
        if v is not None:
            _check_type(op, key, kind, v)
            if kind == "float":
                v = float(v)
        out[key] = v
    for key in REQUIRED.get(op, ()):
        if out[key] is None:
            raise Reply("ProtocolError", "%s: argument '%s' is required" % (op, key))
    return out


# ------------------------------------------------------------- worker

def _text_config(config):
    try:
        return config.get_text_config()
    except Exception:
        return config


def _first_int(v):
    if isinstance(v, (list, tuple)):
        return int(v[0]) if v else None
    return int(v) if _is_int(v) else None


def _int_list(v):
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [int(x) for x in v if _is_int(x)]
    return [int(v)] if _is_int(v) else []


UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12,
         "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


def parse_max_memory(text):
    """'0=20GiB,cpu=60GiB' -> {0: 21474836480, 'cpu': 64424509440}: byte
    counts, which every transformers/accelerate version takes as they are
    (their own string parsing differs between versions: fractions, and
    'Gb' read as gigabits). Units B, KB, MB, GB, TB (powers of 10) and
    KiB, MiB, GiB, TiB (powers of 2), any case, always bytes. A LoadError
    reply on bad syntax."""
    out = {}
    size_re = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$")
    for part in text.split(","):
        part = part.strip()
        if "=" not in part:
            raise Reply("LoadError", "max_memory: '%s' is not DEVICE=SIZE (e.g. '0=20GiB,cpu=60GiB')" % part)
        key, size = (x.strip() for x in part.split("=", 1))
        if re.fullmatch(r"\d+", key):
            dkey = int(key)
        elif re.fullmatch(r"cuda:\d+", key):
            dkey = int(key[5:])
        elif key in ("cpu", "disk", "mps") or re.fullmatch(r"(xpu|npu|mlu|hpu):\d+", key):
            dkey = key
        else:
            raise Reply("LoadError", "max_memory: unknown device '%s' (a GPU index, 'cpu' or 'disk')" % key)
        m = size_re.match(size)
        if not m or m.group(2).upper() not in UNITS:
            raise Reply("LoadError", "max_memory: bad size '%s' for device '%s' (e.g. 20GiB, 512MB)" % (size, key))
        if dkey in out:
            raise Reply("LoadError", "max_memory: device '%s' given twice" % key)
        out[dkey] = int(round(float(m.group(1)) * UNITS[m.group(2).upper()]))
    return out


class StepRecorder:
    """A StoppingCriteria that never stops generation: called after every
    decoding step (once the new tokens are in input_ids), it stamps the
    step with CLOCK_MONOTONIC and sends one "step" event naming the rows
    that received a real token."""

    def __init__(self, torch, channel, req_id, batch, prompt_len, eos_ids, num_beams):
        self.torch = torch
        self.channel = channel
        self.req_id = req_id
        self.batch = batch
        self.prev_len = prompt_len
        self.eos = set(eos_ids)
        self.beams = num_beams > 1
        self.done = [False] * batch
        self.tokens = [[] for _ in range(batch)]   # real tokens per row
        self.times = [[] for _ in range(batch)]    # t_ns of each real token
        self.step_times = []

    def __call__(self, input_ids, scores=None, **kwargs):
        torch = self.torch
        if input_ids.is_cuda:
            torch.cuda.synchronize(input_ids.device)
        t = time.monotonic_ns()
        self.step_times.append(t)
        rows, toks = [], []
        if self.beams:
            # input_ids holds batch * k candidate beams; report the first
            # candidate's newest token of each request (beams are not final).
            k = max(1, input_ids.shape[0] // self.batch)
            last = input_ids[::k, -1].tolist()
            for r in range(self.batch):
                rows.append(r)
                toks.append(int(last[r]))
        else:
            new = input_ids[:, self.prev_len:].tolist()
            self.prev_len = input_ids.shape[1]
            for r in range(self.batch):
                for tok in new[r]:
                    if self.done[r]:
                        break
                    rows.append(r)
                    toks.append(int(tok))
                    self.tokens[r].append(int(tok))
                    self.times[r].append(t)
                    if tok in self.eos:
                        self.done[r] = True
        self.channel.send({"id": self.req_id, "event": "step", "t_ns": t,
                           "requests": rows, "tokens": toks})
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class Worker:
    def __init__(self, channel):
        self.channel = channel
        self.model = None
        self.tokenizer = None
        self.info = None
        self.device = None
        self.cuda = False

    # ---- ops

    def op_hello(self, req, args):
        torch, transformers = _ml()
        cuda_ok = bool(torch.cuda.is_available())
        devices = []
        if cuda_ok:
            for i in range(torch.cuda.device_count()):
                try:
                    devices.append(torch.cuda.get_device_name(i))
                except Exception:
                    devices.append(None)
        return {"protocol": PROTOCOL, "worker": WORKER, "pid": os.getpid(),
                "python": "%d.%d.%d" % sys.version_info[:3],
                "torch": torch.__version__, "transformers": transformers.__version__,
                "cuda": torch.version.cuda, "cuda_available": cuda_ok, "devices": devices,
                "monotonic_ns": time.monotonic_ns(), "clock": "CLOCK_MONOTONIC"}

    def op_shutdown(self, req, args):
        return {}

    def _resolve_device(self, torch, dev):
        if dev is None:
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        if dev == "cpu":
            return torch.device("cpu")
        m = re.fullmatch(r"cuda(?::(\d+))?", dev)
        if not m:
            raise Reply("LoadError", "device must be 'cpu', 'cuda' or 'cuda:N', got '%s'" % dev)
        if not torch.cuda.is_available():
            raise Reply("LoadError", "device '%s' asked for but CUDA is not available to torch %s (torch.version.cuda=%s)"
                        % (dev, torch.__version__, torch.version.cuda))
        idx = int(m.group(1)) if m.group(1) is not None else torch.cuda.current_device()
        if idx >= torch.cuda.device_count():
            raise Reply("LoadError", "device '%s': only %d CUDA device(s) visible" % (dev, torch.cuda.device_count()))
        return torch.device("cuda", idx)

    def _unload(self, torch):
        if self.model is None:
            return
        self.model = self.tokenizer = self.info = None
        import gc
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def op_load(self, req, args):
        torch, transformers = _ml()
        self._unload(torch)  # a failed load leaves no model loaded
        warnings = []
        model_id, synth = args["model"], args["synthetic"]
        if (model_id is None) == (synth is None):
            raise Reply("ProtocolError", "load: give exactly one of 'model' and 'synthetic'")
        dtype_name = args["dtype"] or "float32"
        if dtype_name not in DTYPES:
            raise Reply("LoadError", "dtype must be one of float32, float16, bfloat16, got '%s'" % dtype_name)
        dtype = getattr(torch, dtype_name)
        device = self._resolve_device(torch, args["device"])
        if args["threads"] is not None:
            if args["threads"] < 1:
                raise Reply("LoadError", "threads must be at least 1")
            torch.set_num_threads(args["threads"])
        q4, q8 = bool(args["load_in_4bit"]), bool(args["load_in_8bit"])
        if q4 and q8:
            raise Reply("LoadError", "Cannot use both load_in_4bit=True and load_in_8bit=True simultaneously")
        bnb4 = [k for k in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant")
                if args[k] is not None]
        if bnb4 and not q4:
            raise Reply("LoadError", "bnb_4bit_* fields require load_in_4bit=True (got %s)" % ", ".join(bnb4))
        if (args["torch_compile_mode"] is not None or args["torch_compile_backend"] is not None) \
                and not args["torch_compile"]:
            raise Reply("LoadError", "torch_compile_mode/torch_compile_backend requires torch_compile=True")

        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.set_device(device)
        t0 = time.monotonic()
        tokenizer = None
        if synth is not None:
            model = self._load_synthetic(torch, transformers, synth, args, dtype, device, warnings)
            gen_cfg = model.generation_config
        else:
            model, tokenizer = self._load_real(torch, transformers, model_id, args, dtype, device,
                                               q4, q8, warnings)
            gen_cfg = model.generation_config
        info = self._model_info(torch, model, tokenizer, gen_cfg, dtype_name, q4, q8)
        # llem passes every decoding setting explicitly; a neutral
        # generation_config keeps the checkpoint's own (e.g. do_sample=True,
        # temperature=0.6) from filling the settings llem leaves unset.
        try:
            diff = gen_cfg.to_diff_dict() if gen_cfg is not None else {}
            # Token ids and output switches do not change decoding; only
            # settings such as do_sample or temperature are worth a line.
            quiet = ("transformers_version", "_from_model_config", "bos_token_id", "eos_token_id",
                     "pad_token_id", "use_cache", "output_attentions", "output_hidden_states")
            diff = {k: v for k, v in diff.items() if k not in quiet}
            if diff:
                _log("the model's generation_config is not used (llem passes every decoding setting): %s"
                     % json.dumps(diff, default=str)[:400])
        except Exception:
            pass
        model.generation_config = transformers.GenerationConfig()
        if args["torch_compile"]:
            self._compile(torch, transformers, model, args, warnings)
        if self.cuda:
            _sync_all(torch)
        load_s = time.monotonic() - t0
        self.model, self.tokenizer, self.info = model, tokenizer, info
        self.device = info["device"]
        info.update({"tokenizer": "model" if tokenizer is not None else None,
                     "load_s": load_s, "warnings": warnings})
        return info

    def _load_synthetic(self, torch, transformers, synth, args, dtype, device, warnings):
        unknown = sorted(set(synth) - {"preset", "config", "seed"})
        if unknown:
            raise Reply("ProtocolError", "load: unknown key(s) in 'synthetic': %s" % ", ".join(unknown))
        config, seed = synth.get("config"), synth.get("seed", 0)
        if not isinstance(config, dict):
            raise Reply("ProtocolError", "load: synthetic.config must be an object (the preset's config.json)")
        if not _is_int(seed) or not 0 <= seed <= MASK64:
            raise Reply("ProtocolError", "load: synthetic.seed must be an integer in [0, 2^64)")
        if args["load_in_4bit"] or args["load_in_8bit"]:
            raise Reply("LoadError", "load_in_4bit/load_in_8bit are not supported for synthetic models "
                        "(bitsandbytes quantises while loading a checkpoint; save the model first)")
        for k in ("device_map", "max_memory", "revision"):
            if args[k] is not None:
                warnings.append("%s is ignored for synthetic models (built on %s)" % (k, device))
        try:
            return build_synthetic(torch, transformers, config, seed, dtype, device,
                                   args["attn_implementation"])
        except Reply:
            raise
        except Exception as e:
            if _is_oom(torch, e):
                raise
            raise Reply("LoadError", "synthetic model %s: %s: %s" % (synth.get("preset"), type(e).__name__, e))

    def _load_real(self, torch, transformers, model_id, args, dtype, device, q4, q8, warnings):
        kw = {_dtype_kwarg(transformers): dtype, "local_files_only": True,
              "trust_remote_code": bool(args["trust_remote_code"])}
        if args["revision"] is not None:
            kw["revision"] = args["revision"]
        if args["attn_implementation"] is not None:
            kw["attn_implementation"] = args["attn_implementation"]
        device_map = args["device_map"]
        if device_map is None and device.type == "cuda":
            device_map = "auto"
        if device_map is not None:
            kw["device_map"] = device_map
        if args["max_memory"] is not None:
            mm = parse_max_memory(args["max_memory"])
            if device_map is None:
                warnings.append("max_memory is ignored without a device_map")
            else:
                kw["max_memory"] = mm
        if q4 or q8:
            try:
                import bitsandbytes  # noqa: F401
            except Exception as e:
                raise Reply("LoadError", "load_in_%dbit needs the bitsandbytes package (%s: %s); %s"
                            % (4 if q4 else 8, type(e).__name__, e, _install_hint(["bitsandbytes"])))
            qkw = {"load_in_4bit": q4, "load_in_8bit": q8}
            if args["bnb_4bit_compute_dtype"] is not None:
                name = args["bnb_4bit_compute_dtype"]
                if name not in DTYPES:
                    raise Reply("LoadError", "bnb_4bit_compute_dtype must be float32, float16 or bfloat16")
                qkw["bnb_4bit_compute_dtype"] = getattr(torch, name)
            if args["bnb_4bit_quant_type"] is not None:
                qkw["bnb_4bit_quant_type"] = args["bnb_4bit_quant_type"]
            if args["bnb_4bit_use_double_quant"] is not None:
                qkw["bnb_4bit_use_double_quant"] = args["bnb_4bit_use_double_quant"]
            try:
                kw["quantization_config"] = transformers.BitsAndBytesConfig(**qkw)
            except Exception as e:
                raise Reply("LoadError", "BitsAndBytesConfig: %s: %s" % (type(e).__name__, e))
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(model_id, **kw)
        except Exception as e:
            if _is_oom(torch, e):
                raise
            raise Reply("LoadError", "loading model '%s' (local files only): %s: %s" % (model_id, type(e).__name__, e))
        if device_map is None and device.type != "cpu":
            model.to(device)
        model.eval()
        tokenizer = None
        tkw = {k: kw[k] for k in ("local_files_only", "trust_remote_code", "revision") if k in kw}
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(model_id, padding_side="left", **tkw)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None and tokenizer.eos_token is not None:
                tokenizer.pad_token = tokenizer.eos_token
        except Exception as e:
            warnings.append("no tokenizer for '%s' (%s: %s); generate needs input_ids"
                            % (model_id, type(e).__name__, str(e)[:200]))
        return model, tokenizer

    def _compile(self, torch, transformers, model, args, warnings):
        """Compiles model.forward (what generate calls; torch.compile(model)
        would wrap a module whose .generate still runs the eager forward)
        and generates two tokens to surface compile errors now. On failure:
        a warning, and the model runs uncompiled."""
        had_own = "forward" in model.__dict__
        orig = model.forward
        kw = {}
        if args["torch_compile_mode"] is not None:
            kw["mode"] = args["torch_compile_mode"]
        if args["torch_compile_backend"] is not None:
            kw["backend"] = args["torch_compile_backend"]
        try:
            model.forward = torch.compile(orig, **kw)
            dev = next(model.parameters()).device
            ids = torch.zeros((1, 2), dtype=torch.long, device=dev)
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                               generation_config=transformers.GenerationConfig(
                                   max_new_tokens=2, do_sample=False, pad_token_id=0))
        except Exception as e:
            _log("torch.compile failed:\n" + traceback.format_exc())
            if had_own:
                model.forward = orig
            else:
                try:
                    del model.forward
                except AttributeError:
                    pass
            warnings.append("torch.compile failed; running uncompiled: %s: %s" % (type(e).__name__, str(e)[:300]))

    def _model_info(self, torch, model, tokenizer, gen_cfg, dtype_name, q4, q8):
        cfg = _text_config(model.config)
        total = 0
        wbytes = 0
        for p in model.parameters():  # unique parameters (tied counted once)
            qs = getattr(p, "quant_state", None)
            shape = getattr(qs, "shape", None) if qs is not None else None
            total += int(math.prod(shape)) if shape is not None else p.numel()
            wbytes += p.numel() * p.element_size()
        for mod in model.modules():  # persistent buffers: quantisation state lives there in some formats
            npb = getattr(mod, "_non_persistent_buffers_set", set())
            for bname, b in mod.named_buffers(recurse=False):
                if b is not None and bname not in npb:
                    wbytes += b.numel() * b.element_size()
        emb = model.get_input_embeddings()
        emb_params = emb.weight.numel() if emb is not None else 0
        out_emb = model.get_output_embeddings()
        tied = bool(out_emb is not None and emb is not None and out_emb.weight is emb.weight)
        heads = getattr(cfg, "num_attention_heads", None)
        hidden = getattr(cfg, "hidden_size", None)
        head_dim = getattr(cfg, "head_dim", None)
        if head_dim is None and heads and hidden:
            head_dim = hidden // heads
        kv = getattr(cfg, "num_key_value_heads", None) or heads
        inter = getattr(cfg, "intermediate_size", None)
        if inter is None:
            inter = getattr(cfg, "n_inner", None) or (4 * hidden if hidden and cfg.model_type == "gpt2" else None)

        eos_list = []
        for src in (getattr(gen_cfg, "eos_token_id", None), getattr(cfg, "eos_token_id", None),
                    getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None):
            eos_list = _int_list(src)
            if eos_list:
                break
        pad = None
        for src in (getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None,
                    getattr(cfg, "pad_token_id", None), getattr(gen_cfg, "pad_token_id", None)):
            pad = _first_int(src)
            if pad is not None:
                break
        if pad is None and eos_list:
            pad = eos_list[0]
        dev = next(model.parameters()).device
        return {"architecture": cfg.model_type, "params_total": total,
                "params_non_embedding": total - emb_params - (0 if tied or out_emb is None
                                                                 else out_emb.weight.numel()), "embedding_params": emb_params,
                "tied": tied, "layers": getattr(cfg, "num_hidden_layers", None),
                "hidden_size": hidden, "intermediate_size": inter, "heads": heads, "kv_heads": kv,
                "head_dim": head_dim, "vocab_size": getattr(cfg, "vocab_size", None),
                "dtype": "int4" if q4 else "int8" if q8 else DTYPES[dtype_name],
                "device": str(dev), "weight_bytes": wbytes,
                "eos_token_id": eos_list[0] if eos_list else None, "eos_token_ids": eos_list,
                "pad_token_id": pad}

    def op_generate(self, req, args):
        if self.model is None:
            raise Reply("ProtocolError", "generate before a successful load")
        torch, transformers = _ml()
        model, info = self.model, self.info
        if args["max_new_tokens"] < 1:
            raise Reply("GenerateError", "max_new_tokens must be at least 1")
        min_new = args["min_new_tokens"] or 0
        if min_new < 0 or min_new > args["max_new_tokens"]:
            raise Reply("GenerateError", "min_new_tokens must be in [0, max_new_tokens]")
        ids_in, prompts = args["input_ids"], args["prompts"]
        if (ids_in is None) == (prompts is None):
            raise Reply("ProtocolError", "generate: give exactly one of 'input_ids' and 'prompts'")
        eos_ids = _int_list(args["eos_token_id"])
        pad = args["pad_token_id"]
        if pad is None:
            pad = info["pad_token_id"] if info["pad_token_id"] is not None else (eos_ids[0] if eos_ids else 0)
        vocab = info["vocab_size"] or 0
        dev = next(model.parameters()).device

        if ids_in is not None:
            if not ids_in or not all(isinstance(r, list) and r for r in ids_in):
                raise Reply("ProtocolError", "generate: input_ids must be a non-empty array of non-empty arrays")
            for r in ids_in:
                for t in r:
                    if not _is_int(t) or (vocab and not 0 <= t < vocab):
                        raise Reply("GenerateError", "input_ids: token %s is not an id in [0, %d)"
                                    % (json.dumps(t)[:40], vocab))
            width = max(len(r) for r in ids_in)
            fill = pad if 0 <= pad < (vocab or pad + 1) else 0
            rows = [[fill] * (width - len(r)) + r for r in ids_in]
            mask = [[0] * (width - len(r)) + [1] * len(r) for r in ids_in]
            input_ids = torch.tensor(rows, dtype=torch.long, device=dev)
            attn = torch.tensor(mask, dtype=torch.long, device=dev)
        else:
            if self.tokenizer is None:
                raise Reply("GenerateError", "generate: this model has no tokenizer (synthetic models take input_ids)")
            if not prompts or not all(isinstance(p, str) for p in prompts):
                raise Reply("ProtocolError", "generate: prompts must be a non-empty array of strings")
            mx = args["max_input_tokens"]
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True,
                                 truncation=mx is not None, max_length=mx)
            input_ids = enc["input_ids"].to(dev)
            attn = enc["attention_mask"].to(dev)
        batch, width = input_ids.shape
        input_tokens = attn.sum(dim=1).tolist()

        gc = {"max_new_tokens": args["max_new_tokens"], "do_sample": bool(args["do_sample"]),
              "num_beams": args["num_beams"] or 1, "num_return_sequences": 1,
              "eos_token_id": (eos_ids if len(eos_ids) > 1 else eos_ids[0]) if eos_ids else None,
              "pad_token_id": pad, "return_dict_in_generate": False}
        if min_new > 0:
            gc["min_new_tokens"] = min_new
        if gc["do_sample"]:
            for k in ("temperature", "top_p", "min_p", "top_k"):
                if args[k] is not None:
                    gc[k] = args[k]
        for k in ("repetition_penalty", "no_repeat_ngram_size", "prompt_lookup_num_tokens",
                  "early_stopping", "length_penalty", "use_cache", "cache_implementation"):
            if args[k] is not None:
                gc[k] = args[k]
        try:
            gen_config = transformers.GenerationConfig(**gc)
        except Exception as e:
            raise Reply("GenerateError", "generation settings: %s: %s" % (type(e).__name__, e))

        rec = StepRecorder(torch, self.channel, req["id"], batch, width, eos_ids, gc["num_beams"])
        stop = transformers.StoppingCriteriaList([rec])
        if gc["do_sample"] and args["seed"] is not None:
            torch.manual_seed(args["seed"])
        if self.cuda:
            _sync_all(torch)
        start_ns = time.monotonic_ns()
        with torch.inference_mode():
            seqs = model.generate(input_ids=input_ids, attention_mask=attn, generation_config=gen_config,
                                  stopping_criteria=stop)
        if self.cuda:
            _sync_all(torch)
        end_ns = time.monotonic_ns()

        gen = seqs[:, width:].tolist()
        eos = set(eos_ids)
        out = []
        for r in range(batch):
            toks = []
            for t in gen[r]:
                toks.append(t)
                if t in eos:
                    break
            if rec.beams:
                times = rec.step_times
                n = len(toks)
                first = times[0] if times and n else None
                last = (times[n - 1] if n <= len(times) else times[-1]) if times and n else None
            else:
                if toks != rec.tokens[r]:
                    _log("row %d: tokens seen per step differ from the returned sequence (%d vs %d tokens);"
                         " counting the returned sequence" % (r, len(rec.tokens[r]), len(toks)))
                n = len(toks)
                tt = rec.times[r]
                first = tt[0] if tt else None
                last = tt[min(n, len(tt)) - 1] if tt and n else None
            out.append({"input_tokens": int(input_tokens[r]), "output_tokens": len(toks),
                        "first_token_ns": first, "end_ns": last,
                        "stopped_at_eos": bool(toks) and toks[-1] in eos})
        peak = None
        if self.cuda:
            peak = sum(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
        return {"start_ns": start_ns, "end_ns": end_ns, "requests": out, "peak_memory_bytes": peak}

    def op_memory(self, req, args):
        torch, _ = _ml()
        cuda = self.cuda if self.model is not None else torch.cuda.is_available()
        if not cuda:
            return {"device": "cpu", "allocated_bytes": None, "peak_allocated_bytes": None,
                    "reserved_bytes": None, "note": "not tracked on CPU"}
        n = torch.cuda.device_count()
        res = {"device": self.device if self.model is not None else "cuda:%d" % torch.cuda.current_device(),
               "allocated_bytes": sum(torch.cuda.memory_allocated(i) for i in range(n)),
               "peak_allocated_bytes": sum(torch.cuda.max_memory_allocated(i) for i in range(n)),
               "reserved_bytes": sum(torch.cuda.memory_reserved(i) for i in range(n))}
        if args["reset"]:
            for i in range(n):
                torch.cuda.reset_peak_memory_stats(i)
        return res

    # ---- dispatch

    def handle(self, raw):
        """Serves one request line; returns False when the worker must exit."""
        req_id = op = None
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise Reply("ProtocolError", "request is not UTF-8: %s" % e)
            try:
                req = json.loads(text, parse_constant=_reject_constant)
            except ValueError as e:
                raise Reply("ProtocolError", "request is not valid JSON: %s" % e)
            if not isinstance(req, dict):
                raise Reply("ProtocolError", "request must be a JSON object")
            if "id" not in req:
                raise Reply("ProtocolError", "request has no 'id'")
            if not _is_int(req["id"]):
                raise Reply("ProtocolError", "request 'id' must be an integer")
            req_id = req["id"]
            op = req.get("op")
            if not isinstance(op, str):
                raise Reply("ProtocolError", "request has no 'op' string")
            if op not in ARGS:
                raise Reply("ProtocolError", "unknown op '%s' (known: %s)" % (op[:40], ", ".join(sorted(ARGS))))
            args = _args(op, req)
            result = getattr(self, "op_" + op)(req, args)
            reply = {"id": req_id, "ok": True}
            reply.update(result)
            self.channel.send(reply)
            return op != "shutdown"
        except Reply as r:
            err = {"type": r.etype, "message": r.message}
            err.update(r.extra)
            if r.etype not in ("ProtocolError",):
                _log("%s: %s" % (r.etype, r.message))
            self.channel.send({"id": req_id, "ok": False, "error": err})
        except Exception as e:
            _log("request %s failed:\n%s" % (req_id, traceback.format_exc()))
            etype = "InternalError"
            if _ML is not None and _is_oom(_ML[0], e):
                etype = "OutOfMemory"
                try:
                    _ML[0].cuda.empty_cache()
                except Exception:
                    pass
            elif op == "load":
                etype = "LoadError"
            elif op == "generate":
                etype = "GenerateError"
            self.channel.send({"id": req_id, "ok": False,
                               "error": {"type": etype, "message": "%s: %s" % (type(e).__name__, e)}})
        return True


def _sync_all(torch):
    """Waits for every visible GPU (a device_map can spread the model)."""
    for i in range(torch.cuda.device_count()):
        torch.cuda.synchronize(i)


def _reject_constant(name):
    raise ValueError("%s is not allowed" % name)


def _is_oom(torch, e):
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


# --------------------------------------------------------------- main

def check():
    """--check: one JSON line on stdout; exit 0 if torch and transformers
    import, else 1."""
    fd = _protect_stdout()
    chan = Channel(fd)
    torch, transformers, missing = _import_status()
    if missing:
        names = [m for m, _ in missing]
        chan.send({"ok": False, "missing": names, "python": "%d.%d.%d" % sys.version_info[:3],
                   "executable": sys.executable,
                   "message": "missing Python modules for the pytorch backend: %s (%s)"
                   % (", ".join(names), "; ".join(w for _, w in missing)),
                   "hint": _install_hint(names)})
        return 1
    try:
        cuda_ok = bool(torch.cuda.is_available())
    except Exception:
        cuda_ok = False
    chan.send({"ok": True, "protocol": PROTOCOL, "python": "%d.%d.%d" % sys.version_info[:3],
               "executable": sys.executable, "torch": torch.__version__,
               "transformers": transformers.__version__, "cuda": torch.version.cuda,
               "cuda_available": cuda_ok})
    return 0


def versions():
    """--versions: like --check but from package metadata, without importing
    torch (milliseconds instead of seconds; for `llem config`)."""
    from importlib import metadata
    fd = _protect_stdout()
    found, missing = {}, []
    for name in ("torch", "transformers"):
        try:
            found[name] = metadata.version(name)
        except Exception:
            missing.append(name)
    reply = {"ok": not missing, "protocol": PROTOCOL, "python": "%d.%d.%d" % sys.version_info[:3],
             "executable": sys.executable, "torch": found.get("torch"),
             "transformers": found.get("transformers")}
    if missing:
        reply.update(missing=missing, hint=_install_hint(missing))
    Channel(fd).send(reply)
    return 0 if not missing else 1


def serve():
    fd = _protect_stdout()
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    worker = Worker(Channel(fd))
    stdin = sys.stdin.buffer
    while True:
        raw = stdin.readline()
        if not raw:
            _log("stdin closed; exiting")
            break
        if not worker.handle(raw.rstrip(b"\r\n")):
            break
    sys.stderr.flush()
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--check":
        code = check()
    elif len(argv) > 1 and argv[1] == "--versions":
        code = versions()
    elif len(argv) > 1:
        sys.stderr.write("usage: %s [--check | --versions]\n" % argv[0])
        code = 2
    else:
        code = serve()
    try:
        sys.stderr.flush()
    finally:
        # Skips interpreter teardown (CUDA, compile worker threads), which
        # can be slow or hang; every reply is already written.
        os._exit(code)


if __name__ == "__main__":
    main(sys.argv)
