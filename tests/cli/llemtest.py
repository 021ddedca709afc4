"""Shared helpers for llem's Python-driven tests (run by CTest)."""
import os
import subprocess
import tempfile

LLEM = os.environ.get("LLEM_BIN", "llem")
TOOLS = os.environ.get("LLEM_TOOLS_DIR", ".")
DATA = os.environ.get("LLEM_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
SOURCE = os.environ.get("LLEM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
FAKE_NVML_DIR = os.environ.get("LLEM_FAKE_NVML_DIR", "")


def clean_env(**extra):
    """An environment without a user config or NVML surprises."""
    env = dict(os.environ)
    env.pop("LLEM_NVML_LIBRARY", None)
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="llem-xdg-")
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run(args, env=None, cwd=None, tool=None, timeout=120):
    """Runs llem (or a test tool) with an argv list; never through a shell."""
    exe = os.path.join(TOOLS, tool) if tool else LLEM
    return subprocess.run([exe] + list(args), capture_output=True, text=True,
                          env=env if env is not None else clean_env(),
                          cwd=cwd, timeout=timeout)
