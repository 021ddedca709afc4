"""The PyTorch worker (src/backends/pytorch_worker.py) driven the way llem
drives it: a child process spoken to over real pipes in JSON lines
(docs/pytorch-protocol.md), every read with a timeout.

Checked against independent references:
  * synthetic weights: every element of every parameter of the tiny
    presets equals a pure-Python-integer evaluation of llem's recipe
    (docs/models.md), with its own tensor numbering taken from the config;
  * greedy generation: the tokens each row receives in the per-step events
    equal an unbatched run of that row and a manual argmax loop over the
    model's forward (full recomputation, no cache), with every step's top-2
    margin asserted so that equality is not luck;
  * the step clock: hello's monotonic_ns lies between this process's own
    time.monotonic_ns() before and after the request (one clock for both).

Only tiny presets, one long-lived worker for most tests: the file runs in
well under a minute on two cores.
"""
import array
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from llemtest import SOURCE

WORKER = os.path.join(SOURCE, "src", "backends", "pytorch_worker.py")
with open(os.path.join(SOURCE, "data", "synthetic-presets.json"), encoding="utf-8") as _f:
    PRESETS = json.load(_f)
TINY = ("tiny-llama", "tiny-llama3", "tiny-qwen2")
SEED = 42
READ_TIMEOUT = 90  # seconds per reply; the first load imports transformers' model code
# Greedy steps must win by this share of max|logit| for token equality to
# follow from float32 accuracy (batched/cached vs recomputed forward
# differ by ~1e-6 relative) rather than luck.
MARGIN = 1e-4

sys.path.insert(0, os.path.dirname(WORKER))
try:
    import torch
    import pytorch_worker as pw
    HAVE_TORCH = True
except ImportError:  # pragma: no cover - the test venv has torch
    HAVE_TORCH = False

M64 = (1 << 64) - 1


# ------------------------------------------------------------ reference

