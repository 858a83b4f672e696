# ruff: noqa: E501  (shell texts and regex tables read better unwrapped)
"""Probes: the short shell texts that collect facts on a running Linux guest.

A probe's name is the name of the fact it produces; its standard output (after the output cap) is
the fact's value, so the same check can later read the same fact collected offline from the
image's files. Probes are distribution-aware: a probe may carry one shell text per distribution
family (``debian``, ``rhel``, ``suse``, ``azurelinux``) plus a default; the batched executor
(:mod:`harness.probe_runner`) picks the family on the guest from ``/etc/os-release`` at run time,
so a whole run still needs only one SSH exec.

Rules every probe text follows:

* absolute paths for tools that live in ``/sbin`` (non-root Debian sessions have no ``/sbin`` in
  ``PATH``; local-boot.md pitfall 10), and the batch preamble also exports a full ``PATH``;
* sections of multi-part output start with a ``### name`` line (see :func:`sections`);
* exit status 0 whenever the facts were collected, even when the answer is "absent".
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FAMILIES = ("debian", "rhel", "suse", "azurelinux")
"""Distribution families a probe may specialise for."""

_FAMILY_IDS: dict[str, str] = {
    "debian": "debian",
    "ubuntu": "debian",
    "rhel": "rhel",
    "centos": "rhel",
    "fedora": "rhel",
    "rocky": "rhel",
    "almalinux": "rhel",
    "ol": "rhel",
    "sles": "suse",
    "sled": "suse",
    "opensuse": "suse",
    "opensuse-leap": "suse",
    "suse": "suse",
    "mariner": "azurelinux",
    "azurelinux": "azurelinux",
}


def parse_os_release(text: str) -> dict[str, str]:
    """Parse ``/etc/os-release`` (``KEY=value`` lines, optionally quoted) into a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def detect_family(os_release: str | Mapping[str, str]) -> str:
    """The distribution family of an ``/etc/os-release`` text: ``ID`` first, then ``ID_LIKE``.

    Returns ``"unknown"`` when neither names a known family.
    """
    info = parse_os_release(os_release) if isinstance(os_release, str) else os_release
    for candidate in [info.get("ID", ""), *info.get("ID_LIKE", "").split()]:
        family = _FAMILY_IDS.get(candidate.lower())
        if family:
            return family
    return "unknown"


# The same detection in shell, for the batch preamble (mirrors detect_family()).
FAMILY_DETECT_SH = r"""VMCERT_FAMILY=unknown
if [ -r /etc/os-release ]; then
  for _id in $( . /etc/os-release; echo "$ID $ID_LIKE" ); do
    case "$_id" in
      debian|ubuntu) VMCERT_FAMILY=debian;;
      rhel|centos|fedora|rocky|almalinux|ol) VMCERT_FAMILY=rhel;;
      sles|sled|opensuse|opensuse-leap|suse) VMCERT_FAMILY=suse;;
      mariner|azurelinux) VMCERT_FAMILY=azurelinux;;
      *) continue;;
    esac
    break
  done
fi
export VMCERT_FAMILY"""


@dataclass(frozen=True)
class Probe:
    """One fact collector: a shell text (per family), its time limit and output cap."""

    name: str
    script: str
    """The default shell text (POSIX sh), used when no family-specific text exists."""
    family_scripts: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    """Seconds before ``timeout(1)`` kills the probe (exit status 124 is reported)."""
    max_output: int = 64 * 1024
    """Bytes of standard output kept; the rest is counted and reported as dropped."""
    needs_root: bool = False
    description: str = ""

    def script_for(self, family: str) -> str:
        """The shell text for ``family`` (the default when there is no specialised one)."""
        return self.family_scripts.get(family, self.script)


PROBES: dict[str, Probe] = {}
"""Every built-in probe by name (= the fact it produces)."""


