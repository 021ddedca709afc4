"""Hugging Face transformers reference for the engine cross-checks
(test_engine_hf.py): tiny random Llama-family models built from configs,
saved as the engine reads them, and their reference logits and greedy
continuations computed in float32 with the eager attention.

Every model is deterministic: its weights come from a torch.Generator
seeded from the spec, never from the global RNG state, so the same spec
gives the same bytes on every run and machine (torch is pinned).
"""
import copy
import json
import os

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (AttentionInterface,  # noqa: E402
                          AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)
from transformers.masking_utils import (AttentionMaskInterface,  # noqa: E402
                                        eager_mask)
from transformers.models.llama.modeling_llama import \
    eager_attention_forward  # noqa: E402

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

# The models under test. Shapes are tiny so a run of the whole file stays
# well under a minute on two cores, yet each one exercises a distinct path
# of the engine: GQA ratio, odd (non-SIMD-multiple) sizes, tied or separate
# lm_head, each RoPE variant and both config.json layouts ("v5": the
# rope_parameters block transformers 5 writes; "legacy": rope_theta plus
# rope_scaling, which is what most models on the Hub carry).
# Each seed was chosen so that every greedy step of every prompt
# (token_ids and batch_prompts) has a top-2 margin of at least
# 1e-3 * max|logit| (test_engine_hf asserts it): exact equality of greedy
# tokens then follows from the logits tolerance and is not luck.
SPECS = {
    # GQA 1 (plain multi-head attention), separate lm_head, default RoPE.
    "llama-gqa1-untied": dict(
        family="llama", seed=1, layout="v5",
        config=dict(vocab_size=256, hidden_size=64, intermediate_size=176,
                    num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=4, rms_norm_eps=1e-5,
                    tie_word_embeddings=False, max_position_embeddings=256)),
    # GQA 4, tied, Llama 3.1 RoPE scaling with theta 5e5. With head_dim 16
    # and original_max_position_embeddings 64 the frequencies fall in all
    # three llama3 bands (kept, smoothed, divided by factor).
    "llama-gqa4-llama3-tied": dict(
        family="llama", seed=6, layout="legacy",
        config=dict(vocab_size=512, hidden_size=128, intermediate_size=352,
                    num_hidden_layers=3, num_attention_heads=8,
                    num_key_value_heads=2, rms_norm_eps=1e-5,
                    tie_word_embeddings=True, max_position_embeddings=256,
                    rope_theta=500000.0,
                    rope_scaling=dict(rope_type="llama3", factor=8.0,
                                      low_freq_factor=1.0,
                                      high_freq_factor=4.0,
                                      original_max_position_embeddings=64))),
    # GQA 2, odd sizes everywhere (hidden 72 = 6 heads of 12, intermediate
    # 197, vocab 301): every kernel's tail path. Linear RoPE scaling in the
    # old {"type": "linear"} spelling, theta 25000.
    "llama-gqa2-odd-linear": dict(
        family="llama", seed=5, layout="legacy-type",
        config=dict(vocab_size=301, hidden_size=72, intermediate_size=197,
                    num_hidden_layers=2, num_attention_heads=6,
                    num_key_value_heads=3, rms_norm_eps=1e-6,
                    tie_word_embeddings=False, max_position_embeddings=256,
                    rope_theta=25000.0,
                    rope_scaling=dict(rope_type="linear", factor=2.0))),
    # Multi-query attention (GQA 5: one KV head), hidden 40 = 5 heads of 8,
    # intermediate 97, and rms_norm_eps 1e-2: large enough that using the
    # wrong eps moves the logits far beyond the fp32 tolerance.
    "llama-mqa-odd40-eps": dict(
        family="llama", seed=5, layout="v5",
        config=dict(vocab_size=257, hidden_size=40, intermediate_size=97,
                    num_hidden_layers=3, num_attention_heads=5,
                    num_key_value_heads=1, rms_norm_eps=1e-2,
                    tie_word_embeddings=False, max_position_embeddings=256)),
    # head_dim given in config.json and not hidden/heads (4 heads of 32 on
    # hidden 64), GQA 2.
    "llama-headdim32": dict(
        family="llama", seed=12, layout="v5",
        config=dict(vocab_size=320, hidden_size=64, intermediate_size=176,
                    num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-5,
                    tie_word_embeddings=False, max_position_embeddings=256)),
    # Qwen2: q/k/v biases (random, not the zeros HF initialises them to),
    # tied embeddings, GQA 2, theta 1e6.
    "qwen2-bias-tied": dict(
        family="qwen2", seed=3, layout="legacy",
        config=dict(vocab_size=384, hidden_size=64, intermediate_size=176,
                    num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rms_norm_eps=1e-6,
                    tie_word_embeddings=True, max_position_embeddings=256,
                    rope_theta=1000000.0)),
}

