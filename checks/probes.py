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
* exit status 0 whenever the facts were collected, even when the answer is "absent";
* as few external programs as possible: under TCG emulation each fork+exec costs ~20-50 ms while
  shell builtins are nearly free, so small files are read with ``while IFS= read -r`` and matched
  with ``case`` (printing exactly what the grep/awk/cat it replaces printed; see
  ``tests/test_probe_texts.py``), and a tool that is needed runs once over all files;
* plain POSIX sh (dash, bash, busybox sh), run by ``eval`` in a subshell of the batch shell: every
  variable is set before use and helper functions are prefixed ``vp_``.
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
# Built-in probes. Each is small and quick: the whole batch must stay under ~2 s under TCG (see the
# module rules). A comment above a probe names the pipeline its builtins reproduce.


def _ci(word: str) -> str:
    """A case-insensitive shell ``case`` pattern for an ASCII word: ``Port`` → ``[Pp][Oo][Rr][Tt]``."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


# `cat FILE` with builtins: the same bytes (a last line without newline stays so), status 1 when
# FILE cannot be read.
_SH_CAT = r"""vp_cat() {
  if [ ! -r "$1" ] || [ -d "$1" ]; then echo "vp_cat: cannot read $1" >&2; return 1; fi
  vp_l=
  while IFS= read -r vp_l; do printf '%s\n' "$vp_l"; done <"$1"
  printf '%s' "$vp_l"
}
"""

# `ls -1 OPERAND... 2>/dev/null` with builtins. ls sorts its operands (C locale: byte order), so
# callers pass their globs in that order (each glob expands sorted); a directory operand makes ls
# list its contents, so then the real ls runs.
_SH_LS = r"""vp_ls() {
  for vp_f; do [ -d "$vp_f" ] && { ls -1 "$@" 2>/dev/null; return 0; }; done
  for vp_f; do if [ -e "$vp_f" ] || [ -L "$vp_f" ]; then printf '%s\n' "$vp_f"; fi; done
  return 0
}
"""

# The first line of stdin (`head -n1`) and the first three (`head -n 3`), with builtins.
_SH_HEAD = r"""vp_head() {
  vp_n=0; vp_l=
  while [ "$vp_n" -lt "$1" ] && IFS= read -r vp_l; do printf '%s\n' "$vp_l"; vp_n=$((vp_n + 1)); vp_l=; done
  printf '%s' "$vp_l"
}
"""

probe(
    "os_release",
    _SH_CAT + "vp_cat /etc/os-release 2>/dev/null || vp_cat /usr/lib/os-release",
    description="/etc/os-release",
)

probe(
    "uname",
    r"""
m=; r=; v=; b=; up=
{ IFS= read -r m </proc/sys/kernel/arch; } 2>/dev/null || m=$(uname -m)
{ IFS= read -r r </proc/sys/kernel/osrelease; } 2>/dev/null || r=$(uname -r)
{ IFS= read -r v </proc/sys/kernel/version; } 2>/dev/null || v=$(uname -v)
while read -r k x _; do [ "$k" = btime ] && { b=$x; break; }; done </proc/stat
echo "machine=$m"
echo "release=$r"
echo "version=$v"
echo "btime=$b"
# the clock, to the second, without date(1): boot time + seconds since boot
{ read -r up _ </proc/uptime; } 2>/dev/null
case "$b:$up" in
  [0-9]*:[0-9]*) echo "now=$((b + ${up%%.*}))";;
  *) echo "now=$(date +%s)";;
esac
""",
    description="architecture, kernel release, boot time (epoch) and guest clock",
)

probe(
    "cmdline",
    _SH_CAT + "vp_cat /proc/cmdline",
    description="the running kernel's command line",
)

# grep -E '^[[:space:]]*(linux|...)\b' | cut -c1-2000 for each file, one awk for all files (awk has
# no \b: ([^A-Za-z0-9_]|$) is the same after a keyword; explicit blanks, as old mawk lacks
# [[:space:]]). Every file gets its "### path" line, even when nothing matches.
probe(
    "bootloader_config",
    r"""