def probe(
    name: str,
    script: str,
    *,
    family_scripts: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_output: int = 64 * 1024,
    needs_root: bool = False,
    description: str = "",
) -> Probe:
    """Define and register a probe."""
    if name in PROBES:
        raise ValueError(f"probe {name!r} is defined twice")
    created = Probe(
        name=name,
        script=script.strip() + "\n",
        family_scripts={k: v.strip() + "\n" for k, v in (family_scripts or {}).items()},
        timeout=timeout,
        max_output=max_output,
        needs_root=needs_root,
        description=description,
    )
    PROBES[name] = created
    return created


def probes_for(fact_names: Iterable[str]) -> list[Probe]:
    """The probes that produce any of ``fact_names`` (facts no probe produces are ignored)."""
    wanted = set(fact_names)
    return [p for name, p in PROBES.items() if name in wanted]


_SECTION = re.compile(r"^### (\S+)\s*$", re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """Split probe output on ``### name`` lines into ``{name: body}`` (text before the first is
    kept under ``""``). A name that repeats gets its bodies joined."""
    result: dict[str, str] = {}
    parts = _SECTION.split(text)
    if parts[0].strip():
        result[""] = parts[0]
    for i in range(1, len(parts) - 1, 2):
        name, body = parts[i], parts[i + 1].lstrip("\n")
        result[name] = result[name] + body if name in result else body
    return result


# ---------------------------------------------------------------------------------------------
# Built-in probes. Each is small and quick: the whole batch must stay under ~2 s under TCG.

probe(
    "os_release",
    "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release",
    description="/etc/os-release",
)

probe(
    "uname",
    """
echo "machine=$(uname -m)"
echo "release=$(uname -r)"
echo "version=$(uname -v)"
echo "btime=$(awk '/^btime/{print $2}' /proc/stat)"
echo "now=$(date +%s)"
""",
    description="architecture, kernel release, boot time (epoch) and guest clock",
)

probe("cmdline", "cat /proc/cmdline", description="the running kernel's command line")

probe(
    "bootloader_config",
    r"""
for f in /etc/default/grub /etc/default/grub.d/*.cfg /boot/grub/grub.cfg /boot/grub2/grub.cfg \
         /boot/grub2/grubenv /boot/grub/menu.lst /boot/efi/EFI/*/grub.cfg \
         /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/loader/entries/*.conf; do
  [ -f "$f" ] || continue
  echo "### $f"
  grep -E '^[[:space:]]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|GRUB_CMDLINE_LINUX[A-Z_]*|set[[:space:]]+kernelopts)\b' "$f" \
    | grep -v '^[[:space:]]*#' | cut -c1-2000
done
exit 0
""",
    needs_root=True,
    description="kernel command lines configured in grub/extlinux/BLS files (only those lines)",
)

probe(
    "bash_history",
    r"""
for f in /root/.bash_history /home/*/.bash_history; do
  [ -e "$f" ] && stat -c '%s %U %n' "$f"
done
exit 0
""",
    needs_root=True,
    description="size, owner and path of every .bash_history",
)

probe(
    "accounts",
    r"""
echo "### shadow"
awk -F: '{ s=$2; t="hash";
  if (s=="") t="empty"; else if (s ~ /^[!*]/ || s=="x") t="locked";
  print $1, t }' /etc/shadow
echo "### authorized_keys"
for f in /root/.ssh/authorized_keys /root/.ssh/authorized_keys2 /home/*/.ssh/authorized_keys /home/*/.ssh/authorized_keys2; do
  [ -s "$f" ] || continue
  owner=$(stat -c %U "$f")
  grep -vE '^[[:space:]]*(#|$)' "$f" | while IFS= read -r line; do
    case "$line" in
      *'command="echo'*'Please login as'*) kind=stub;;
      *) kind=key;;
    esac
    echo "$f $owner $kind"
  done
done
exit 0
""",
    needs_root=True,
    description="password state per account (never the hash) and authorized_keys entries",
)

probe(
    "sudoers",
    r"""
for f in /etc/sudoers /etc/sudoers.d/*; do
  [ -f "$f" ] || continue
  grep -HnE '^[[:space:]]*Defaults.*targetpw' "$f"
done
exit 0
""",
    needs_root=True,
    description="uncommented Defaults lines that mention targetpw",
)

probe(
    "sshd",
    r"""
echo "### effective"
SSHD=/usr/sbin/sshd; [ -x "$SSHD" ] || SSHD=/usr/bin/sshd
if [ -x "$SSHD" ]; then "$SSHD" -T 2>&1 | grep -iE '^(clientaliveinterval|clientalivecountmax|port|permitrootlogin|passwordauthentication) '; echo "sshd_t_status=$?"; else echo "sshd_absent"; fi
echo "### main_config"
[ -f /etc/ssh/sshd_config ] && grep -inE '^[[:space:]]*(ClientAliveInterval|Include)([[:space:]]|=)' /etc/ssh/sshd_config
exit 0
""",
    needs_root=True,
    timeout=15,
    description="sshd -T effective settings and the ClientAliveInterval/Include lines of sshd_config",
)

probe(
    "ssh_service",
    r"""
for u in ssh.service sshd.service; do
  echo "$u enabled=$(systemctl is-enabled "$u" 2>/dev/null) active=$(systemctl is-active "$u" 2>/dev/null)"
done
echo "### listen"
if command -v ss >/dev/null 2>&1; then ss -Hltn 2>/dev/null | awk '{print $4}'; fi
exit 0
""",
    description="sshd unit state and listening TCP sockets",
)

probe(
    "agent_version",
    r"""
v=""
if command -v dpkg-query >/dev/null 2>&1; then
  v=$(dpkg-query -W -f='${Status} ${Version}\n' waagent walinuxagent 2>/dev/null | awk '/ installed /{print $NF; exit}')
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ] && command -v rpm >/dev/null 2>&1; then
  v=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' WALinuxAgent python-azure-agent python3-azure-agent 2>/dev/null | grep -v 'not installed' | head -n1)
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ]; then
  for w in /usr/sbin/waagent /usr/bin/waagent /usr/local/sbin/waagent; do
    [ -x "$w" ] && { "$w" --version 2>&1 | head -n 3; break; }
  done
fi
exit 0
""",
    timeout=20,
    description="WALinuxAgent version from the package database, else `waagent --version`",
)

probe(
    "waagent_conf",
    r"""
if [ -f /etc/waagent.conf ]; then
  grep -E '^[[:space:]]*#?[[:space:]]*(AutoUpdate\.Enabled|AutoUpdate\.UpdateToLatestVersion|ResourceDisk\.[A-Za-z]+|Provisioning\.(Agent|Enabled|UseCloudInit))[[:space:]]*=' /etc/waagent.conf
else
  echo "absent"
fi
echo "### cloud_init"
if [ -d /etc/cloud ]; then
  grep -HEs '^[[:space:]]*(swap|mounts|disk_setup|fs_setup|filename|size)[[:space:]]*:' /etc/cloud/cloud.cfg /etc/cloud/cloud.cfg.d/*.cfg
  echo "cloud_init_present=yes"
fi
exit 0
""",
    description="AutoUpdate/ResourceDisk/Provisioning lines of waagent.conf; cloud-init swap config",
)

probe("openssl", "openssl version 2>&1 || echo absent", description="openssl version")

probe(
    "python",
    "for p in python3 python python2; do command -v $p >/dev/null 2>&1 && { $p -V 2>&1; exit 0; }; done; echo absent",
    description="the first Python interpreter's version",
)

probe(
    "glibc",
    "getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n1",
    family_scripts={
        "debian": "getconf GNU_LIBC_VERSION 2>/dev/null; "
        "dpkg-query -W -f='package=${Version}\\n' libc6 2>/dev/null; exit 0",
        "rhel": "getconf GNU_LIBC_VERSION 2>/dev/null; "
        "rpm -q --qf 'package=%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null | head -n1; exit 0",
        "suse": "getconf GNU_LIBC_VERSION 2>/dev/null; "
        "rpm -q --qf 'package=%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null | head -n1; exit 0",
        "azurelinux": "getconf GNU_LIBC_VERSION 2>/dev/null; "
        "rpm -q --qf 'package=%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null | head -n1; exit 0",
    },
    description="glibc version (upstream and distribution package)",
)

probe(
    "block_devices",
    r"""
root=$(/bin/findmnt -nvo SOURCE / 2>/dev/null || findmnt -nvo SOURCE /)
echo "root_source=$root"
echo "root_fstype=$(findmnt -nvo FSTYPE /)"
disk=$(/bin/lsblk -nrso NAME,TYPE "$root" 2>/dev/null | awk '$2=="disk"{print $1}' | tail -n1)
echo "os_disk=$disk"
echo "### lsblk"
[ -n "$disk" ] && lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT,PARTTYPE "/dev/$disk"
exit 0
""",
    needs_root=True,
    description="root filesystem source, the OS disk and its partitions/LVs (lsblk -P)",
)

probe(
    "swap",
    r"""
echo "### active"
tail -n +2 /proc/swaps | while read -r name type size used prio; do
  src=""
  [ "$type" = file ] && src=$(findmnt -nvo SOURCE -T "$name" 2>/dev/null)
  echo "$name $type $size ${src:--}"
done
echo "### fstab"
awk '!/^[[:space:]]*#/ && NF>=3 && $3=="swap" {print $1, $2, $3, $4}' /etc/fstab 2>/dev/null
exit 0
""",
    description="active swap (with the filesystem holding swap files) and fstab swap entries",
)

probe(
    "modprobe_blacklist",
    r"""
dirs="/etc/modprobe.d /run/modprobe.d /usr/lib/modprobe.d"
[ "$(readlink -f /lib/modprobe.d)" != "/usr/lib/modprobe.d" ] && dirs="$dirs /lib/modprobe.d"
for d in $dirs; do
  [ -d "$d" ] && grep -HEs '^[[:space:]]*(blacklist|install)[[:space:]]+(udf|vfat)([[:space:]]|$)' "$d"/*.conf
done
exit 0
""",
    description="modprobe.d lines that blacklist or redirect udf/vfat",
)

probe(
    "initramfs_modules",
    r"""
rel=$(uname -r)
echo "release=$rel"
echo "### builtin"
grep -E '/hv_(vmbus|storvsc|netvsc)\.ko' "/lib/modules/$rel/modules.builtin" 2>/dev/null
echo "### initramfs"
# print the hv_* entries and stop listing (SIGPIPE) once vmbus and storvsc were both seen
pick='/hv_(vmbus|storvsc|netvsc)\.ko/ {print} /hv_vmbus\.ko/ {a=1} /hv_storvsc\.ko/ {b=1} a && b {exit}'
if command -v lsinitramfs >/dev/null 2>&1 && [ -f "/boot/initrd.img-$rel" ]; then
  echo "image=/boot/initrd.img-$rel"
  lsinitramfs "/boot/initrd.img-$rel" 2>/dev/null | awk "$pick"
elif command -v lsinitrd >/dev/null 2>&1; then
  echo "image=lsinitrd"
  lsinitrd --kver "$rel" 2>/dev/null | awk "$pick"
else
  echo "image=none"
fi
exit 0
""",
    needs_root=True,
    timeout=40,
    max_output=16 * 1024,
    description="Hyper-V modules built into the kernel or present in the running kernel's initramfs",
)

probe(
    "dmesg",
    r"""
echo "### console"
dmesg 2>/dev/null | grep -E 'console \[(ttyS[0-9]|ttyAMA[0-9])\] enabled' | head -n 5
echo "### problems"
dmesg 2>/dev/null | grep -iE 'fail|error|warn|call trace|BUG:|panic' | head -n 400
exit 0
""",
    needs_root=True,
    max_output=128 * 1024,
    description="serial-console lines and fail/error/warning lines of the kernel log",
)

probe(
    "boot_journal",
    r"""
if [ -f /var/log/syslog ]; then src=/var/log/syslog; elif [ -f /var/log/messages ]; then src=/var/log/messages; else src=journal; fi
echo "source=$src"
if [ "$src" = journal ]; then
  journalctl -b --no-pager -q -o short-monotonic 2>/dev/null | grep -iE 'fail|error|warn' | head -n 400
else
  grep -iE 'fail|error|warn' "$src" | tail -n 400
fi
exit 0
""",
    needs_root=True,
    timeout=20,
    max_output=128 * 1024,
    description="fail/error/warning lines of this boot's journal (or syslog/messages)",
)

probe(
    "network",
    r"""
echo "### default_route"
ip -4 route show default 2>/dev/null
echo "### addresses"
ip -o -4 addr show 2>/dev/null
echo "### persistent_rules"
ls -1 /etc/udev/rules.d/70-persistent-net.rules /etc/udev/rules.d/75-persistent-net-generator.rules 2>/dev/null
echo "### config_files"
ls -1 /etc/systemd/network/*.network /etc/netplan/*.yaml /etc/sysconfig/network-scripts/ifcfg-* \
      /etc/sysconfig/network/ifcfg-* /etc/NetworkManager/system-connections/* /etc/network/interfaces 2>/dev/null
exit 0
""",
    description="default route, IPv4 addresses (dynamic = DHCP), persistent-net rules, config files",
)

probe(
    "deprovision_state",
    r"""
echo "btime=$(awk '/^btime/{print $2}' /proc/stat)"
echo "### host_keys"
for f in /etc/ssh/ssh_host_*key; do [ -e "$f" ] && stat -c '%Y %n' "$f"; done
echo "### dhcp_leases"
for d in /var/lib/dhcp /var/lib/dhclient /var/lib/dhcpcd /var/lib/dhcpcd5 /var/lib/NetworkManager /var/lib/wicked; do
  [ -d "$d" ] && find "$d" -maxdepth 1 -type f \( -name '*lease*' -o -name '*.info' \) -exec stat -c '%Y %n' {} +
done
echo "### waagent"
[ -d /var/lib/waagent ] && find /var/lib/waagent -type f -exec stat -c '%Y %n' {} + 2>/dev/null | head -n 50
echo "### cloud_instances"
cur=$(readlink -f /var/lib/cloud/instance 2>/dev/null)
for d in /var/lib/cloud/instances/*; do
  [ -d "$d" ] || continue
  if [ "$d" = "$cur" ]; then c=current; else c=other; fi
  echo "$(stat -c %W "$d") $c $d"
done
echo "### resolv_conf"
if [ -L /etc/resolv.conf ]; then echo "symlink $(readlink /etc/resolv.conf)";
elif [ -e /etc/resolv.conf ]; then echo "file $(stat -c %Y /etc/resolv.conf)"; else echo "absent"; fi
exit 0
""",
    needs_root=True,
    description="timestamps of deprovisioning leftovers (host keys, leases, waagent, cloud-init)",
)

_DEBIAN_REPOS = r"""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  echo "### $f"
  grep -vE '^[[:space:]]*(#|$)' "$f"
done
exit 0
"""
_RPM_REPOS = r"""
for f in /etc/yum.repos.d/*.repo /etc/zypp/repos.d/*.repo /etc/dnf/repos.d/*.repo; do
  [ -f "$f" ] || continue
  echo "### $f"
  grep -E '^[[:space:]]*(\[|name|baseurl|mirrorlist|metalink|enabled)' "$f"
done
exit 0
"""
probe(
    "repos",
    _RPM_REPOS,
    family_scripts={"debian": _DEBIAN_REPOS},
    description="configured package repositories (apt sources or yum/zypp .repo files)",
)