N_TOKENS = 32
MAX_NEW = 32


def token_ids(vocab, n=N_TOKENS, salt=0):
    """A fixed sequence of n ids in [0, vocab): a simple quadratic
    residue walk, so every run and every reader sees the same ids."""
    return [(17 + 89 * i + 7 * i * i + 31 * salt) % vocab for i in range(n)]


def batch_prompts(vocab):
    """Four prompts of different lengths (1 included: a one-token prefill)."""
    return [token_ids(vocab, n, salt=k + 1) for k, n in enumerate((1, 7, 16, 29))]


def _config(spec):
    cls = LlamaConfig if spec["family"] == "llama" else Qwen2Config
    # A deep copy: transformers writes rope_theta into the rope_scaling
    # dict it is given, which would pin the spec's theta for good.
    cfg = copy.deepcopy(spec["config"])
    # Llama's default bos/eos (1, 2) are kept; Qwen2Config has none.
    return cls(attn_implementation="eager", **cfg)


@torch.no_grad()
def _randomise(model, seed):
    """Weights large enough that attention is far from uniform (so RoPE,
    GQA grouping and masking errors show in the logits) and every norm
    weight and bias differs from its default (so a missing or misplaced
    one shows too). Linear weights: N(0, 1/fan_in); embeddings:
    N(0, 1/hidden), so a tied lm_head gives logits of the same O(1) scale
    as a separate one (with N(0, 1) a tied model only ever repeats its
    last token); norm weights: U(0.5, 1.5); biases: N(0, 0.5^2)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():  # tied lm_head appears once
        if name.endswith("norm.weight"):
            p.copy_(torch.rand(p.shape, generator=g) + 0.5)
        elif name.endswith(".bias"):
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        else:  # projections [out, in] and the embedding [vocab, hidden]
            p.copy_(torch.randn(p.shape, generator=g) * p.shape[1] ** -0.5)


def build(name):
    """The float32 model for SPECS[name], in eval mode."""
    return build_spec(SPECS[name])


def build_spec(spec):
    """The float32 model for a spec shaped like SPECS' values."""
    torch.manual_seed(spec["seed"])
    cls = LlamaForCausalLM if spec["family"] == "llama" else Qwen2ForCausalLM
    model = cls(_config(spec)).to(torch.float32).eval()
    _randomise(model, spec["seed"])
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    if tied != bool(spec["config"].get("tie_word_embeddings")):
        raise AssertionError(f"lm_head tied: {tied}, spec says otherwise")
    return model


def _rewrite_legacy(path, spec):
    """Rewrites config.json from transformers 5's rope_parameters block to
    the 4.x layout the Hub's models carry: top-level rope_theta and a
    rope_scaling object (absent for default RoPE), keyed "rope_type" or,
    for layout "legacy-type", the older "type"."""
    cfg_path = os.path.join(path, "config.json")
    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    rp = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rp.pop("rope_theta")
    rope_type = rp.pop("rope_type")
    if rope_type != "default":
        key = "type" if spec["layout"] == "legacy-type" else "rope_type"
        cfg["rope_scaling"] = dict(rp, **{key: rope_type})
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)


def save(model, name, path, dtype=torch.float32):
    """Saves model as a Hugging Face directory (config.json +
    model.safetensors) with its tensors stored in dtype, then puts
    config.json in the spec's layout. Returns path."""
    spec = SPECS[name]
    m = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    m.save_pretrained(path, safe_serialization=True)
    if spec["layout"] != "v5":
        _rewrite_legacy(path, spec)
    return path


def load(path):
    """A saved directory loaded back by transformers in float32 (weights
    stored in bf16/fp16 are widened exactly), eager attention."""
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager").eval()
    return model


@torch.no_grad()
def logits(model, ids):
    """[len(ids), vocab] float64 array of the model's float32 logits."""
    out = model(torch.tensor([ids], dtype=torch.long), use_cache=False)
    return out.logits[0].to(torch.float64).numpy()