def ref_recipe(seed, number, n, scale):
    """float32 bytes of elements 0..n-1 of synthetic tensor `number`,
    computed with Python integers exactly as docs/models.md states."""
    base = (seed * 0x9E3779B97F4A7C15 + number * 0xD1B54A32D192ED03) & M64
    doubles = []
    for j in range(n):
        z = (base + j) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        doubles.append(((z >> 11) * 2.0 ** -52 - 1.0) * scale)
    f32 = array.array("f", doubles)  # C (float) conversion: round to nearest even
    bits = array.array("I")
    bits.frombytes(f32.tobytes())
    out = array.array("I", [((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16 & 0xFFFFFFFF for b in bits])
    return out.tobytes()


def expected_tensors(config):
    """name -> (tensor number or None for all-ones, scale, shape) from the
    preset's config alone (the recipe's numbering, docs/models.md)."""
    h, inter = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kvh = config.get("num_key_value_heads") or heads
    hd = config.get("head_dim") or h // heads
    q, kv, v, n_layers = heads * hd, kvh * hd, config["vocab_size"], config["num_hidden_layers"]
    bias = config["model_type"] == "qwen2"
    s = lambda fan_in: math.sqrt(3.0 / fan_in)  # noqa: E731
    out = {"model.embed_tokens.weight": (0, s(h), (v, h)),
           "model.norm.weight": (None, 1.0, (h,))}
    for i in range(n_layers):
        t, p = 1 + 16 * i, "model.layers.%d." % i
        out[p + "input_layernorm.weight"] = (None, 1.0, (h,))
        out[p + "self_attn.q_proj.weight"] = (t + 1, s(h), (q, h))
        out[p + "self_attn.k_proj.weight"] = (t + 2, s(h), (kv, h))
        out[p + "self_attn.v_proj.weight"] = (t + 3, s(h), (kv, h))
        out[p + "self_attn.o_proj.weight"] = (t + 4, s(q), (h, q))
        if bias:
            out[p + "self_attn.q_proj.bias"] = (t + 5, 0.02, (q,))
            out[p + "self_attn.k_proj.bias"] = (t + 6, 0.02, (kv,))
            out[p + "self_attn.v_proj.bias"] = (t + 7, 0.02, (kv,))
        out[p + "post_attention_layernorm.weight"] = (None, 1.0, (h,))
        out[p + "mlp.gate_proj.weight"] = (t + 9, s(h), (inter, h))
        out[p + "mlp.up_proj.weight"] = (t + 10, s(h), (inter, h))
        out[p + "mlp.down_proj.weight"] = (t + 11, s(inter), (h, inter))
    if not config.get("tie_word_embeddings"):
        out["lm_head.weight"] = (2 + 16 * n_layers, s(h), (v, h))
    return out


_MODELS = {}


def local_model(preset, dtype="float32"):
    """The worker's synthetic model built in this process (same code as the
    load op), cached."""
    key = (preset, dtype)
    if key not in _MODELS:
        _, transformers = pw._ml()
        _MODELS[key] = pw.build_synthetic(torch, transformers, PRESETS[preset], SEED,
                                          getattr(torch, dtype), torch.device("cpu"))
    return _MODELS[key]


def manual_greedy(model, prompt, n):
    """Greedy continuation by recomputing the full forward at every step;
    returns (tokens, smallest top-2 margin relative to max|logit|)."""
    ids, out, worst = list(prompt), [], float("inf")
    with torch.no_grad():
        for _ in range(n):
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].float()
            top = torch.topk(logits, 2)
            worst = min(worst, float((top.values[0] - top.values[1]) / logits.abs().max()))
            tok = int(top.indices[0])
            out.append(tok)
            ids.append(tok)
    return out, worst


# --------------------------------------------------------------- client

class Client:
    """A worker process over pipes; every read waits at most `timeout`."""

    def __init__(self, python=None, args=(), env=None):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([python or sys.executable, WORKER] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env)
        self.lines = queue.Queue()
        self.next_id = 1
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def read(self, timeout=READ_TIMEOUT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from the worker within %ss; log:\n%s" % (timeout, self.stderr()))
        if line is None:
            raise AssertionError("worker closed stdout; log:\n%s" % self.stderr())
        return json.loads(line)

    def request(self, op, timeout=READ_TIMEOUT, **args):
        """Sends one request; returns (events, final reply)."""
        rid = self.next_id
        self.next_id += 1
        self.send_raw((json.dumps(dict(args, id=rid, op=op)) + "\n").encode())
        events = []
        while True:
            msg = self.read(timeout)
            self.assert_id(msg, rid)
            if "event" in msg:
                events.append(msg)
                continue
            return events, msg

    @staticmethod
    def assert_id(msg, rid):
        if msg.get("id") != rid:
            raise AssertionError("reply for id %r while waiting for %r: %r" % (msg.get("id"), rid, msg))

    def ok(self, op, **args):
        events, reply = self.request(op, **args)
        if reply.get("ok") is not True:
            raise AssertionError("%s failed: %r\nlog:\n%s" % (op, reply, self.stderr()))
        return events, reply

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")[-4000:]

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def load_args(preset, dtype="float32", **extra):
    args = {"model": None, "synthetic": {"preset": preset, "config": PRESETS[preset], "seed": SEED},
            "dtype": dtype, "device": "cpu", "threads": 1}
    args.update(extra)
    return args


def greedy_args(input_ids, n, eos=None, **extra):
    args = {"input_ids": input_ids, "max_new_tokens": n, "min_new_tokens": 0, "do_sample": False,
            "repetition_penalty": 1.0, "eos_token_id": eos, "pad_token_id": None}
    args.update(extra)
    return args


def row_tokens(events, batch):
    """Per row, the tokens received in the step events (in order)."""
    rows = [[] for _ in range(batch)]
    for ev in events:
        assert ev["event"] == "step" and len(ev["requests"]) == len(ev["tokens"]), ev
        for r, t in zip(ev["requests"], ev["tokens"]):
            rows[r].append(t)
    return rows


PROMPTS = [[5, 17, 300, 41, 99, 7], [250], [12, 480, 33]]  # three lengths
N_NEW = 8


@unittest.skipUnless(HAVE_TORCH, "torch and transformers are needed")
class Weights(unittest.TestCase):
    """The recipe in torch against the exact integer reference (in
    process: the load op runs this same build_synthetic)."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)

    def test_every_weight_of_the_tiny_presets_equals_the_exact_recipe(self):
        for preset in TINY:
            with self.subTest(preset=preset):
                model = local_model(preset)
                want = expected_tensors(PRESETS[preset])
                got = dict(model.named_parameters())
                self.assertEqual(sorted(got), sorted(want))
                for name, (number, scale, shape) in want.items():
                    p = got[name].detach()
                    self.assertEqual(tuple(p.shape), shape, name)
                    self.assertEqual(p.dtype, torch.float32, name)
                    if number is None:
                        self.assertTrue(bool((p == 1).all()), name)
                        continue
                    ref = ref_recipe(SEED, number, p.numel(), scale)
                    self.assertEqual(p.contiguous().numpy().tobytes(), ref, name)
                tied = PRESETS[preset].get("tie_word_embeddings", False)
                self.assertEqual(model.get_output_embeddings().weight is model.get_input_embeddings().weight,
                                 tied)

    def test_bfloat16_and_float16_weights_hold_the_float32_values(self):
        for preset in TINY:
            f32 = dict(local_model(preset).named_parameters())
            for dtype in ("bfloat16", "float16"):
                with self.subTest(preset=preset, dtype=dtype):
                    low = dict(local_model(preset, dtype).named_parameters())
                    self.assertEqual(sorted(low), sorted(f32))
                    for name, p in low.items():
                        self.assertEqual(p.dtype, getattr(torch, dtype))
                        want = f32[name].detach().to(getattr(torch, dtype))  # bf16: exact
                        self.assertTrue(torch.equal(p.detach(), want), name)
                        if dtype == "bfloat16":
                            self.assertTrue(torch.equal(p.detach().float(), f32[name].detach()), name)

    def test_chunked_fill_equals_one_chunk(self):
        """Chunk boundaries must not change any value (an 8B model is filled
        2^24 elements at a time)."""
        p = torch.nn.Parameter(torch.empty(37, 29))
        q = torch.nn.Parameter(torch.empty(37, 29))
        pw.fill_uniform(torch, p, 2 ** 64 - 1, 77, 0.5, chunk=100)
        pw.fill_uniform(torch, q, 2 ** 64 - 1, 77, 0.5, chunk=1 << 24)
        self.assertTrue(torch.equal(p.detach(), q.detach()))
        self.assertEqual(p.detach().numpy().tobytes(), ref_recipe(2 ** 64 - 1, 77, 37 * 29, 0.5))

    def test_parameter_outside_the_recipe_is_a_load_error(self):
        cfg = dict(PRESETS["tiny-llama"], attention_bias=True)  # adds o_proj.bias
        _, transformers = pw._ml()
        with self.assertRaises(pw.Reply) as cm:
            pw.build_synthetic(torch, transformers, cfg, 1, torch.float32, torch.device("cpu"))
        self.assertEqual(cm.exception.etype, "LoadError")
        self.assertIn("o_proj.bias", cm.exception.message)

    def test_max_memory_parsing(self):
        self.assertEqual(pw.parse_max_memory("0=20GiB,cpu=60GiB"), {0: 20 << 30, "cpu": 60 << 30})
        self.assertEqual(pw.parse_max_memory("1=1000, cuda:0=5GB,disk=1.5 mib"),
                         {1: 1000, 0: 5 * 10 ** 9, "disk": 3 << 19})
        for bad in ("20GiB", "0=", "gpu0=1GiB", "0=lots", "0=1GiB,0=2GiB", "0=1PiB", "0=-1GB"):
            with self.subTest(bad=bad), self.assertRaises(pw.Reply) as cm:
                pw.parse_max_memory(bad)
            self.assertEqual(cm.exception.etype, "LoadError")


@unittest.skipUnless(HAVE_TORCH, "torch and transformers are needed")
class Protocol(unittest.TestCase):
    """One long-lived worker serving every test of the class."""

    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.w = Client()

    @classmethod
    def tearDownClass(cls):
        events, reply = cls.w.request("shutdown", timeout=30)
        assert reply == {"id": reply["id"], "ok": True}, reply
        assert cls.w.proc.wait(timeout=20) == 0
        cls.w.close()

    def load(self, preset, dtype="float32", **extra):
        return self.w.ok("load", **load_args(preset, dtype, **extra))[1]

    def test_hello_reports_versions_and_shares_the_monotonic_clock(self):
        before = time.monotonic_ns()
        _, r = self.w.ok("hello")
        after = time.monotonic_ns()
        self.assertLessEqual(before, r["monotonic_ns"])
        self.assertLessEqual(r["monotonic_ns"], after)
        self.assertEqual(r["clock"], "CLOCK_MONOTONIC")
        self.assertEqual(r["protocol"], 1)
        self.assertEqual(r["worker"], "llem-pytorch-worker 1")
        self.assertEqual(r["pid"], self.w.proc.pid)
        self.assertEqual(r["python"], "%d.%d.%d" % sys.version_info[:3])
        import transformers
        self.assertEqual(r["torch"], torch.__version__)
        self.assertEqual(r["transformers"], transformers.__version__)
        self.assertEqual(r["cuda"], torch.version.cuda)
        self.assertEqual(r["cuda_available"], torch.cuda.is_available())
        self.assertIsInstance(r["devices"], list)

    def test_load_reports_the_shapes_of_each_preset(self):
        for preset in TINY:
            with self.subTest(preset=preset):
                c = PRESETS[preset]
                r = self.load(preset)
                want = expected_tensors(c)
                total = sum(math.prod(s) for _, _, s in want.values())
                emb = c["vocab_size"] * c["hidden_size"]
                self.assertEqual(r["params_total"], total)
                self.assertEqual(r["embedding_params"], emb)
                # An untied LM head is a vocabulary-sized matrix too (the native count).
                untied_head = 0 if c.get("tie_word_embeddings") else emb
                self.assertEqual(r["params_non_embedding"], total - emb - untied_head)
                self.assertEqual(r["weight_bytes"], 4 * total)
                self.assertEqual(r["tied"], bool(c.get("tie_word_embeddings")))
                self.assertEqual(r["architecture"], c["model_type"])
                self.assertEqual((r["layers"], r["hidden_size"], r["intermediate_size"], r["heads"],
                                  r["kv_heads"], r["vocab_size"]),
                                 (c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"],
                                  c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]))
                self.assertEqual(r["head_dim"], c.get("head_dim") or c["hidden_size"] // c["num_attention_heads"])
                self.assertEqual((r["dtype"], r["device"], r["tokenizer"]), ("fp32", "cpu", None))
                self.assertEqual((r["eos_token_id"], r["eos_token_ids"]), (c["eos_token_id"], [c["eos_token_id"]]))
                self.assertEqual(r["warnings"], [])
                self.assertGreater(r["load_s"], 0)
        r = self.load("tiny-qwen2", "bfloat16")
        self.assertEqual(r["dtype"], "bf16")
        self.assertEqual(r["weight_bytes"], 2 * r["params_total"])

    def test_greedy_batch_matches_unbatched_runs_and_a_manual_argmax_loop(self):
        for preset in ("tiny-llama", "tiny-qwen2"):
            with self.subTest(preset=preset):
                self.load(preset)
                eos = PRESETS[preset]["eos_token_id"]
                # min_new_tokens = max_new_tokens: exactly N_NEW tokens each.
                events, r = self.w.ok("generate", **greedy_args(PROMPTS, N_NEW, eos=eos, min_new_tokens=N_NEW))
                self.assertEqual(len(events), N_NEW)
                times = [ev["t_ns"] for ev in events]
                self.assertEqual(times, sorted(times))
                self.assertLess(r["start_ns"], times[0])
                self.assertLessEqual(times[-1], r["end_ns"])
                rows = row_tokens(events, len(PROMPTS))
                self.assertIsNone(r["peak_memory_bytes"])
                model = local_model(preset)
                for i, prompt in enumerate(PROMPTS):
                    rq = r["requests"][i]
                    self.assertEqual(rq["input_tokens"], len(prompt))
                    self.assertEqual(rq["output_tokens"], N_NEW)
                    self.assertEqual(len(rows[i]), N_NEW)
                    self.assertFalse(rq["stopped_at_eos"])
                    self.assertEqual((rq["first_token_ns"], rq["end_ns"]), (times[0], times[-1]))
                    # Unbatched, without EOS: the same tokens (EOS never won
                    # a step above, or min_new_tokens changed the output).
                    ev1, r1 = self.w.ok("generate", **greedy_args([prompt], N_NEW))
                    self.assertEqual(row_tokens(ev1, 1)[0], rows[i])
                    self.assertEqual(r1["requests"][0]["output_tokens"], N_NEW)
                    manual, margin = manual_greedy(model, prompt, N_NEW)
                    self.assertGreater(margin, MARGIN, "near-tie: choose other prompts")
                    self.assertEqual(rows[i], manual)

    def test_eos_ends_a_row_and_no_token_is_counted_after_it(self):
        self.load("tiny-llama")
        model = local_model("tiny-llama")
        # Row a: a prompt whose third greedy token is new; that token is EOS.
        runs = [(p,) + manual_greedy(model, p, N_NEW) for p in PROMPTS + [[3, 4], [400, 401, 402]]]
        a, ta, ma = next(run for run in runs if run[1][2] not in run[1][:2])
        b, tb, mb = runs[2] if runs[2][0] is not a else runs[0]
        self.assertGreater(min(ma, mb), MARGIN)
        eos = ta[2]
        events, r = self.w.ok("generate", **greedy_args([a, b], N_NEW, eos=eos))
        rows = row_tokens(events, 2)
        self.assertEqual(rows[0], ta[:3])
        ra, rb = r["requests"]
        self.assertEqual((ra["output_tokens"], ra["stopped_at_eos"]), (3, True))
        self.assertEqual(ra["end_ns"], events[2]["t_ns"])
        cut = tb.index(eos) + 1 if eos in tb else N_NEW
        self.assertEqual(rows[1], tb[:cut])
        self.assertEqual((rb["output_tokens"], rb["stopped_at_eos"]), (cut, eos in tb))
        # min_new_tokens suppresses EOS until it is reached.
        events, r = self.w.ok("generate", **greedy_args([a], 5, eos=ta[0], min_new_tokens=5))
        self.assertEqual(r["requests"][0]["output_tokens"], 5)
        self.assertEqual(len(row_tokens(events, 1)[0]), 5)
        self.assertNotIn(ta[0], row_tokens(events, 1)[0])

    def test_bfloat16_model_generates(self):
        self.load("tiny-llama3", "bfloat16")
        events, r = self.w.ok("generate", **greedy_args(PROMPTS, 4, min_new_tokens=4))
        self.assertEqual([q["output_tokens"] for q in r["requests"]], [4, 4, 4])
        self.assertEqual(len(events), 4)

    def test_sampling_is_reproducible_with_a_seed(self):
        self.load("tiny-llama")
        args = greedy_args(PROMPTS, 6, do_sample=True, temperature=1.5, top_k=0, top_p=1.0, seed=7)
        ev1, r1 = self.w.ok("generate", **args)
        ev2, r2 = self.w.ok("generate", **args)
        self.assertEqual(row_tokens(ev1, 3), row_tokens(ev2, 3))
        ev3, _ = self.w.ok("generate", **dict(args, seed=8))
        self.assertNotEqual(row_tokens(ev1, 3), row_tokens(ev3, 3))

    def test_beam_search_reports_steps_and_final_counts(self):
        self.load("tiny-llama")
        events, r = self.w.ok("generate", **greedy_args(PROMPTS[:2], 5, num_beams=2, early_stopping=True,
                                                        length_penalty=1.0))
        self.assertTrue(1 <= len(events) <= 5)
        for q in r["requests"]:
            self.assertTrue(1 <= q["output_tokens"] <= 5)
            self.assertLessEqual(q["first_token_ns"], q["end_ns"])

    def test_memory_is_not_tracked_on_cpu(self):
        _, r = self.w.ok("memory", reset=True)
        self.assertEqual(r["device"], "cpu")
        self.assertIsNone(r["allocated_bytes"])
        self.assertIsNone(r["peak_allocated_bytes"])
        self.assertIsNone(r["reserved_bytes"])
        self.assertEqual(r["note"], "not tracked on CPU")

    def test_directory_with_tokenizer_runs_prompts_like_the_synthetic_model(self):
        """A model directory (save_pretrained of a synthetic preset plus a
        small word-level tokenizer) loaded with from_pretrained, local files
        only, runs text prompts with the same weights."""
        import tokenizers
        import transformers
        tmp = tempfile.mkdtemp(prefix="llem-torch-worker-")
        self.addCleanup(shutil.rmtree, tmp)
        model = local_model("tiny-llama")
        model.save_pretrained(tmp)
        vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
        vocab.update({"w%d" % i: i for i in range(3, 512)})
        tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="<unk>"))
        tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
        transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                             eos_token="</s>").save_pretrained(tmp)
        w = self.w
        _, r = w.ok("load", model=tmp, synthetic=None, dtype="float32", device="cpu", threads=1)
        self.assertEqual((r["tokenizer"], r["params_total"], r["tied"]), ("model", 158016, False))
        self.assertEqual((r["eos_token_id"], r["pad_token_id"]), (2, 2))  # pad falls back to eos
        prompts = ["w5 w17 w300 w41 w99 w7", "w12 w480 w33"]
        events, r = w.ok("generate", prompts=prompts, max_input_tokens=4, max_new_tokens=4,
                         min_new_tokens=4, do_sample=False, eos_token_id=None)
        self.assertEqual([q["input_tokens"] for q in r["requests"]], [4, 3])  # truncated to 4
        rows = row_tokens(events, 2)
        for row, ids in zip(rows, ([5, 17, 300, 41], [12, 480, 33])):
            want, margin = manual_greedy(model, ids, 4)
            self.assertGreater(margin, MARGIN)
            self.assertEqual(row, want)
        _, r = w.request("load", model=tmp, max_memory="0=1GiB,gpu=2", device="cpu")
        self.assertEqual(r["error"]["type"], "LoadError")
        _, r = w.request("load", model=os.path.join(tmp, "absent"), device="cpu")
        self.assertEqual(r["error"]["type"], "LoadError")

    def test_errors_are_replies_and_the_worker_keeps_serving(self):
        w = self.w
        w.send_raw(b"this is not json\n")
        r = w.read()
        self.assertEqual((r["id"], r["ok"], r["error"]["type"]), (None, False, "ProtocolError"))
        w.send_raw(b'{"id": 900, "op": "fly"}\n')
        r = w.read()
        self.assertEqual((r["id"], r["ok"], r["error"]["type"]), (900, False, "ProtocolError"))
        self.assertIn("fly", r["error"]["message"])
        w.send_raw(b'{"op": "hello"}\n[1]\n{"id": 901}\n{"id": "x", "op": "hello"}\n{"id": 902, "op": "hello", "x": NaN}\n')
        for want_id in (None, None, 901, None, None):
            r = w.read()
            self.assertEqual((r["id"], r["ok"], r["error"]["type"]), (want_id, False, "ProtocolError"), r)
        _, r = w.request("hello", colour="blue")
        self.assertEqual(r["error"]["type"], "ProtocolError")
        self.assertIn("colour", r["error"]["message"])
        _, r = w.request("generate", input_ids=[[1]])
        self.assertEqual(r["error"]["type"], "ProtocolError")  # max_new_tokens missing
        _, r = w.request("load", **load_args("tiny-llama", dtype="float8"))
        self.assertEqual(r["error"]["type"], "LoadError")
        _, r = w.request("generate", **greedy_args([[1]], 2))
        self.assertEqual(r["error"]["type"], "ProtocolError")  # the failed load left no model
        self.load("tiny-llama")
        _, r = w.request("generate", **greedy_args([[1, 512]], 2))
        self.assertEqual(r["error"]["type"], "GenerateError")  # token id outside the vocabulary
        _, r = w.request("generate", **greedy_args(None, 2, prompts=["hello"]))
        self.assertEqual(r["error"]["type"], "GenerateError")  # no tokenizer
        _, r = w.request("load", **load_args("tiny-llama", load_in_4bit=True, load_in_8bit=True))
        self.assertEqual(r["error"]["type"], "LoadError")
        _, r = w.ok("hello")


class Process(unittest.TestCase):
    """Process-level behaviour; none of these imports torch in the worker
    except --check with this interpreter."""

    def test_stdin_eof_ends_the_worker(self):
        w = Client()
        try:
            w.proc.stdin.close()
            self.assertEqual(w.proc.wait(timeout=20), 0)
            self.assertIsNone(w.lines.get(timeout=10))  # nothing was written
        finally:
            w.close()

    def test_shutdown_and_protocol_errors_need_no_torch(self):
        w = Client()
        try:
            w.send_raw(b"{\n")
            self.assertEqual(w.read()["error"]["type"], "ProtocolError")
            _, r = w.request("generate", **greedy_args([[1]], 1))
            self.assertEqual(r["error"]["type"], "ProtocolError")
            self.assertIn("before", r["error"]["message"])
            _, r = w.request("shutdown")
            self.assertTrue(r["ok"])
            self.assertEqual(w.proc.wait(timeout=20), 0)
        finally:
            w.close()

    @unittest.skipUnless(sys.platform.startswith("linux"), "PR_SET_PDEATHSIG is Linux only")
    def test_worker_dies_with_its_parent_even_with_stdin_open(self):
        r, wfd = os.pipe()
        code = ("import subprocess, sys\n"
                "p = subprocess.Popen([sys.executable, %r], stdin=%d, pass_fds=(%d,))\n"
                "print(p.pid, flush=True)\n"
                "import time\n"
                "time.sleep(60)\n" % (WORKER, r, r))
        parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, pass_fds=(r,))
        try:
            os.close(r)
            pid = int(parent.stdout.readline())
            time.sleep(0.5)  # let the worker reach prctl
            parent.kill()
            parent.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.05)
            self.assertFalse(_alive(pid), "worker outlived its parent")
        finally:
            os.close(wfd)
            if parent.poll() is None:
                parent.kill()
            parent.stdout.close()

    @unittest.skipUnless(HAVE_TORCH, "torch and transformers are needed")
    def test_check_with_this_interpreter(self):
        p = subprocess.run([sys.executable, WORKER, "--check"], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.decode().splitlines()
        self.assertEqual(len(lines), 1)
        r = json.loads(lines[0])
        import transformers
        self.assertEqual((r["ok"], r["protocol"], r["torch"], r["transformers"], r["cuda"]),
                         (True, 1, torch.__version__, transformers.__version__, torch.version.cuda))
        self.assertEqual(r["python"], "%d.%d.%d" % sys.version_info[:3])

    def test_check_and_hello_without_torch(self):
        tmp = tempfile.mkdtemp(prefix="llem-notorch-")
        try:
            venv = os.path.join(tmp, "v")
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
            py = os.path.join(venv, "bin", "python")
            probe = subprocess.run([py, "-c", "import torch"], capture_output=True, timeout=60)
            if probe.returncode == 0:
                self.skipTest("the bare venv can import torch")
            p = subprocess.run([py, WORKER, "--check"], capture_output=True, timeout=60)
            self.assertEqual(p.returncode, 1, p.stderr)
            r = json.loads(p.stdout)
            self.assertFalse(r["ok"])
            self.assertIn("torch", r["missing"])
            self.assertIn("torch", r["message"])
            self.assertIn(py + " -m pip install", r["hint"])
            w = Client(python=py)
            try:
                _, r = w.request("hello")
                self.assertEqual((r["ok"], r["error"]["type"]), (False, "ImportError"))
                self.assertIn("torch", r["error"]["missing"])
                self.assertIn("torch", r["error"]["message"])
                self.assertIn("pip install", r["error"]["hint"])
                _, r = w.request("load", **load_args("tiny-llama"))
                self.assertEqual(r["error"]["type"], "ImportError")
                _, r = w.request("shutdown")
                self.assertTrue(r["ok"])
                self.assertEqual(w.proc.wait(timeout=20), 0)
            finally:
                w.close()
        finally:
            shutil.rmtree(tmp)


def _alive(pid):
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except FileNotFoundError:
        return False
    return True


if __name__ == "__main__":
    unittest.main()
