"""LISA parity: run LISA's AzureImageStandard cases and vmcert's checks on the same booted VM.

``nox -s lisa [-- IMAGE ...]`` runs this under the shared e2e lock. For each image it boots the
image with ``vmcert boot --keep``, points LISA's ``ready`` platform at the VM over SSH (a runbook
written to a temporary directory, JUnit results), runs ``vmcert check --platform ssh --policy
lisa --json`` against the same VM, stops the VM and prints one row per LISA case: LISA's result,
the vmcert checks that judge the same thing and theirs, and whether they agree. LISA is the
``lisa`` command of the ``mslisa`` package (``$VMCERT_LISA`` names another executable).
``$VMCERT_LISA_HOST=HOST:PORT:USER:KEY`` compares the two on a machine that is already running
instead (nothing is booted): use a throw-away machine only, LISA's cases run as root there.

``$VMCERT_LISA_CACHE=DIR`` keeps LISA's verdicts per image in ``DIR/<image file name>.json`` and
reuses them when the file exists: LISA's verdicts depend on the image only, so after a change to
vmcert a re-run boots each image and runs vmcert's checks without LISA's five minutes per image.
The test images' file names carry their recipe hash, so a rebuilt image is never matched with an
older image's verdicts.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

# LISA case -> the vmcert checks that judge the same property ("" = vmcert has none)
CASES: dict[str, tuple[str, ...]] = {
    "verify_default_targetpw": ("sudoers_no_targetpw",),
    "verify_grub": ("grub_no_ata_params", "numa_off_old_kernels"),
    "verify_network_manager_not_installed": (),
    "verify_network_file_configuration": ("network_file_configuration",),
    "verify_ifcfg_eth0": ("network_file_configuration",),
    "verify_udev_rules_moved": ("network_dhcp",),
    "verify_dhcp_file_configuration": ("network_file_configuration",),
    "verify_yum_conf": (),
    "verify_os_update": (),  # excluded from the run: it upgrades every package and reboots
    "verify_hv_kvp_daemon_installed": ("hv_kvp_daemon",),
    "verify_repository_installed": ("repos_configured",),
    "verify_serial_console_is_enabled": ("serial_console_enabled", "kernel_cmdline_console"),
    "verify_bash_history_is_empty": ("bash_history",),
    "verify_boot_error_fail_warnings": ("boot_log_clean",),
    "verify_cloud_init_error_status": ("cloud_init_error_status",),
    "verify_client_active_interval": ("ssh_client_alive_interval",),
    "verify_no_pre_exist_users": ("no_default_credentials",),
    "verify_resource_disk_readme_file": (),
    "verify_resource_disk_file_system": (),
    "verify_waagent_version": ("linux_agent_version", "waagent_auto_update", "linux_agent_enabled"),
    "verify_python_version": ("python_version",),
    "verify_openssl_version": ("openssl_version",),
    "verify_azure_64bit_os": ("os_arch_64bit",),
    "verify_omi_version": ("omi_version",),
    "verify_no_swap_on_osdisk": ("no_swap_on_os_disk",),
    "verify_essential_kernel_modules": ("essential_kernel_modules",),
}

RUNBOOK = """\
name: vmcert lisa parity
extension:
  - {testsuites}
testcase:
  - criteria:
      area: azure_image_standard
  # verify_os_update runs the distribution's full upgrade and reboots the machine: never here
  - criteria:
      name: verify_os_update
    select_action: forceExclude
environment:
  environments:
    - nodes:
        - type: remote
          public_address: {host}
          public_port: {port}
          username: {user}
          private_key_file: {key}
platform:
  - type: ready
notifier:
  - type: junit
    path: {junit}