@torch.no_grad()
def greedy(model, prompt, max_new=MAX_NEW):
    """HF's own greedy generate (KV cache) of exactly max_new tokens with
    EOS suppressed, as the engine's --ignore-eos does (like llama.cpp's, it
    masks the EOS logit rather than only not stopping): min_new_tokens =
    max_new makes transformers mask it at every step. Then one full forward
    over prompt + continuation checks each step's argmax and measures its
    top-2 margin over the same masked logits. Returns (new_ids, margins,
    maxabs): margins[i] = logit(top1) - logit(top2) at step i, maxabs[i]
    the largest finite |logit| there."""
    eos = model.config.eos_token_id
    ids = torch.tensor([prompt], dtype=torch.long)
    out = model.generate(ids, attention_mask=torch.ones_like(ids),
                         max_new_tokens=max_new, min_new_tokens=max_new,
                         do_sample=False, eos_token_id=eos, pad_token_id=0)
    new = out[0, len(prompt):].tolist()
    if len(new) != max_new:
        raise AssertionError(f"HF generated {len(new)} tokens, not {max_new}")
    full = logits(model, prompt + new[:-1])[len(prompt) - 1:]
    maxabs = np.abs(full).max(axis=1)
    if eos is not None:
        full[:, eos] = -np.inf
    top2 = np.sort(full, axis=1)[:, -2:]
    if full.argmax(axis=1).tolist() != new:
        raise AssertionError("HF generate disagrees with its own full forward")
    return new, (top2[:, 1] - top2[:, 0]), maxabs


def rel_err(a, b):
    """Per position: max |a - b| / max |b| (b is the reference)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)


@torch.no_grad()
def q8_0(w):
    """w fake-quantised as the engine's Q8_0 stores it: each row in blocks
    of 32 columns (the last may be shorter), scale = max|x| / 127 in
    float32, values rounded to nearest (even), then dequantised."""
    out = torch.empty_like(w)
    for s in range(0, w.shape[-1], 32):
        x = w[..., s:s + 32]
        scale = x.abs().amax(dim=-1, keepdim=True) / 127
        safe = torch.where(scale == 0, torch.ones_like(scale), scale)
        out[..., s:s + 32] = torch.round(x / safe) * scale
    return out


@torch.no_grad()
def round_matrices(model, dtype):
    """A float32 copy of model with every matrix (embedding, lm_head, the
    seven projections) rounded through dtype, as the engine's --precision
    converts them; norm weights and biases stay as they are (the engine
    keeps them in float32)."""
    m = copy.deepcopy(model)
    for p in m.parameters():  # a tied lm_head is rounded once
        if p.dim() == 2:
            p.copy_(p.to(dtype).to(torch.float32))
    return m


@torch.no_grad()
def q8_0_model(model):
    """A float32 copy of model with every matrix the engine quantises under
    --quant int8 (embedding, lm_head, the seven projections) replaced by
    its Q8_0 round trip; norms and biases stay float32 as in the engine."""
    m = copy.deepcopy(model)
    for name, p in m.named_parameters():  # a tied lm_head is quantised once
        if p.dim() == 2:
            p.copy_(q8_0(p))
    return m


# ---- emulating the engine's reduced-precision arithmetic ----------------
#
# The engine's kernels are exact about what they round (src/engine/
# matmul_impl.h): with --quant int8 every matmul input is quantised to
# Q8_0 like the weights; on the avx512-bf16 kernel set a bf16 matmul
# rounds its input to bf16 for vdpbf16ps; the KV cache stores each
# (position, kv head) row of head_dim values in its type (K after RoPE).
# emulate() gives an HF model doing the same roundings in float32, so the
# engine can be held to a tight tolerance against it: what is left is
# only summation order.

def _round_bf16(x):
    return x.to(torch.bfloat16).to(torch.float32)


def _round_fp16(x):
    return x.to(torch.float16).to(torch.float32)


ROUND = {"bf16": _round_bf16, "fp16": _round_fp16, "int8": q8_0}


def _kv_attention(kind):
    rnd = ROUND[kind]

    def attention(module, query, key, value, attention_mask, scaling,
                  dropout=0.0, **kwargs):
        # key, value: [batch, kv_heads, positions, head_dim], K after RoPE.
        return eager_attention_forward(module, query, rnd(key), rnd(value),
                                       attention_mask, scaling, dropout,
                                       **kwargs)
    return attention


# A custom attention needs its mask registered too: transformers builds no
# causal mask at all for a name it does not know.
for _kind in ROUND:
    AttentionInterface.register(f"llem-kv-{_kind}", _kv_attention(_kind))
    AttentionMaskInterface.register(f"llem-kv-{_kind}", eager_mask)


@torch.no_grad()
def emulate(model, act=None, kv=None):
    """A copy of model (weights as they are) whose every nn.Linear input is
    rounded as act says ("bf16", "int8" or None) and whose attention reads
    K and V rounded as kv says ("fp16", "bf16", "int8" or None)."""
    m = copy.deepcopy(model)
    if act:
        rnd = ROUND[act]
        for mod in m.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.register_forward_pre_hook(
                    lambda _mod, args: (rnd(args[0]),) + tuple(args[1:]))
    if kv:
        m.set_attn_implementation(f"llem-kv-{kv}")
    return m
