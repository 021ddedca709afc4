"""Cross-checks the study run order against Python: shuffled studies must
reproduce random.Random(seed).shuffle exactly (one rng, one shuffle per
cycle), through the study_order_dump tool; sequential and interleaved are
compared with their definitions.
"""
import os
import random
import subprocess
import unittest

TOOLS_DIR = os.environ.get("LLEM_TOOLS_DIR", "")
TOOL = os.path.join(TOOLS_DIR, "study_order_dump")


def expected(order, n, cycles, seed):
    if order == "sequential":
        return [(p, c) for p in range(n) for c in range(1, cycles + 1)]
    if order == "interleaved":
        return [(p, c) for c in range(1, cycles + 1) for p in range(n)]
    rng = random.Random(seed)
    runs = []
    for c in range(1, cycles + 1):
        perm = list(range(n))
        rng.shuffle(perm)
        runs.extend((p, c) for p in perm)
    return runs


def run_tool(queries):
    text = "".join(f"{o} {n} {c} {s}\n" for o, n, c, s in queries)
    proc = subprocess.run([TOOL], input=text, capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"study_order_dump failed: {proc.stderr}")
    lines = proc.stdout.split("\n")
    assert lines[-1] == "", "output must end in a newline"
    out = []
    for line in lines[:-1]:
        toks = line.split()
        out.append([(int(t.split(":")[0]), int(t.split(":")[1])) for t in toks])
    return out


class StudyOrderPython(unittest.TestCase):
    def check(self, queries):
        got = run_tool(queries)
        self.assertEqual(len(got), len(queries))
        for q, g in zip(queries, got):
            self.assertEqual(g, expected(*q), f"query {q}")

    def test_seed_repo_vector(self):
        got = run_tool([("shuffled", 5, 2, 42)])[0]
        self.assertEqual([p + 1 for p, _ in got], [4, 2, 3, 5, 1, 4, 3, 1, 5, 2])

    def test_shuffled_matches_python(self):
        rng = random.Random(7)
        seeds = [0, 1, 2, 42, 2**31 - 1, 2**31, 2**32 - 1]
        seeds += [rng.getrandbits(32) for _ in range(20)]
        ns = list(range(0, 17)) + [31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 199, 200]
        queries = []
        for seed in seeds:
            for n in ns:
                queries.append(("shuffled", n, rng.randint(1, 5), seed))
        # A long run crosses many MT19937 twists (624 draws each).
        queries.append(("shuffled", 200, 50, 42))
        queries.append(("shuffled", 3, 2000, 2**32 - 1))
        self.check(queries)

    def test_sequential_and_interleaved(self):
        queries = [(o, n, c, 42) for o in ("sequential", "interleaved")
                   for n in (0, 1, 2, 5, 13) for c in (0, 1, 3)]
        self.check(queries)

    def test_argv_form(self):
        proc = subprocess.run([TOOL, "interleaved", "2", "2", "0"],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, "0:1 1:1 0:2 1:2\n")


if __name__ == "__main__":
    unittest.main()