set --
for f in /etc/default/grub /etc/default/grub.d/*.cfg /boot/grub/grub.cfg /boot/grub2/grub.cfg \
         /boot/grub2/grubenv /boot/grub/menu.lst /boot/efi/EFI/*/grub.cfg \
         /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/loader/entries/*.conf; do
  [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && awk 'BEGIN {
  re = "^[ \t\r\f\v]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|GRUB_CMDLINE_LINUX[A-Z_]*|set[ \t\r\f\v]+kernelopts)([^A-Za-z0-9_]|$)"
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]
    print "### " f
    while ((getline l < f) > 0) if (l ~ re) print substr(l, 1, 2000)
    close(f)
  }
}' "$@"
exit 0
""",
    needs_root=True,
    description="kernel command lines configured in grub/extlinux/BLS files (only those lines)",
)

probe(
    "bash_history",
    r"""
set --
for f in /root/.bash_history /home/*/.bash_history; do
  [ -e "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && stat -c '%s %U %n' "$@"
exit 0
""",
    needs_root=True,
    description="size, owner and path of every .bash_history",
)

probe(
    "accounts",
    r"""
echo "### shadow"
u=; s=
while IFS=: read -r u s _ || [ -n "$u$s" ]; do
  case $s in
    '') t=empty;;
    '!'*|'*'*|x) t=locked;;
    *) t=hash;;
  esac
  echo "$u $t"
  u=; s=
done </etc/shadow
echo "### authorized_keys"
set --
for f in /root/.ssh/authorized_keys /root/.ssh/authorized_keys2 /home/*/.ssh/authorized_keys /home/*/.ssh/authorized_keys2; do
  [ -s "$f" ] && set -- "$@" "$f"
done
# one stat for every owner; then each file's non-blank, non-comment lines, read by the shell
[ $# -gt 0 ] && stat -c '%U %n' "$@" | while IFS= read -r so; do
  owner=${so%% *}; f=${so#* }; line=
  while IFS= read -r line || [ -n "$line" ]; do
    t=${line#"${line%%[![:space:]]*}"}
    case $t in
      ''|'#'*) line=; continue;;
      *'command="echo'*'Please login as'*) kind=stub;;
      *) kind=key;;
    esac
    echo "$f $owner $kind"
    line=
  done <"$f"
done
exit 0
""",
    needs_root=True,
    description="password state per account (never the hash) and authorized_keys entries",
)

# grep -HnE '^[[:space:]]*Defaults.*targetpw' per file, in the shell
probe(
    "sudoers",
    r"""
