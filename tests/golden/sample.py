"""A fixed RunReport for the reporters' golden tests (timestamps and paths fixed)."""

from __future__ import annotations

from checks.model import Result, Severity, Status, Waiver
from reports.model import ImageReport, InfraAttempt, RunReport

WAIVER = Waiver("python_version", "appliance ships no python; agent is a static binary")


def sample_run() -> RunReport:
    """Two images: one certified with a waiver and a warning, one failed with an infra retry."""
    good = ImageReport(
        path="/images/good.vhd",
        format="vpc",
        virtual_size=2147483648,
        sparse_digest="sha256:" + "ab" * 32,
        inspection={"partition_table": "gpt", "partitions": 2},
        platform="qemu",
        platform_facts={"accelerator": "tcg", "qemu_version": "8.2.2"},
        guest={
            "os_name": "Linux",
            "os_distro": "debian",
            "os_version": "12",
            "kernel_version": "6.1.0",
            "kernel_full_version": "6.1.0-27-cloud-amd64",
        },
        offline_results=[
            Result(
                "first_1mb_free",
                "First 1 MB free",
                "image",
                Status.PASS,
                "first partition at sector 2048",
                "every partition starts at sector >= 2048",
                "ok",
            ),
        ],
        online_results=[
            Result(
                "bash_history",
                "Bash history",
                "security",
                Status.PASS,
                "No file Exist",
                "1024",
                "no bash history",
                evidence="$ ls -la /root\ntotal 8",
                ms_test_name="Bash History",
                selftest_id=48,
            ),
            Result(
                "kernel_cmdline_rootdelay",
                "rootdelay=300",
                "boot",
                Status.WARNING,
                "console=ttyS0 earlyprintk=ttyS0",
                "rootdelay=300",
                "Missing Parameter: rootdelay=300",
                severity=Severity.WARNING,
            ),
            Result(
                "python_version",
                "Python version",
                "packages",
                Status.FAIL,
                "not installed",
                "2.6",
                "no python interpreter",
                severity=Severity.WARNING,
                ms_test_name="Python Version",
                selftest_id=45,
                waiver=WAIVER,
            ),
            Result(
                "resource_disk_ok",
                "Resource disk",
                "storage",
                Status.SKIPPED,
                "",
                "mounted",
                "not collected: resource_disk",
            ),
        ],
        timings={"inspect": 1.5, "boot": 42.25, "checks": 3.0, "teardown": 0.5},
        artifacts={"run_dir": "runs/fixed/good", "serial_log": "runs/fixed/good/serial.log"},
        serial_log='[    0.000000] Linux version 6.1.0\nlogin: <root> & "friends"\n',
    )
    bad = ImageReport(
        path="/images/defective.vhd",
        format="vpc",
        virtual_size=2147483648,
        sparse_digest="sha256:" + "cd" * 32,
        platform="qemu",
        infra_attempts=[InfraAttempt(1, "boot", "ssh did not answer within 300 s", 300.0)],
        offline_results=[
            Result(
                "no_swap_on_os_disk",
                "No swap on OS disk",
                "storage",
                Status.FAIL,
                "Swap space configured on the OS disk.",
                "No. of Swap Partitions: 0",
                "swap partition /dev/sda3",
                evidence="sda3 swap <script>alert(1)</script>",
                ms_test_name="Swap Partition on OS Disk",
                selftest_id=41,
            ),
        ],
        online_results=[
            Result(
                "ssh_client_alive",
                "ClientAliveInterval",
                "ssh",
                Status.ERROR,
                "",
                "ClientAliveInterval 180",
                "evaluation error: ValueError: bad output",
                ms_test_name="Client Alive Interval",
                selftest_id=46,
            ),
        ],
        timings={"inspect": 1.0, "boot": 350.0, "checks": 2.0, "teardown": 0.25},
    )
    return RunReport(
        vmcert_version="0.1.0",
        started="2026-01-02T03:04:05Z",
        finished="2026-01-02T03:10:00Z",
        policy="default",
        policy_overrides={"bash_history": {"max_bytes": 1024}},
        waivers_file="waivers.yaml",
        waivers=[WAIVER],
        run_id="20260102T030405-fixed",
        run_dir="runs/20260102T030405-fixed",
        images=[good, bad],
    )
