# ruff: noqa: E501  (regex tables read better unwrapped)
"""System area: generalization leftovers, DHCP networking, boot log."""

from __future__ import annotations

import re

from checks.common import BOTH, ONLINE, clip
from checks.facts.boot_journal import FACT as BOOT_JOURNAL
from checks.facts.deprovision_state import FACT as DEPROVISION_STATE
from checks.facts.dmesg import FACT as DMESG
from checks.facts.dmi import FACT as DMI
from checks.facts.harness_footprint import FACT as HARNESS_FOOTPRINT
from checks.facts.network import FACT as NETWORK
from checks.facts.network_config import FACT as NETWORK_CONFIG
from checks.model import Facts, Outcome, Params, Severity, Status
from checks.registry import check


@check(
    id="generalized",
    title="Image was generalized (deprovisioned)",
    area="system",
    severity=Severity.FAIL,
    required="no deprovisioning leftovers that predate this boot",
    facts=[DEPROVISION_STATE],
    params={"slack_seconds": 0},
    tags=BOTH,
)
def generalized(facts: Facts, params: Params) -> Outcome:
    """Online rule: after the first boot cloud-init and the agent legitimately create host keys,
    leases and an instance directory, so an artefact counts against the image only if it
    **predates this boot** (mtime < kernel boot time from /proc/stat ``btime``, minus
    ``slack_seconds``) — it came from the image, not from this boot:

    * SSH host keys older than the boot (not regenerated on first boot);
    * DHCP lease files older than the boot (dhclient/dhcpcd/NetworkManager; networkd keeps its
      leases in /run, which is always fresh);
    * files under /var/lib/waagent older than the boot (e.g. a captured ovf-env.xml);
    * cloud-init instance directories other than the current one (``cloud-init clean`` not run);
    * a regular /etc/resolv.conf older than the boot;
    * an /etc/machine-id holding an id written before the boot (systemd fills an empty or
      ``uninitialized`` one on first boot; a shipped id makes every VM's the same);
    * waagent.log or cloud-init's logs born before the boot (``waagent -deprovision`` and
      ``cloud-init clean --logs`` delete them; first boot appends, so the birth time decides).

    Offline (on the image's files) the same leftovers are judged by presence alone."""
    state = facts.require(DEPROVISION_STATE)
    if state.btime <= 0:
        return Outcome(Status.ERROR, "", "boot time unknown")
    limit = state.btime - params.integer("slack_seconds")
    leftovers: list[str] = []
    for stamped, label in (
        (state.host_keys, "SSH host key"),
        (state.dhcp_leases, "DHCP lease"),
        (state.waagent, "agent state"),
    ):
        for item in stamped:
            if item.mtime < limit:
                leftovers.append(f"{label} from before this boot: {item.path}")
    for instance in state.cloud_instances:
        if not instance.current:
            leftovers.append(f"cloud-init instance of another boot: {instance.path}")
    resolv = state.resolv_conf_mtime
    if resolv is not None and resolv < limit:
        leftovers.append("/etc/resolv.conf written before this boot")
    for item in state.machine_id:
        if item.mtime < limit:
            leftovers.append("machine-id from before this boot: every VM of the image shares it")
    for item in state.provisioning_logs:
        if 0 < item.mtime < limit:  # birth time; 0 is unknown
            leftovers.append(f"log of an earlier provisioning: {item.path}")
    if leftovers:
        return Outcome(
            Status.FAIL,
            leftovers[0],
            f"{len(leftovers)} deprovisioning leftover(s): run `waagent -deprovision+user` "
            "and `cloud-init clean` before capture",
            clip(leftovers),
        )
    counts = ", ".join(
        f"{len(items)} {kind}"
        for kind, items in (
            ("host_keys", state.host_keys),
            ("dhcp_leases", state.dhcp_leases),
            ("waagent", state.waagent),
        )
    )
    return Outcome(
        Status.PASS, "no leftovers", f"everything present was created this boot ({counts})"
    )