for f in /etc/sudoers /etc/sudoers.d/*; do
  [ -f "$f" ] || continue
  n=0; l=
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    case ${l#"${l%%[![:space:]]*}"} in Defaults*targetpw*) printf '%s:%s:%s\n' "$f" "$n" "$l";; esac
    l=
  done <"$f"
done
exit 0
""",
    needs_root=True,
    description="uncommented Defaults lines that mention targetpw",
)

# grep -iE '^(clientaliveinterval|...) ' over `sshd -T` (the status is grep's: 0 when a line
# matched) and grep -inE '^[[:space:]]*(ClientAliveInterval|Include)([[:space:]]|=)' over
# sshd_config, both in the shell
probe(
    "sshd",
    r"""
echo "### effective"
SSHD=/usr/sbin/sshd; [ -x "$SSHD" ] || SSHD=/usr/bin/sshd
if [ -x "$SSHD" ]; then
  "$SSHD" -T 2>&1 | (
    rc=1; l=
    while IFS= read -r l || [ -n "$l" ]; do
      case $l in
        @CAI@' '*|@CACM@' '*|@PORT@' '*|@PRL@' '*|@PA@' '*) printf '%s\n' "$l"; rc=0;;
      esac
      l=
    done
    exit $rc
  )
  echo "sshd_t_status=$?"
else echo "sshd_absent"; fi
echo "### main_config"
if [ -f /etc/ssh/sshd_config ]; then
  n=0; l=
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    case ${l#"${l%%[![:space:]]*}"} in
      @CAI@[[:space:]=]*|@INCLUDE@[[:space:]=]*) printf '%s:%s\n' "$n" "$l";;
    esac
    l=
  done </etc/ssh/sshd_config
fi
exit 0
""".replace("@CAI@", _ci("clientaliveinterval"))
    .replace("@CACM@", _ci("clientalivecountmax"))
    .replace("@PORT@", _ci("port"))
    .replace("@PRL@", _ci("permitrootlogin"))
    .replace("@PA@", _ci("passwordauthentication"))
    .replace("@INCLUDE@", _ci("include")),
    needs_root=True,
    timeout=15,
    description="sshd -T effective settings and the ClientAliveInterval/Include lines of sshd_config",
)

# One `systemctl show` for both units instead of is-enabled/is-active for each. is-active prints
# ActiveState; is-enabled prints UnitFileState, except "alias" when the name asked for is an alias
# of the unit (sshd.service on Debian: Id=ssh.service), and nothing for a unit that does not exist
# (checked on systemd 252; older systemd printed the aliased unit's state for an alias, which
# ssh_enabled accepts alike).
probe(
    "ssh_service",
    r"""
out=$(systemctl show -p Id -p ActiveState -p UnitFileState ssh.service sshd.service 2>/dev/null)
set -- ssh.service sshd.service
id=; act=; ufs=
while IFS= read -r l; do
  case $l in
    Id=*) id=${l#*=};;
    ActiveState=*) act=${l#*=};;
    UnitFileState=*) ufs=${l#*=};;
    '')
      [ $# -gt 0 ] || break
      if [ -n "$ufs" ] && [ -n "$id" ] && [ "$id" != "$1" ]; then ufs=alias; fi
      echo "$1 enabled=$ufs active=$act"
      shift; id=; act=; ufs=;;
  esac
done <<EOF
$out

EOF
for u; do echo "$u enabled= active="; done
echo "### listen"
if command -v ss >/dev/null 2>&1; then
  ss -Hltn 2>/dev/null | while read -r _ _ _ a _; do printf '%s\n' "$a"; done
fi
exit 0
""",
    description="sshd unit state and listening TCP sockets",
)

probe(
    "agent_version",
    _SH_HEAD
    + r"""
v=""
if command -v dpkg-query >/dev/null 2>&1; then
  out=$(dpkg-query -W -f='${Status} ${Version}\n' waagent walinuxagent 2>/dev/null)
  # awk '/ installed /{print $NF; exit}'
  while IFS= read -r l; do
    case $l in *' installed '*) set -f; set -- $l; set +f; eval "v=\${$#}"; break;; esac
  done <<EOF
$out
EOF
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ] && command -v rpm >/dev/null 2>&1; then
  out=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' WALinuxAgent python-azure-agent python3-azure-agent 2>/dev/null)
  # grep -v 'not installed' | head -n1
  while IFS= read -r l; do
    case $l in *'not installed'*) ;; *) v=$l; break;; esac
  done <<EOF
$out
EOF
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ]; then
  for w in /usr/sbin/waagent /usr/bin/waagent /usr/local/sbin/waagent; do
    [ -x "$w" ] && { "$w" --version 2>&1 | vp_head 3; break; }
  done
fi
exit 0
""",
    timeout=20,
    description="WALinuxAgent version from the package database, else `waagent --version`",
)

# grep -E '^[[:space:]]*#?[[:space:]]*(AutoUpdate\.Enabled|...|ResourceDisk\.[A-Za-z]+|...)[[:space:]]*='
# over waagent.conf and grep -HEs '^[[:space:]]*(swap|mounts|...)[[:space:]]*:' over the
# cloud-init files, in the shell
probe(
    "waagent_conf",
    r"""
vp_ltrim() { vp_t=${1#"${1%%[![:space:]]*}"}; }
if [ -f /etc/waagent.conf ]; then
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    vp_ltrim "$l"; vp_ltrim "${vp_t#\#}"; k=$vp_t; r=
    case $k in
      AutoUpdate.Enabled*) r=${k#AutoUpdate.Enabled};;
      AutoUpdate.UpdateToLatestVersion*) r=${k#AutoUpdate.UpdateToLatestVersion};;
      Provisioning.Agent*) r=${k#Provisioning.Agent};;
      Provisioning.Enabled*) r=${k#Provisioning.Enabled};;
      Provisioning.UseCloudInit*) r=${k#Provisioning.UseCloudInit};;
      ResourceDisk.[A-Za-z]*) k=${k#ResourceDisk.}; r=${k#"${k%%[!A-Za-z]*}"};;
      *) l=; continue;;
    esac
    vp_ltrim "$r"
    case $vp_t in =*) printf '%s\n' "$l";; esac
    l=
  done </etc/waagent.conf
else
  echo "absent"
fi
echo "### cloud_init"
if [ -d /etc/cloud ]; then
  for f in /etc/cloud/cloud.cfg /etc/cloud/cloud.cfg.d/*.cfg; do
    [ -f "$f" ] && [ -r "$f" ] || continue
    l=
    while IFS= read -r l || [ -n "$l" ]; do
      vp_ltrim "$l"; k=$vp_t
      case $k in
        swap*) r=${k#swap};; mounts*) r=${k#mounts};; disk_setup*) r=${k#disk_setup};;
        fs_setup*) r=${k#fs_setup};; filename*) r=${k#filename};; size*) r=${k#size};;
        *) l=; continue;;
      esac
      vp_ltrim "$r"
      case $vp_t in :*) printf '%s:%s\n' "$f" "$l";; esac
      l=
    done <"$f"
  done
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

_RPM_GLIBC = (
    _SH_HEAD + "getconf GNU_LIBC_VERSION 2>/dev/null; "
    "rpm -q --qf 'package=%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null | vp_head 1; exit 0"
)
probe(
    "glibc",
    _SH_HEAD + "getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | vp_head 1",
    family_scripts={
        "debian": "getconf GNU_LIBC_VERSION 2>/dev/null; "
        "dpkg-query -W -f='package=${Version}\\n' libc6 2>/dev/null; exit 0",
        "rhel": _RPM_GLIBC,
        "suse": _RPM_GLIBC,
        "azurelinux": _RPM_GLIBC,
    },
    description="glibc version (upstream and distribution package)",
)

# One findmnt for source and type (FSTYPE first: it has no blanks), the disk from lsblk -s (the
# last "disk" line, as awk | tail did), then the disk's tree.
probe(
    "block_devices",
    r"""
# the root mount from mountinfo (no process); findmnt only for what it would rewrite or unescape
fstype=; root=
while read -r _ _ _ _ mp rest; do
  [ "$mp" = / ] || continue
  fstype=${rest#* - }; [ "$fstype" = "$rest" ] && { fstype=; continue; }
  root=${fstype#* }; root=${root%% *}; fstype=${fstype%% *}
done </proc/self/mountinfo
case $root in
  /dev/root|*\\*|'') root=;;
  /dev/*) ;;
  *) root=;;
esac
if [ -z "$root" ]; then
  fm=$(/bin/findmnt -nvo FSTYPE,SOURCE / 2>/dev/null || findmnt -nvo FSTYPE,SOURCE /)
  read -r fstype root <<EOF
$fm
EOF
fi
echo "root_source=$root"
echo "root_fstype=$fstype"
deps=$(/bin/lsblk -nrso NAME,TYPE "$root" 2>/dev/null)
disk=
while read -r n t _; do [ "$t" = disk ] && disk=$n; done <<EOF
$deps
EOF
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
hdr=1
while read -r name type size used prio; do
  [ "$hdr" = 1 ] && { hdr=0; continue; }
  src=""
  [ "$type" = file ] && src=$(findmnt -nvo SOURCE -T "$name" 2>/dev/null)
  echo "$name $type $size ${src:--}"
done </proc/swaps
echo "### fstab"
# awk '!/^[[:space:]]*#/ && NF>=3 && $3=="swap" {print $1, $2, $3, $4}'
if [ -r /etc/fstab ] && [ ! -d /etc/fstab ]; then
  a=
  while read -r a b c d _ || [ -n "$a" ]; do
    case $a in '#'*) ;; *) [ "$c" = swap ] && printf '%s %s %s %s\n' "$a" "$b" "$c" "$d";; esac
    a=
  done </etc/fstab
fi
exit 0
""",
    description="active swap (with the filesystem holding swap files) and fstab swap entries",
)

# grep -HEs '^[[:space:]]*(blacklist|install)[[:space:]]+(udf|vfat)([[:space:]]|$)' over the
# .conf files, in the shell; /lib/modprobe.d only when it is not /usr/lib/modprobe.d (usr-merge)
probe(
    "modprobe_blacklist",
    r"""
dirs="/etc/modprobe.d /run/modprobe.d /usr/lib/modprobe.d"
[ "$(cd -P /lib/modprobe.d 2>/dev/null && pwd -P)" != "/usr/lib/modprobe.d" ] && dirs="$dirs /lib/modprobe.d"
for d in $dirs; do
  [ -d "$d" ] || continue
  for f in "$d"/*.conf; do
    [ -f "$f" ] && [ -r "$f" ] || continue
    l=
    while IFS= read -r l || [ -n "$l" ]; do
      t=${l#"${l%%[![:space:]]*}"}
      case $t in
        blacklist[[:space:]]*) t=${t#blacklist};;
        install[[:space:]]*) t=${t#install};;
        *) l=; continue;;
      esac
      case ${t#"${t%%[![:space:]]*}"} in
        udf|vfat|udf[[:space:]]*|vfat[[:space:]]*) printf '%s:%s\n' "$f" "$l";;
      esac
      l=
    done <"$f"
  done
done
exit 0
""",
    description="modprobe.d lines that blacklist or redirect udf/vfat",
)

# lsinitramfs (a shell script that test-decompresses the whole image before listing it, and reads
# an uncompressed early archive with two processes per header field) is replaced by the same
# listing done directly: the magic bytes choose the decompressor, piped into cpio and stopped as
# soon as hv_vmbus and hv_storvsc were seen (stdbuf makes cpio write each name at once, so the
# early exit reaches it). Uncompressed archives in front (CPU microcode) are listed first, as
# lsinitramfs does; each ends with its TRAILER!!! entry (found by its header), then zero padding.
# Anything unexpected (unknown magic, missing tool, nothing listed) falls back to lsinitramfs.
probe(
    "initramfs_modules",
    r"""
rel=
{ IFS= read -r rel </proc/sys/kernel/osrelease; } 2>/dev/null || rel=$(uname -r)
echo "release=$rel"
echo "### builtin"
if [ -f "/lib/modules/$rel/modules.builtin" ] && [ -r "/lib/modules/$rel/modules.builtin" ]; then
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in */hv_vmbus.ko*|*/hv_storvsc.ko*|*/hv_netvsc.ko*) printf '%s\n' "$l";; esac
    l=
  done <"/lib/modules/$rel/modules.builtin"
