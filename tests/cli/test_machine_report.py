"""The machine report (llem_machine_report_json, docs/machine-report.md)
checked against facts this test reads itself: /proc/cpuinfo, /proc/meminfo,
uname, /etc/os-release, a fake powercap tree and the fake NVML; and
`llem config`, which prints that report, against the same facts. Also the
fields document and the user-config path of the public API."""
import json
import os
import re
import shutil
import tempfile
import unittest

from llemtest import FAKE_NVML_DIR, SOURCE, clean_env, run

FAKE_GPUS = dict(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="2",
                 FAKE_NVML_NAME="Fake H100", FAKE_NVML_MEMORY_MB="81559",
                 FAKE_NVML_DRIVER="550.54.15", FAKE_NVML_CUDA="12040",
                 FAKE_NVML_POWER_LIMIT_MW="350000", FAKE_NVML_PERSISTENCE="0",
                 FAKE_NVML_UUIDS="GPU-aaaa,GPU-bbbb")


def no_nvml_env():
    env = clean_env(LLEM_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
    env.pop("LD_LIBRARY_PATH", None)
    return env


def report(rapl_root="-", env=None):
    r = run([rapl_root], env=env, tool="machine_report")
    if r.returncode != 0:
        raise AssertionError(f"machine_report exit {r.returncode}: {r.stdout}{r.stderr}")
    return json.loads(r.stdout)


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def online_cpus():
    """Counts /sys/devices/system/cpu/online ("0-3,8-11")."""
    text = read("/sys/devices/system/cpu/online")
    if text is None:
        return os.sysconf("SC_NPROCESSORS_ONLN")
    n = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def fake_powercap(root):
    """package-0 (readable) with a dram subzone whose counter cannot be read,
    and package-1 (readable)."""
    zones = (("intel-rapl:0", "package-0", "262143328850"),
             ("intel-rapl:0/intel-rapl:0:0", "dram", "65712999613"),
             ("intel-rapl:1", "package-1", "262143328850"))
    for zone, name, wrap in zones:
        d = os.path.join(root, zone)
        os.makedirs(d)
        with open(os.path.join(d, "name"), "w") as f:
            f.write(name + "\n")
        with open(os.path.join(d, "max_energy_range_uj"), "w") as f:
            f.write(wrap + "\n")
    for zone in ("intel-rapl:0", "intel-rapl:1"):
        with open(os.path.join(root, zone, "energy_uj"), "w") as f:
            f.write("12345\n")
    # Root reads mode-0000 files, so an unreadable counter is a directory.
    os.makedirs(os.path.join(root, "intel-rapl:0/intel-rapl:0:0/energy_uj"))


class MachineReport(unittest.TestCase):
    def test_top_level_layout(self):
        r = report(env=no_nvml_env())
        self.assertEqual(list(r), ["llem", "collected_at", "cpu", "gpu", "rapl",
                                   "backends", "system"])
        self.assertRegex(r["collected_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

    def test_version_is_the_one_llem_prints(self):
        r = report()
        self.assertEqual(run(["--version"]).stdout, f"llem {r['llem']['version']}\n")
        self.assertIn(r["llem"]["build"], run(["--version", "-v"]).stdout)

    def test_cpu_matches_proc_cpuinfo_and_sysfs(self):
        cpu = report()["cpu"]
        models = re.findall(r"(?m)^model name\s*:\s*(.*)$", read("/proc/cpuinfo") or "")
        if models:
            self.assertEqual(cpu["model"], models[0].strip())
        else:
            self.assertIsNone(cpu["model"])
        self.assertEqual(cpu["logical_cores"], online_cpus())
        governor = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
        # Null when the kernel does not expose it: never a made-up value.
        self.assertEqual(cpu["governor"], governor.strip() if governor else None)
        pairs = set(re.findall(r"(?ms)^physical id\s*:\s*(\d+).*?^core id\s*:\s*(\d+)",
                               read("/proc/cpuinfo") or ""))
        if pairs:
            self.assertEqual(cpu["physical_cores"], len(pairs))

    def test_system_matches_meminfo_uname_and_os_release(self):
        sysinfo = report()["system"]
        kib = int(re.search(r"(?m)^MemTotal:\s+(\d+) kB", read("/proc/meminfo")).group(1))
        self.assertEqual(sysinfo["memory_total_mib"], kib // 1024)
        u = os.uname()
        self.assertEqual(sysinfo["kernel"], f"{u.sysname} {u.release}")
        self.assertEqual(sysinfo["arch"], u.machine)
        m = re.search(r"(?m)^PRETTY_NAME=(.*)$", read("/etc/os-release") or "")
        if m:
            self.assertEqual(sysinfo["distro"], m.group(1).strip().strip('"\''))

    def test_fake_rapl_tree(self):
        root = tempfile.mkdtemp(prefix="llem-powercap-")
        try:
            fake_powercap(root)
            rapl = report(root)["rapl"]
            self.assertEqual(rapl["root"], root)
            self.assertTrue(rapl["present"])
            self.assertFalse(rapl["all_readable"])
            got = [(z["id"], z["name"], z["depth"], z["readable"], z["max_energy_range_uj"])
                   for z in rapl["zones"]]
            self.assertEqual(got, [
                ("intel-rapl:0", "package-0", 0, True, 262143328850),
                ("intel-rapl:0:0", "dram", 1, False, 65712999613),
                ("intel-rapl:1", "package-1", 0, True, 262143328850)])
            self.assertIsNone(rapl["zones"][0]["error"])
            self.assertIn("energy_uj", rapl["zones"][1]["error"])
            # The subzone's counter is the unreadable one: the fix covers it.
            self.assertEqual(rapl["fix_hint"],
                             f"sudo chmod o+r {root}/intel-rapl:*/energy_uj "
                             f"{root}/intel-rapl:*/intel-rapl:*/energy_uj  # resets at reboot")
            self.assertIsInstance(rapl["fix_detail"], str)

            out = run(["config", "--rapl-root", root]).stdout
            self.assertIn(f"CPU energy (RAPL, {root})\n", out)
            self.assertIn("  package-0    intel-rapl:0     readable\n", out)
            self.assertIn("    dram         intel-rapl:0:0   not readable\n", out)
            self.assertIn("  package-1    intel-rapl:1     readable\n", out)
            self.assertIn(f"  fix: {rapl['fix_hint']}\n", out)
        finally:
            shutil.rmtree(root)

    def test_readable_rapl_has_no_fix(self):
        root = tempfile.mkdtemp(prefix="llem-powercap-")
        try:
            os.makedirs(os.path.join(root, "intel-rapl:0"))
            for name, text in (("name", "package-0\n"), ("energy_uj", "1\n")):
                with open(os.path.join(root, "intel-rapl:0", name), "w") as f:
                    f.write(text)
            rapl = report(root)["rapl"]
            self.assertTrue(rapl["all_readable"])
            self.assertIsNone(rapl["fix_hint"])
            # No max_energy_range_uj file: unknown, so null, not 0.
            self.assertIsNone(rapl["zones"][0]["max_energy_range_uj"])
            self.assertNotIn("fix:", run(["config", "--rapl-root", root]).stdout)
        finally:
            shutil.rmtree(root)

    def test_no_rapl(self):
        root = tempfile.mkdtemp(prefix="llem-powercap-")
        try:
            rapl = report(root)["rapl"]
            self.assertEqual((rapl["present"], rapl["all_readable"], rapl["zones"]),
                             (False, False, []))
            self.assertIsNone(rapl["fix_hint"])
        finally:
            shutil.rmtree(root)

    def test_default_rapl_root(self):
        self.assertEqual(report()["rapl"]["root"], "/sys/class/powercap")

    def test_fake_nvml_gpus(self):
        gpu = report(env=clean_env(**FAKE_GPUS))["gpu"]
        self.assertTrue(gpu["nvml_loaded"])
        self.assertIsNone(gpu["error"])
        self.assertEqual(gpu["library_path"], os.path.join(FAKE_NVML_DIR, "libnvidia-ml.so.1"))
        self.assertEqual(gpu["driver_version"], "550.54.15")
        self.assertEqual(gpu["cuda_driver_version"], "12.4")
        self.assertEqual(gpu["devices"], [
            {"index": 0, "name": "Fake H100", "uuid": "GPU-aaaa", "memory_total_mib": 81559,
             "power_limit_w": 350.0, "persistence_mode": False},
            {"index": 1, "name": "Fake H100", "uuid": "GPU-bbbb", "memory_total_mib": 81559,
             "power_limit_w": 350.0, "persistence_mode": False}])

        out = run(["config"], env=clean_env(**FAKE_GPUS)).stdout
        self.assertIn("  0  Fake H100  79.6 GiB  power limit 350 W  (persistence mode off)\n", out)
        self.assertIn("  1  Fake H100  79.6 GiB  power limit 350 W  (persistence mode off)\n", out)
        self.assertIn("  Driver 550.54.15, CUDA 12.4\n", out)
        self.assertNotIn("Library", out)  # only with -v

    def test_without_nvml_the_reason_and_no_devices(self):
        gpu = report(env=no_nvml_env())["gpu"]
        self.assertFalse(gpu["nvml_loaded"])
        self.assertIn("not found", gpu["error"])
        self.assertEqual(gpu["devices"], [])
        self.assertIsNone(gpu["driver_version"])
        self.assertIn(f"  No GPU detected ({gpu['error']})\n",
                      run(["config"], env=no_nvml_env()).stdout)

    def test_nvml_init_failure(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_INIT_FAIL="1")
        gpu = report(env=env)["gpu"]
        self.assertFalse(gpu["nvml_loaded"])
        self.assertEqual(gpu["error"], "nvmlInit failed: Unknown Error")
        self.assertEqual(gpu["devices"], [])

    def test_backends_as_llem_config_lists_them(self):
        backends = report()["backends"]
        by_name = {b["name"]: b for b in backends}
        self.assertEqual(list(by_name), ["native", "pytorch", "vllm", "tensorrt"])
        self.assertEqual((by_name["native"]["built"], by_name["native"]["available"]),
                         (True, True))
        self.assertEqual(by_name["native"]["precisions"], ["fp32", "fp16", "bf16"])
        self.assertEqual((by_name["vllm"]["built"], by_name["vllm"]["available"]),
                         (False, False))
        out = run(["config"]).stdout
        for b in backends:
            # pytorch's detail names what this machine has; it must not
            # change between the two calls.
            state = "available" if b["available"] else "unavailable"
            self.assertIn(f"  {b['name']:<9} {state}: {b['detail']}\n", out)

    def test_llem_config_prints_the_report(self):
        r = report(env=no_nvml_env())
        out = run(["config", "-v"], env=no_nvml_env()).stdout
        cpu, sysinfo = r["cpu"], r["system"]
        self.assertTrue(out.startswith(f"llem {r['llem']['version']}\n\nCPU\n"), out)
        self.assertIn(f"  Model     {cpu['model'] or '(unknown)'}\n", out)
        cores = f"  Cores     {cpu['logical_cores']} logical"
        if cpu["physical_cores"] is not None:
            cores += f", {cpu['physical_cores']} physical"
        self.assertIn(cores + "\n", out)
        self.assertIn(f"  Governor  {cpu['governor'] or '(not exposed)'}\n", out)
        self.assertIn(f"  Memory    {sysinfo['memory_total_mib'] / 1024:.1f} GiB\n", out)
        self.assertIn(f"  Kernel     {sysinfo['kernel']} ({sysinfo['arch']})\n", out)
        self.assertIn(f"  Distro     {sysinfo['distro']}\n", out)
        self.assertIn(f"  Container  {sysinfo['container'] or 'none detected'}\n", out)
        self.assertIn(f"  Build      {r['llem']['build']}\n", out)


class FieldsAndUserPath(unittest.TestCase):
    def test_fields_doc_is_what_llem_config_fields_prints(self):
        for fmt in ("text", "markdown"):
            r = run(["--fields", fmt], tool="machine_report")
            self.assertEqual(r.returncode, 0, r.stdout)
            self.assertEqual(r.stdout, run(["config", "--fields", f"--format={fmt}"]).stdout)
        with open(os.path.join(SOURCE, "docs", "config-reference.md"), encoding="utf-8") as f:
            self.assertEqual(run(["--fields", "markdown"], tool="machine_report").stdout,
                             f.read())

    def test_fields_doc_rejects_another_format(self):
        r = run(["--fields", "html"], tool="machine_report")
        self.assertEqual(r.returncode, 1)  # 3 would mean *out was left set
        self.assertEqual(r.stdout,
                         "error: -2 fields format must be text or markdown, got 'html'\n")
        r = run(["config", "--fields", "--format=html"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--format must be text or markdown, got 'html'", r.stderr)

    def test_user_path(self):
        env = clean_env()
        r = run(["--user-path"], env=env, tool="machine_report")
        self.assertEqual(r.stdout, os.path.join(env["XDG_CONFIG_HOME"], "llem", "config.yaml") + "\n")
        env.pop("XDG_CONFIG_HOME")
        env["HOME"] = "/home/someone"
        r = run(["--user-path"], env=env, tool="machine_report")
        self.assertEqual(r.stdout, "/home/someone/.config/llem/config.yaml\n")
        env.pop("HOME")
        r = run(["--user-path"], env=env, tool="machine_report")
        self.assertEqual((r.returncode, r.stdout), (0, "(null)\n"))
        r = run(["config"], env=env)
        self.assertIn("  Path    (no HOME or XDG_CONFIG_HOME)\n", r.stdout)


class UserConfig(unittest.TestCase):
    """The Config section: llem_config_load's diagnostics and the plan's
    explicit settings, through the public API."""

    def user_config(self, text):
        env = clean_env()
        d = os.path.join(env["XDG_CONFIG_HOME"], "llem")
        os.makedirs(d)
        path = os.path.join(d, "config.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return env, path

    def test_every_problem_with_its_hint_after_the_status(self):
        env, path = self.user_config("precision: fp61\nn: -3\noutptu_dir: x\n")
        r = run(["config"], env=env)
        self.assertEqual(r.returncode, 0)
        self.assertIn("  Status  invalid (3 errors; llem run will refuse it):\n", r.stdout)
        self.assertEqual(r.stderr.splitlines(), [
            f"{path}:1:12: precision: must be one of fp32, fp16, bf16, got 'fp61'",
            "  hint: did you mean 'fp32'?",
            f"{path}:2:4: n: must be at least 1 (allowed: 1 to 1000000000), got -3",
            f"{path}:3:1: outptu_dir: unknown key, did you mean 'output_dir'?"])

    def test_verbose_lists_only_what_the_user_config_set(self):
        env, path = self.user_config("precision: fp16\nn: 7\ndecoder: {top_k: 3}\n")
        r = run(["config", "-v"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        section = r.stdout[r.stdout.index("Config\n"):r.stdout.index("System\n")]
        # Not the model override `llem config` validates it under.
        self.assertEqual(section, f"Config\n  Path    {path}\n  Status  loaded\n"
                                  "    n: 7\n    precision: fp16\n    decoder.top_k: 3\n")

    def test_user_config_option(self):
        env, _ = self.user_config("n: 7\n")
        other = os.path.join(env["XDG_CONFIG_HOME"], "other.yaml")
        with open(other, "w", encoding="utf-8") as f:
            f.write("n: 0\n")
        r = run(["config", "--user-config", other], env=env)
        self.assertIn(f"  Path    {other}\n  Status  invalid (1 error;", r.stdout)
        self.assertIn(f"{other}:1:4: n: must be at least 1", r.stderr)


if __name__ == "__main__":
    unittest.main()