@check(
    id="network_dhcp",
    title="Network comes up with DHCP",
    area="system",
    severity=Severity.FAIL,
    required="primary interface configured by DHCP (as it came up and in the shipped "
    "configuration files); no persistent-net rules",
    facts=[NETWORK, NETWORK_CONFIG],
    tags=BOTH,
)
def network_dhcp(facts: Facts, params: Params) -> Outcome:
    """The default-route interface (without a default route: the first non-loopback one) has a
    DHCP (``dynamic``) IPv4 address, and neither
    70-persistent-net.rules nor 75-persistent-net-generator.rules exists (they pin a MAC address
    that changes on every deployment). The shipped configuration files (``network_config``:
    netplan, ifupdown, RHEL ifcfg and NetworkManager keyfiles, SUSE wicked ifcfg,
    systemd-networkd) must configure some interface by DHCP when they configure any statically:
    a static address baked into the image would clash on the next deployment."""
    network = facts.require(NETWORK)
    route = network.default_route
    all_addrs = list(network.addresses)
    m = re.search(r"\bdev (\S+)", route)
    if m:
        dev = m.group(1)
    else:
        # no default route (e.g. QEMU user networking with restrict=on offers no gateway):
        # judge the first non-loopback interface that has an IPv4 address
        others = [
            ln.split()[1] for ln in all_addrs if len(ln.split()) > 1 and ln.split()[1] != "lo"
        ]
        if not others:
            return Outcome(Status.FAIL, "no IPv4 address", "the network did not come up")
        dev = others[0]
    addrs = [line for line in all_addrs if f" {dev} " in f" {line} "]
    # "dynamic" = a lease lifetime (DHCP); "proto dhcp" on the route says the same
    dynamic = [a for a in addrs if " dynamic" in a] or (
        ["proto dhcp"] if "proto dhcp" in route else []
    )
    rules = list(network.persistent_rules)
    evidence = clip([route, *addrs, *(f"config: {c}" for c in network.config_files)])
    actual = f"{dev}: " + (
        "dynamic (DHCP)" if dynamic else ("static" if addrs else "no IPv4 address")
    )
    if rules:
        return Outcome(
            Status.FAIL, actual, f"persistent net rules present: {', '.join(rules)}", evidence
        )
    if not dynamic:
        return Outcome(Status.FAIL, actual, f"{dev} is not configured by DHCP", evidence)
    shipped = facts.get(NETWORK_CONFIG)
    configs = shipped.interfaces() if shipped is not None else []
    static = [f"{c.path}: {c.interface} static" for c in configs if c.method == "static"]
    if static and not any(c.method == "dhcp" for c in configs):
        return Outcome(
            Status.FAIL,
            actual,
            f"the shipped network configuration is static ({static[0]})",
            clip([*evidence, *static]),
        )
    return Outcome(Status.PASS, actual, "primary interface configured by DHCP", evidence)