"""


def boot(image: Path) -> tuple[dict[str, str], str]:
    """``vmcert boot --keep``: the SSH coordinates and the command that stops the VM."""
    proc = subprocess.run(
        ["vmcert", "boot", "--keep", "--command", "true", str(image)],
        capture_output=True,
        text=True,
        check=False,
    )
    reach = re.search(r"reach it with: (.+)", proc.stderr)
    stop = re.search(r"stop it with: (.+)", proc.stderr)
    if reach is None or stop is None:
        raise SystemExit(f"vmcert boot --keep {image} failed:\n{proc.stderr[-2000:]}")
    words = shlex.split(reach.group(1))
    user, _, host = words[-1].partition("@")
    ssh = {"host": host, "user": user, "port": words[words.index("-p") + 1]}
    ssh["key"] = words[words.index("-i") + 1]
    return ssh, stop.group(1)


def run_lisa(ssh: dict[str, str], work: Path) -> dict[str, str]:
    """LISA's verdict per AzureImageStandard case (``passed``/``failed``/``skipped``)."""
    lisa = os.environ.get("VMCERT_LISA") or shutil.which("lisa")
    if lisa is None:
        raise SystemExit("LISA is not installed: pip install 'mslisa[azure]' (or set VMCERT_LISA)")
    # the test suites of the same installation (its own interpreter sits next to the command)
    python = Path(lisa).parent / "python"
    where = subprocess.run(
        [str(python) if python.exists() else sys.executable, "-c",
         # find_spec does not import lisa (whose import takes over stdout)
         "import importlib.util as u, os; print(os.path.dirname(u.find_spec('lisa').origin))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    suites = Path(where.stdout.strip()) / "microsoft" / "testsuites"
    junit = work / "lisa.xml"
    runbook = work / "runbook.yml"
    runbook.write_text(RUNBOOK.format(testsuites=suites, junit=junit, **ssh))
    subprocess.run([lisa, "-r", str(runbook), "-l", str(work / "log")], check=False)
    if not junit.exists():
        raise SystemExit(f"LISA wrote no results; see its log in {work / 'log'}")
    verdicts: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        # LISA names a case "verify_x (lisa_0_3)"
        name = (case.get("name", "").split() or [""])[0].split(".")[-1]
        if case.find("failure") is not None or case.find("error") is not None:
            verdicts[name] = "failed"
        elif case.find("skipped") is not None:
            verdicts[name] = "skipped"
        else:
            verdicts[name] = "passed"
    return verdicts


def run_vmcert(ssh: dict[str, str]) -> dict[str, str]:
    """vmcert's status per check on the same VM, under the ``lisa`` policy."""
    proc = subprocess.run(
        ["vmcert", "check", "--platform", "ssh", "--host", ssh["host"], "--port", ssh["port"],
         "--user", ssh["user"], "--key", ssh["key"], "--policy", "lisa", "--json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    images = report.get("images") or [report]
    results = images[0].get("results", [])
    return {r["check_id"] if "check_id" in r else r["id"]: r["status"] for r in results}


def agree(lisa: str, vmcert: list[str]) -> str:
    """``yes``/``no``, or ``n/a`` when either side has no verdict."""
    if lisa not in ("passed", "failed") or not vmcert:
        return "n/a"
    judged = [s for s in vmcert if s != "skipped"]
    if not judged:
        return "n/a"
    vmcert_fails = any(s in ("fail", "error") for s in judged)
    return "yes" if vmcert_fails == (lisa == "failed") else "no"


def table(image: Path, lisa: dict[str, str], vmcert: dict[str, str]) -> int:
    """Print the agreement table; return the number of disagreements."""
    print(f"\n## {image.name}\n")
    print("| LISA case | LISA | vmcert checks | agree |")
    print("|---|---|---|---|")
    counts = {"yes": 0, "no": 0, "n/a": 0}
    for case, checks in CASES.items():
        statuses = [vmcert.get(c, "not run") for c in checks]
        shown = ", ".join(f"{c} {s}" for c, s in zip(checks, statuses, strict=True)) or "–"
        verdict = agree(lisa.get(case, "not run"), [s for s in statuses if s != "not run"])
        counts[verdict] += 1
        print(f"| {case} | {lisa.get(case, 'not run')} | {shown} | {verdict} |")
    print(f"\nagreement: {counts['yes']} of {counts['yes'] + counts['no']} cases both judged")
    return counts["no"]


# the good image, its planted defects, the image as Azure's Debian images are made (waagent
# installed), and the Generation 2 disk (systemd-boot, which LISA's Debian grub case cannot read)
DEFAULT_VARIANTS = ("good", "defective", "azure", "gen2")


def main(argv: list[str]) -> int:
    host = os.environ.get("VMCERT_LISA_HOST")
    if host:  # an already running machine: HOST:PORT:USER:KEY (nothing is booted or stopped)
        address, port, user, key = host.split(":", 3)
        ssh = {"host": address, "port": port, "user": user, "key": key}
        with tempfile.TemporaryDirectory(prefix="vmcert-lisa-") as tmp:
            lisa = run_lisa(ssh, Path(tmp))
        table(Path(f"{user}@{address}:{port}"), lisa, run_vmcert(ssh))
        return 0
    images = [Path(a) for a in argv] or [Path(_build(v)) for v in DEFAULT_VARIANTS]
    disagreements = 0
    for image in images:
        cache = os.environ.get("VMCERT_LISA_CACHE")
        cached = Path(cache) / f"{image.name}.json" if cache else None
        lisa = json.loads(cached.read_text()) if cached and cached.exists() else None
        ssh, stop = boot(image)
        try:
            # vmcert first: LISA's own actions (an apt-get update without network, reading a
            # grub.cfg that does not exist) land in the journal that boot_log_clean reads
            vmcert = run_vmcert(ssh)
            if lisa is None:
                with tempfile.TemporaryDirectory(prefix="vmcert-lisa-") as tmp:
                    lisa = run_lisa(ssh, Path(tmp))
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    cached.write_text(json.dumps(lisa, indent=1, sort_keys=True) + "\n")
            else:
                print(f"{image.name}: LISA's verdicts from {cached}", file=sys.stderr)
        finally:
            subprocess.run(["sh", "-c", stop], check=False)
        disagreements += table(image, lisa, vmcert)
    print(f"\n{len(images)} images, {disagreements} disagreements in all")
    return 0


def _build(variant: str) -> str:
    out = subprocess.run(
        ["vmcert", "images", "build", "--variant", variant],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