fi
echo "### initramfs"
# print the hv_* entries and stop listing (SIGPIPE) once vmbus and storvsc were both seen
pick='/hv_(vmbus|storvsc|netvsc)\.ko/ {print} /hv_vmbus\.ko/ {a=1} /hv_storvsc\.ko/ {b=1} a && b {exit}'
vp_next() {  # IMAGE OFFSET: "AT HEX" for the first non-zero byte at or after OFFSET and the up
  # to 6 bytes from AT (the magic of the archive there); "eof" when only zeros follow; nothing
  # when that is unknown (64 KiB of zeros, od failed)
  od -Ad -tx1 -j "$2" -N 65536 "$1" | (
    at=; mg=; n=0; end=
    while read -r a bytes; do
      [ "$a" = '*' ] && continue
      a=${a#"${a%%[!0]*}"}; end=${a:-0}; i=0
      for b in $bytes; do
        if [ -n "$at" ]; then mg=$mg$b; n=$((n + 1))
        elif [ "$b" != 00 ]; then at=$((end + i)); mg=$b; n=1; fi
        [ "$n" -ge 6 ] && break 2
        i=$((i + 1))
      done
    done
    if [ -n "$at" ]; then echo "$at $mg"
    elif [ -n "$end" ] && [ "$end" -lt $(($2 + 65536)) ]; then echo eof; fi
  )
}
vp_list() {  # IMAGE: list it like `lsinitramfs IMAGE | awk "$pick"`; status 1 = cannot, use that
  vp_img=$1; vp_off=0; vp_early=; vp_dec=; vp_k=0
  vp_lst="cpio -i --preserve-modification-time --no-absolute-filenames --quiet --list"
  command -v stdbuf >/dev/null 2>&1 && vp_lst="stdbuf -oL $vp_lst"
  # a newc header (magic, 11 fields, namesize 11, check) naming TRAILER!!!
  vp_trailer='07070[12][0-9A-Fa-f]{88}0000000[Bb][0-9A-Fa-f]{8}TRAILER!!!'
  while vp_n=$(vp_next "$vp_img" "$vp_off"); do
    case $vp_n in '') return 1;; eof) break;; esac
    vp_off=${vp_n%% *}
    case ${vp_n#* } in
      30373037303[12]*)  # uncompressed newc archive: it ends with the 124 bytes of its trailer entry
        vp_k=$((vp_k + 1)); [ "$vp_k" -le 8 ] || return 1
        vp_early="$vp_early $vp_off"
        if [ "$vp_off" -eq 0 ]; then vp_t=$(grep -obUaE -m1 "$vp_trailer" "$vp_img")
        else vp_t=$(tail -c +$((vp_off + 1)) "$vp_img" | grep -obUaE -m1 "$vp_trailer"); fi || return 1
        vp_off=$((vp_off + ${vp_t%%:*} + 124)); continue;;
      1f8b*) vp_dec="gzip -dc";;
      28b52ffd*) vp_dec="zstd -q -dc";;
      fd377a585a00) vp_dec="xz -dc";;
      02214c18*|04224d18*) vp_dec="lz4 -dc";;
      425a68*) vp_dec="bzip2 -dc";;
      894c5a4f*) vp_dec="lzop -dc";;
      5d0000*) vp_dec="xz -dc --format=lzma";;
      *) return 1;;
    esac
    command -v "${vp_dec%% *}" >/dev/null 2>&1 || return 1
    break
  done
  [ -n "$vp_early$vp_dec" ] || return 1
  {
    for vp_o in $vp_early; do
      if [ "$vp_o" -eq 0 ]; then $vp_lst <"$vp_img"; else tail -c +$((vp_o + 1)) "$vp_img" | $vp_lst; fi
    done
    if [ -n "$vp_dec" ]; then
      printf '\001\n'  # the compressed archive follows: it must list something
      if [ "$vp_off" -eq 0 ]; then $vp_dec "$vp_img"; else tail -c +$((vp_off + 1)) "$vp_img" | $vp_dec; fi | $vp_lst
    fi
  } | awk '$0 == "\001" { s = 1; next } s { n++ } '"$pick"' END { if (s ? !n : !NR) exit 3 }'
}
if command -v lsinitramfs >/dev/null 2>&1 && [ -f "/boot/initrd.img-$rel" ]; then
  echo "image=/boot/initrd.img-$rel"
  vp_list "/boot/initrd.img-$rel" 2>/dev/null || lsinitramfs "/boot/initrd.img-$rel" 2>/dev/null | awk "$pick"
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