# Boot-log lines that look like problems but are expected. The idea (an explicit, reviewed ignore
# list) comes from LISA's AzureImageStandard; each entry says why it is harmless. Extend it with the
# policy parameter ``extra_ignore`` (regexes) rather than editing this list for one image.
BOOT_LOG_IGNORE: tuple[tuple[str, str], ...] = (
    (r"Perf event create on CPU \d+ failed", "no PMU in the virtual CPU"),
    (r"Fast TSC calibration (failed|using PIT)", "TSC calibration under emulation"),
    (r"acpi PNP0A03:00|pci_root PNP0A03:00", "firmware PCI root quirks"),
    (r"disabling PCIe ASPM|ACPI PCC probe failed|failed to evaluate _DSM", "ACPI quirks"),
    (r"Failed to access perfctr msr|PMU not available|unchecked MSR access error", "no PMU"),
    (r"RAS: Correctable Errors collector initialized", "informational"),
    (r"BERT: Boot Error Record Table support is disabled", "informational"),
    (r"errors=remount-ro", "an fstab mount option, not an error"),
    (r"\bnofail\b", "a mount option, not an error"),
    (r"GPT: Use GNU Parted to correct GPT errors", "disk grown before first boot"),
    (
        r"was skipped because (all trigger condition checks failed|of a failed condition check|of an unmet condition check)",
        "systemd condition, not a failure",
    ),
    (r"failsafe\.(service|target)", "unit name"),
    (
        r"systemd-journald\[\d+\]: (File .* corrupted or uncleanly shut down|Journal effective settings)",
        "journald start-up notices on a fresh boot",
    ),
    (r"Failed to set file attributes: Inappropriate ioctl", "journald on non-ext4"),
    (
        r"platform regulatory\.0: Direct firmware load for regulatory\.db failed|failed to load regulatory\.db",
        "no Wi-Fi database",
    ),
    (r"Failed to init entropy source|hwrng", "no hardware RNG"),
    (r"SGI XFS with ACLs", "XFS banner"),
    (r"This warning is only shown for the first unit using IP firewalling", "systemd notice"),
    (r"urandom warning.* missed due to ratelimiting", "rate-limit notice"),
    (r"Warning: Unmaintained driver is detected", "RHEL notice"),
    (r"i8042: (No controller found|Can't read CTR)", "no PS/2 controller in the VM"),
    (r"floppy|\bfd0\b", "no floppy drive"),
    (r"pcspkr|pc_speaker", "no PC speaker"),
    (r"clocksource.*(unstable|tsc)", "TCG/steal-time clock notices"),
    (
        r"Spectre V2 : WARNING: Unprivileged eBPF|MDS CPU bug present|MMIO Stale Data CPU bug|TAA CPU bug|RETBleed|GDS: |SRBDS|(Spectre|Meltdown|MDS|TAA|MMIO Stale Data|RETBleed|GDS|SRBDS|SRSO|Speculative Store Bypass)[^:]*: .*[Vv]ulnerable",
        "CPU mitigation banners for the emulated CPU model",
    ),
    (r"x86/cpu: .*(SGX|VMX).*disabled|TSX", "emulated CPU feature notices"),
    (r"ACPI: .*(_OSC failed|AE_NOT_FOUND|Error: Skipping)", "firmware ACPI table notices"),
    (r"hpet|HPET", "timer notices under emulation"),
    (
        r"\busb \d+-[\d.]+: (device descriptor read|device not accepting address|unable to enumerate)",
        "USB enumeration noise of emulated devices",
    ),
    (r"random: crng init", "entropy notice"),
    (r"EXT4-fs.*(mounted filesystem|re-mounted)", "mount banners that contain 'errors='"),
    (
        r"cloud-init.*(Failed to (get raw userdata|fetch|find)|DataSource.*not found|Failed loading of datasource|WARNING: Used fallback datasource)",
        "cloud-init datasource search on a non-Azure boot",
    ),
    (
        r"walinuxagent|waagent|WALinuxAgent|168\.63\.129\.16|wireserver",
        "the Azure agent cannot reach the Azure wireserver off Azure",
    ),
    (r"hv_vmbus|hv_utils|hyperv|Hyper-V", "Hyper-V drivers off Hyper-V"),
    (
        r"sshd.*(error: kex_exchange_identification|Connection (closed|reset)|banner|Broken pipe)",
        "the harness's SSH readiness polling",
    ),
    (r"sudo.*pam_unix|pam_faillock", "PAM notices"),
    (r"dhcp.*(fail|error).*IPv6|DHCPv6", "no IPv6 DHCP in user-mode networking"),
    (
        r"Failed to (start|connect).*(time|ntp|NTP|timesync)|systemd-timesyncd",
        "no NTP (loopback-only network)",
    ),
    (r"calibrate_delay_direct\(\) failed to get a good estimate", "BogoMIPS calibration under TCG"),
    # LISA's confirmed-harmless lines (``_error_fail_warnings_ignorable_str_list`` in
    # microsoft/lisa lisa/microsoft/testsuites/core/azure_image_standard.py @66df42e)
    (
        r"error trying to compare the snap system key: system-key missing on disk|state ensure error|got unexpected HTTP status code|TLS record write failed",
        "snapd without a network (LISA ignores it)",
    ),
    (
        r"kdumpctl.*: Warning: There might not be enough space to save a vmcore",
        "kdump with a small disk or memory (LISA ignores it)",
    ),
    (
        r"systemd-journald-audit\.socket|Cannot add dependency job|Failed to spawn",
        "LISA ignores it",
    ),
    (r"Failed to create new system journal: No such file or directory", "LISA ignores it"),
    (r"failed to get extended button data|ipmi_si|startpar-bridge", "LISA ignores it"),
    (r"display-manager\.service|augenrules.*: failure 1", "LISA ignores it"),
    (
        r"microcode_ctl: kernel version .* failed early load check for .*, skipping",
        "LISA ignores it",
    ),
    (r"rngd: Failed to init entropy source", "no hardware RNG (LISA ignores it)"),
    (r"open /dev/vmbus/hv_(fcopy|vss) failed|hv-(vss|fcopy)-daemon\.service", "LISA ignores it"),
    (r"dnf.*: Failed determining last makecache time", "LISA ignores it"),
    (
        r"Activation via systemd failed for unit 'dbus-org\.freedesktop\.resolve1\.service'",
        "LISA ignores it",
    ),
    (r'Error getting hardware address for "eth0": No such device', "LISA ignores it"),
    (r"codec can't encode character|mitigating potential DNS violation DVE-2018-0001", "LISA"),
    (r"Failed to set certificate key file \[gnutls error -64", "LISA ignores it"),
    (r"Condition check resulted in Process error reports when automatic reporting", "LISA"),
    (r"(end_request|blk_update_request): I/O error, dev fd0, sector 0|floppy: error -5", "LISA"),
    (r"smartd.*Bad IEC \(SMART\) mode page, err=5, skip device", "LISA ignores it"),
    (r"Enable it by using bert_enable as kernel parameter", "LISA ignores it"),
    (
        r"WARNING Daemon VM is provisioned, but the VM unique identifie|WARNING! Cached DHCP leases will be deleted",
        "agent notices on a first boot (LISA ignores them)",
    ),
    (r"Unconfined exec qualifier \(ux\) allows some dangerous environment", "LISA ignores it"),
    (
        r"reloading interface list|Server preferred version:|WARNING Hostname record does not exist",
        "LISA",
    ),
    (r"Dhcp client is not running|Proceeding WITHOUT firewalling in effect!", "LISA ignores it"),
    (
        r"(Write|Added ephemeral disk) warning|dataloss warning file|temp-disk-dataloss-warning",
        "LISA",
    ),
    (r"WARNING ExtHandler ExtHandler cgroups v2 mounted at", "LISA ignores it"),
    (r"GRUB failed boot detection", "LISA ignores it"),
    (r"Internal error: Cannot find counter: swap", "LISA ignores it"),
    (r"ib_srpt (MAD registration failed for|srpt_add_one\(.*\) failed)", "LISA ignores it"),
    (r"handlers\.py\[WARNING\]: failed to truncate kvp pool file", "LISA ignores it"),
    (r"mlx5_core0: WARN: mlx5_fwdump_prep", "LISA ignores it"),
    (r"ACPI: _OSC evaluation for CPUs failed, trying _PDC", "LISA ignores it"),
    (
        r"Buffer I/O error on dev sr0, logical block \d+, async page read|I/O error, dev sr0, sector \d+ op 0x0:\(READ\)",
        "the seed CD (LISA ignores it)",
    ),
    (r"audit: type=1103 .*op=PAM:setcred grantors=\?.*res=failed", "LISA ignores it"),
)