# One dmesg and one awk for both sections (were: dmesg | grep -E ... | head -n 5 and
# dmesg | grep -iE ... | head -n 400)
probe(
    "dmesg",
    r"""
echo "### console"
dmesg 2>/dev/null | awk '
  /console \[(ttyS[0-9]|ttyAMA[0-9])\] enabled/ { if (c < 5) { print; c++ } }
  tolower($0) ~ /fail|error|warn|call trace|bug:|panic/ { if (n < 400) p[++n] = $0 }
  END { print "### problems"; for (i = 1; i <= n; i++) print p[i] }'
exit 0
""",
    needs_root=True,
    max_output=128 * 1024,
    description="serial-console lines and fail/error/warning lines of the kernel log",
)

# grep -iE 'fail|error|warn' | head -n 400 (journal) or | tail -n 400 (file), as one awk
probe(
    "boot_journal",
    r"""
if [ -f /var/log/syslog ]; then src=/var/log/syslog; elif [ -f /var/log/messages ]; then src=/var/log/messages; else src=journal; fi
echo "source=$src"
if [ "$src" = journal ]; then
  keep='tolower($0) ~ /fail|error|warn/ { print; if (++n >= 400) exit }'
  # --grep: journalctl formats only the matching entries (a lower-case pattern matches without
  # regard to case); awk still filters lines and keeps the first 400. A journalctl without
  # pattern matching says so on stderr: then filter everything it prints.
  exec 3>&1
  err=$({ journalctl -b --no-pager -q -o short-monotonic --grep='fail|error|warn' | awk "$keep"; } 2>&1 >&3)
  exec 3>&-
  if [ -n "$err" ]; then
    journalctl -b --no-pager -q -o short-monotonic 2>/dev/null | awk "$keep"
  fi
else
  awk 'tolower($0) ~ /fail|error|warn/ { b[n++ % 400] = $0 }
    END { for (i = (n > 400 ? n - 400 : 0); i < n; i++) print b[i % 400] }' "$src"
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
    _SH_LS
    + r"""
echo "### default_route"
ip -4 route show default 2>/dev/null
echo "### addresses"
ip -o -4 addr show 2>/dev/null
echo "### persistent_rules"
vp_ls /etc/udev/rules.d/70-persistent-net.rules /etc/udev/rules.d/75-persistent-net-generator.rules
echo "### config_files"
vp_ls /etc/NetworkManager/system-connections/* /etc/netplan/*.yaml /etc/network/interfaces \
      /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network/ifcfg-* /etc/systemd/network/*.network
exit 0
""",
    description="default route, IPv4 addresses (dynamic = DHCP), persistent-net rules, config files",
)

# One stat (`%Y %W %n`) for host keys, DHCP leases, agent files, cloud-init instance directories
# and resolv.conf; its lines are sorted back into the sections by path. Lease files are found by
# globbing (find -maxdepth 1 -type f -name '*lease*' -o -name '*.info', dot files included), so
# they are listed in name order rather than directory order; the agent's files still come from
# find (recursive), the first 50 as before.
probe(
    "deprovision_state",
    r"""
b=
while read -r k x _; do [ "$k" = btime ] && { b=$x; break; }; done </proc/stat
set --
for f in /etc/ssh/ssh_host_*key; do [ -e "$f" ] && set -- "$@" "$f"; done
for d in /var/lib/dhcp /var/lib/dhclient /var/lib/dhcpcd /var/lib/dhcpcd5 /var/lib/NetworkManager /var/lib/wicked; do
  [ -d "$d" ] || continue
  for f in "$d"/* "$d"/.*; do
    case ${f##*/} in *lease*|*.info) [ -f "$f" ] && [ ! -L "$f" ] && set -- "$@" "$f";; esac
  done