HARNESS_SUDO_NAME = re.compile(r"sudo(?:\[\d+\])?:\s+(?P<user>[^\s:]+) : unable to resolve host ")
"""sudo's warning when the host name does not resolve, for the user who ran sudo. The harness's
own sudo runs log it when a provisioning agent set a host name that only the cloud's DNS knows
(Azure DNS resolves a VM's name; the local emulation has no DNS): the harness's doing, not the
image's. The same line for any other user still counts."""


def _harness_caused(line: str, harness_users: set[str]) -> bool:
    found = HARNESS_SUDO_NAME.search(line)
    return found is not None and found.group("user") in harness_users


@check(
    id="boot_log_clean",
    title="Boot log has no unexpected failures",
    area="system",
    severity=Severity.FAIL,
    required="no fail/error/warning lines outside the ignore list",
    facts=[DMESG, BOOT_JOURNAL, DMI],
    params={"extra_ignore": [], "max_unexpected": 0, "off_azure": "warn"},
    profiles={"lisa": {"off_azure": "skip"}},
    tags=ONLINE,
)
def boot_log_clean(facts: Facts, params: Params) -> Outcome:
    """Kernel log and this boot's journal (or syslog/messages) must not contain fail/error/warning
    lines other than those in :data:`BOOT_LOG_IGNORE` (plus policy ``extra_ignore`` regexes).

    No Microsoft certification test reads the boot log (S1, S3); the rule is LISA's
    ``verify_boot_error_fail_warnings`` (priority 5), which LISA runs only on Azure, Hyper-V and
    ``ready`` hosts, never on its QEMU platform: a boot outside Azure logs what Azure's does not
    (no wireserver, emulated devices). So the verdict is a failure only on a machine that
    presents itself as Azure (the ``dmi`` fact: Azure's chassis asset tag, as the Azure emulator
    and Azure give it); elsewhere ``off_azure`` decides: ``warn`` (default), ``fail`` or ``skip``
    (the ``lisa`` profile: LISA does not run the case there)."""
    patterns = [re.compile(p, re.IGNORECASE) for p, _ in BOOT_LOG_IGNORE]
    patterns += [re.compile(p, re.IGNORECASE) for p in params.texts("extra_ignore")]
    problem = re.compile(r"fail|error|warn|call trace|BUG:|panic", re.IGNORECASE)
    dmesg, journal = facts.get(DMESG), facts.get(BOOT_JOURNAL)
    if journal is not None and journal.read_error:
        # an unreadable journal is no evidence of a clean boot
        return Outcome(Status.ERROR, "journal unread", f"the journal: {journal.read_error}")
    footprint = facts.get(HARNESS_FOOTPRINT)
    harness_users = footprint.accounts if footprint is not None else set()
    lines: list[str] = []
    lines += dmesg.problems if dmesg is not None else []
    lines += journal.lines if journal is not None else []
    lines = [ln for ln in lines if not _harness_caused(ln, harness_users)]
    harness_lines = (
        len(dmesg.problems if dmesg is not None else [])
        + len(journal.lines if journal is not None else [])
        - len(lines)
    )
    unexpected = [
        ln.strip()
        for ln in lines
        if ln.strip() and problem.search(ln) and not any(p.search(ln) for p in patterns)
    ]
    # the same message in dmesg and the journal counts once
    seen: dict[str, None] = {}
    for ln in unexpected:
        seen.setdefault(re.sub(r"^\[[^]]*\]\s*|^\S+ \S+ \S+ \S+ ", "", ln), None)
    unique = list(seen)
    ignored = len([ln for ln in lines if ln.strip()]) - len(unexpected) + harness_lines
    dmi = facts.get(DMI)
    on_azure = dmi is not None and dmi.azure
    off_azure = params.text("off_azure")
    if not on_azure and off_azure == "skip":
        return Outcome(
            Status.SKIPPED, "not on Azure", "LISA runs this case only on Azure/Hyper-V hosts"
        )
    if len(unique) > params.integer("max_unexpected"):
        status = Status.FAIL if on_azure or off_azure == "fail" else Status.WARNING
        where = "" if on_azure else " (not an Azure VM: off_azure=" + off_azure + ")"
        return Outcome(
            status,
            unique[0][:200],
            f"{len(unique)} unexpected boot-log line(s) ({ignored} ignored by the list){where}",
            clip(unique, 30),
        )
    unsettled = footprint.unsettled("system") if footprint is not None else ""
    if unsettled:  # the boot was not over: a clean log so far is no verdict on the whole boot
        return Outcome(Status.ERROR, "clean so far", f"not judged: {unsettled}")
    return Outcome(Status.PASS, "clean", f"no unexpected lines ({ignored} ignored by the list)")