done
wa=
if [ -d /var/lib/waagent ]; then
  wa=$(find /var/lib/waagent -type f 2>/dev/null | (
    n=0; l=
    while [ $n -lt 50 ] && IFS= read -r l; do printf '%s\n' "$l"; n=$((n + 1)); done
  ))
fi
if [ -n "$wa" ]; then
  set -f; ifs=$IFS; IFS='
'
  set -- "$@" $wa
  IFS=$ifs; set +f
fi
cur=$(cd -P /var/lib/cloud/instance 2>/dev/null && pwd -P)
for d in /var/lib/cloud/instances/*; do [ -d "$d" ] && set -- "$@" "$d"; done
rv=absent
if [ -L /etc/resolv.conf ]; then rv="symlink $(readlink /etc/resolv.conf)"
elif [ -e /etc/resolv.conf ]; then rv="file "; set -- "$@" /etc/resolv.conf; fi
nl='
'
hk=; dh=; ag=; ci=
if [ $# -gt 0 ]; then
  st=$(stat -c '%Y %W %n' "$@" 2>/dev/null)
  while IFS= read -r l; do
    [ -n "$l" ] || continue
    y=${l%% *}; l=${l#* }; w=${l%% *}; p=${l#* }
    case $p in
      /etc/ssh/*) hk="$hk$y $p$nl";;
      /var/lib/waagent/*) ag="$ag$y $p$nl";;
      /var/lib/cloud/instances/*)
        if [ "$p" = "$cur" ]; then c=current; else c=other; fi
        ci="$ci$w $c $p$nl";;
      /etc/resolv.conf) [ -L "$p" ] || rv="file $y";;
      *) dh="$dh$y $p$nl";;
    esac
  done <<EOF
$st
EOF
fi
echo "btime=$b"
echo "### host_keys"
printf '%s' "$hk"
echo "### dhcp_leases"
printf '%s' "$dh"
echo "### waagent"
printf '%s' "$ag"
echo "### cloud_instances"
printf '%s' "$ci"
echo "### resolv_conf"
echo "$rv"
exit 0
""",
    needs_root=True,
    description="timestamps of deprovisioning leftovers (host keys, leases, waagent, cloud-init)",
)

# grep -vE '^[[:space:]]*(#|$)' per file, in the shell
_DEBIAN_REPOS = r"""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  echo "### $f"
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    case ${l#"${l%%[![:space:]]*}"} in ''|'#'*) ;; *) printf '%s\n' "$l";; esac
    l=
  done <"$f"
done
exit 0
"""
# grep -E '^[[:space:]]*(\[|name|baseurl|mirrorlist|metalink|enabled)' per file, as one awk
_RPM_REPOS = r"""
set --
for f in /etc/yum.repos.d/*.repo /etc/zypp/repos.d/*.repo /etc/dnf/repos.d/*.repo; do
  [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && awk 'BEGIN {
  re = "^[ \t\r\f\v]*(\\[|name|baseurl|mirrorlist|metalink|enabled)"
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]
    print "### " f
    while ((getline l < f) > 0) if (l ~ re) print l
    close(f)
  }
}' "$@"
exit 0
"""
probe(
    "repos",
    _RPM_REPOS,
    family_scripts={"debian": _DEBIAN_REPOS},
    description="configured package repositories (apt sources or yum/zypp .repo files)",
)
