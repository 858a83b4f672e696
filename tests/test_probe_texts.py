# ruff: noqa: E501  (shell texts read better unwrapped)
"""The probe texts print exactly what the pipelines they replaced printed.

Under TCG every fork+exec on the guest costs ~20-50 ms, so the probes read small files with shell
builtins and call a needed tool once over all files instead of cat/grep/awk/stat once per file.
:data:`REFERENCE` keeps the previous texts (one process per file, every filter a grep or awk) as
the specification: each test runs a probe and its reference on the same input (a fixture tree that
the absolute paths are moved into, fake tools first in ``PATH``) under every POSIX shell and awk
found here, and compares the outputs byte for byte.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from checks.fact import FACTS, load_builtin_facts
from checks.parsing import sections

STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

SHELLS = [
    s
    for s in (["dash"], ["bash", "--posix"], ["busybox", "sh"])
    if shutil.which(s[0])
    and (s[0] != "busybox" or subprocess.run([*s, "-c", ":"], check=False).returncode == 0)
] or [["sh"]]
AWKS = [
    a
    for a in (["mawk"], ["gawk"], ["busybox", "awk"], ["original-awk"])
    if shutil.which(a[0])
    and subprocess.run([*a, "BEGIN { exit 0 }"], check=False, capture_output=True).returncode == 0
]

# The previous texts: one external program per file (the specification of the output).
REFERENCE: dict[str, str] = {
    "os_release": "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release",
    "cmdline": "cat /proc/cmdline",
    "uname": r"""
echo "machine=$(uname -m)"
echo "release=$(uname -r)"
echo "version=$(uname -v)"
echo "btime=$(awk '/^btime/{print $2}' /proc/stat)"
echo "now=$(date +%s)"
""",
    "bootloader_config": r"""
for f in /etc/default/grub /etc/default/grub.d/*.cfg /boot/grub/grub.cfg /boot/grub2/grub.cfg \
         /boot/grub2/grubenv /boot/grub/menu.lst /boot/efi/EFI/*/grub.cfg \
         /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/loader/entries/*.conf \
         /boot/efi/loader/entries/*.conf /efi/loader/entries/*.conf /boot/loader/loader.conf \
         /boot/efi/loader/loader.conf /efi/loader/loader.conf; do
  [ -f "$f" ] || continue
  echo "### $f"
  case $f in
    */loader.conf) grep -E '^[[:space:]]*default[[:blank:]]' "$f" | cut -c1-2000;;
    *) grep -E '^[[:space:]]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|GRUB_CMDLINE_LINUX[A-Z_]*|set[[:space:]]+kernelopts)\b' "$f" \
         | grep -v '^[[:space:]]*#' | cut -c1-2000;;
  esac
done
echo "### @boot"
if ls /sys/firmware/efi/efivars/* >/dev/null 2>&1; then
  echo "efi=1"
  for v in LoaderInfo LoaderEntrySelected; do
    f=/sys/firmware/efi/efivars/$v-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
    [ -f "$f" ] && echo "$v=$(tail -c +5 "$f" | tr -d '\000')"
  done
elif [ ! -d /sys/firmware/efi ]; then echo "efi=0"
fi
exit 0
""",
    "bash_history": r"""
list=$(mktemp)
{ echo /root; for d in /home/*; do [ -d "$d" ] && echo "$d"; done
  [ -r /etc/passwd ] && cut -d: -f6 /etc/passwd | while IFS= read -r h; do
    case $h in ''|/) ;; *) [ -d "$h" ] && echo "$h";; esac; done
} | awk '!seen[$0]++' | while IFS= read -r d; do
  for f in "$d"/.*sh_history "$d"/.history; do [ -e "$f" ] && printf '%s\n' "$f"; done
done >"$list"
for top in /*; do
  case $top in /proc|/sys|/dev|/run|/usr|/boot|/bin|/sbin|/lib|/lib[0-9x]*|/snap) continue;; esac
  [ -d "$top" ] && [ ! -L "$top" ] || continue
  for f in "$top"/.*sh_history "$top"/.history "$top"/*/.*sh_history "$top"/*/.history "$top"/*/*/.*sh_history "$top"/*/*/.history; do
    [ -e "$f" ] && printf '%s\n' "$f"
  done
done >"$list.sweep"
awk '!seen[$0]++' "$list" "$list.sweep" >"$list.all" && mv "$list.all" "$list"; rm -f "$list.sweep"
[ -s "$list" ] && tr '\n' '\0' <"$list" | xargs -0 stat -c '%s %U %n'
echo "### ids"
[ -s "$list" ] && tr '\n' '\0' <"$list" | xargs -0 stat -c '%u %Y %n'
rm -f "$list"
echo "### passwd"
[ -r /etc/passwd ] && awk -F: '$1 != "" { print $1 ":" $3 ":" $6 ":" $7 }' /etc/passwd
echo "### login"
echo "uid=$(awk '/^Uid:/ { print $2 }' /proc/self/status)"
awk '/^btime/ { print "btime=" $2 }' /proc/stat
exit 0
""",
    "accounts": r"""
echo "### shadow"
awk -F: '{ s=$2; t="hash";
  if (s=="") t="empty"; else if (s ~ /^[!*]/ || s=="x") t="locked";
  print $1, t }' /etc/shadow
echo "### authorized_keys"
list=$(mktemp)
{ echo /root; for d in /home/*; do [ -d "$d" ] && echo "$d"; done; } | while IFS= read -r h; do
  for p in .ssh/authorized_keys .ssh/authorized_keys2; do [ -s "$h/$p" ] && echo "$h/$p"; done
done | awk '!s[$0]++' >"$list"
while IFS= read -r f; do
  owner=$(stat -c %U "$f")
  grep -vE '^[[:space:]]*(#|$)' "$f" | while IFS= read -r line; do
    case "$line" in
      *'command="echo'*'Please login as'*) kind=stub;;
      *) kind=key;;
    esac
    echo "$f $owner $kind"
  done
done <"$list"
echo "### key_ids"
[ -s "$list" ] && tr '\n' '\0' <"$list" | xargs -0 stat -c '%u %Y %n'
rm -f "$list"
echo "### login"
echo "uid=$(awk '/^Uid:/ { print $2 }' /proc/self/status)"
echo "user="
echo "home="
awk '/^btime/ { print "btime=" $2 }' /proc/stat
exit 0
""",
    "sudoers": r"""
# valid for a tree whose /etc/sudoers ends with its one includedir line (sudoers.d)
re='^[[:space:]]*(Defaults.*targetpw|[@#]include(dir)?[[:space:]])'
grep -HnE "$re" /etc/sudoers
for f in /etc/sudoers.d/*; do
  case ${f##*/} in *.*|*'~') continue;; esac
  [ -f "$f" ] && grep -HnE "$re" "$f"
done
exit 0
""",
    "sshd": r"""
echo "### effective"
SSHD=/usr/sbin/sshd; [ -x "$SSHD" ] || SSHD=/usr/bin/sshd
if [ -x "$SSHD" ]; then "$SSHD" -T 2>&1 | grep -iE '^(clientaliveinterval|clientalivecountmax|port|permitrootlogin|passwordauthentication) '; echo "sshd_t_status=$?"; else echo "sshd_absent"; fi
echo "### main_config"
[ -f /etc/ssh/sshd_config ] && grep -inE '^[[:space:]]*(ClientAliveInterval|Include)([[:space:]]|=)' /etc/ssh/sshd_config
exit 0
""",
    "ssh_service": r"""
for u in ssh.service sshd.service ssh.socket sshd.socket; do
  echo "$u enabled=$(systemctl is-enabled "$u" 2>/dev/null) active=$(systemctl is-active "$u" 2>/dev/null)"
done
echo "### listen"
if command -v ss >/dev/null 2>&1; then ss -Hltn 2>/dev/null | awk '{print $4}'; fi
exit 0
""",
    "agent_version": r"""
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
    "waagent_conf": r"""
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
    "glibc:rhel": "getconf GNU_LIBC_VERSION 2>/dev/null; "
    "rpm -q --qf 'package=%{VERSION}-%{RELEASE}\\n' glibc 2>/dev/null | head -n1; exit 0",
    "glibc": "getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | head -n1",
    "block_devices": r"""
root=$(/bin/findmnt -nvo SOURCE / 2>/dev/null || findmnt -nvo SOURCE /)
echo "root_source=$root"
echo "root_fstype=$(findmnt -nvo FSTYPE /)"
disk=$(/bin/lsblk -nrso NAME,TYPE "$root" 2>/dev/null | awk '$2=="disk"{print $1}' | tail -n1)
echo "os_disk=$disk"
echo "### lsblk"
[ -n "$disk" ] && lsblk -P -p -o NAME,TYPE,FSTYPE,MOUNTPOINT,PARTTYPE "/dev/$disk"
exit 0
""",
    "swap": r"""
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
    "modprobe_blacklist": r"""
dirs="/etc/modprobe.d /run/modprobe.d /usr/lib/modprobe.d"
[ "$(readlink -f /lib/modprobe.d)" != "/usr/lib/modprobe.d" ] && dirs="$dirs /lib/modprobe.d"
for d in $dirs; do
  [ -d "$d" ] && grep -HEs '^[[:space:]]*(blacklist|install)[[:space:]]+(udf|vfat)([[:space:]]|$)' "$d"/*.conf
done
exit 0
""",
    "initramfs_modules": r"""
rel=$(uname -r)
echo "release=$rel"
echo "### builtin"
grep -E '/hv_(vmbus|storvsc|netvsc)\.ko' "/lib/modules/$rel/modules.builtin" 2>/dev/null
echo "### initramfs"
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
    "dmesg": r"""
echo "### console"
dmesg 2>/dev/null | grep -E 'console \[(ttyS[0-9]|ttyAMA[0-9])\] enabled' | head -n 5
echo "### problems"
dmesg 2>/dev/null | grep -iE 'fail|error|warn|call trace|BUG:|panic' | head -n 400
exit 0
""",
    "boot_journal": r"""
if [ -f /var/log/syslog ]; then src=/var/log/syslog; elif [ -f /var/log/messages ]; then src=/var/log/messages; else src=journal; fi
echo "source=$src"
if [ "$src" = journal ]; then
  journalctl -b --no-pager -q -o short-monotonic 2>/dev/null | grep -iE 'fail|error|warn' | head -n 400
else
  grep -iE 'fail|error|warn' "$src" | tail -n 400
fi
exit 0
""",
    "network": r"""
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
    "deprovision_state": r"""
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
    "repos:debian": r"""
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  echo "### $f"
  grep -vE '^[[:space:]]*(#|$)' "$f"
done
exit 0
""",
    "repos": r"""
for f in /etc/yum.repos.d/*.repo /etc/zypp/repos.d/*.repo /etc/dnf/repos.d/*.repo; do
  [ -f "$f" ] || continue
  echo "### $f"
  grep -E '^[[:space:]]*(\[|name|baseurl|mirrorlist|metalink|enabled)' "$f"
done
exit 0
""",
}

_MOVED = re.compile(
    r"""(?<![^\s"'=(<])/(etc|home|root|boot|sys/firmware|var/lib|var/log|run/modprobe\.d|usr/lib/modprobe\.d|lib/modprobe\.d|lib/modules)(?=[/\s"');]|$)""",
    re.MULTILINE,
)


def _moved(text: str, root: Path) -> str:
    """``text`` with its file system paths moved under ``root`` (tools keep their paths)."""
    return _MOVED.sub(lambda m: f"{root}/{m.group(1)}", text)


def _text(key: str) -> str:
    """A fact's shell text (``NAME:FAMILY`` for a family's), as the batch sends it."""
    load_builtin_facts()
    name, _, family = key.partition(":")
    return FACTS.get(name).script_for(family or "unknown")


def _run(shell: list[str], text: str, bin_dir: Path | None = None) -> tuple[int, str, str]:
    env = {"PATH": (f"{bin_dir}:" if bin_dir else "") + STD_PATH, "LC_ALL": "C"}
    proc = subprocess.run(
        [*shell, "-c", text],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return (
        proc.returncode,
        proc.stdout.decode("utf-8", "surrogateescape"),
        proc.stderr.decode("utf-8", "surrogateescape"),
    )


def _same(
    key: str,
    shell: list[str],
    root: Path | None = None,
    bin_dir: Path | None = None,
    normalise: Callable[[str], str] = lambda s: s,
) -> str:
    """Run the probe and its reference; assert the same status and output; return the output."""
    new, ref = _text(key), REFERENCE[key]
    if root is not None:
        new, ref = _moved(new, root), _moved(ref, root)
    rc_ref, out_ref, _ = _run(shell, ref, bin_dir)
    rc_new, out_new, err_new = _run(shell, new, bin_dir)
    assert (rc_new, normalise(out_new)) == (rc_ref, normalise(out_ref)), (key, shell, err_new)
    return out_new


def _write(root: Path, path: str, data: str | bytes) -> Path:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)
    return target


def _tree(root: Path, variant: str) -> Path:
    """Files with the corner cases each probe's filter must get right (CRLF, missing final
    newline, tabs, comments, keyword prefixes, long lines, names with blanks, dot files)."""
    w = lambda path, data: _write(root, path, data)  # noqa: E731
    w(
        "/etc/default/grub",
        '# c\nGRUB_CMDLINE_LINUX="console=ttyS0"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
        "GRUB_CMDLINE_LINUXx=1\nGRUB_CMDLINE_LINUX_x=2\nGRUB_CMDLINE_LINUX_A9=3\n"
        " \tGRUB_CMDLINE_LINUX_XEN_REPLACE=a\n"
        f'GRUB_CMDLINE_LINUX="{"x" * 2100}"\n#GRUB_CMDLINE_LINUX="no"\nGRUB_TIMEOUT=1\r\n'
        'GRUB_CMDLINE_LINUX="crlf"\r\n',
    )
    w("/etc/default/grub.d/50-cloud.cfg", 'GRUB_CMDLINE_LINUX_DEFAULT="$X libata.atapi_enabled=0"')
    w("/etc/default/grub.d/empty.cfg", "")
    w(
        "/boot/grub/grub.cfg",
        "menuentry 'x' {\n\tlinux\t/vmlinuz root=/dev/sda1 ro\n\tlinux16 /x\n\tlinuxefi /y\n"
        '\tlinux_x /z\n    linux=/q\n}\nset kernelopts="root=x"\nset  \tkernelopts="y"\n'
        'setkernelopts="z"\nset kerneloptsX=1\nkernel /boot/vmlinuz\nkernelopts=abc\n'
        "options root=UUID=1 ro\n  append initrd=x\nAPPEND root=/dev/sda\nAppend x\nlinux\n"
        " \\linux back\\slash\n",
    )
    w(
        "/boot/loader/entries/a b.conf",
        "title X\noptions root=/dev/vda2 reserve=0x1f0,0x8\nlinux /v",
    )
    w("/boot/efi/EFI/debian/grub.cfg", "search --fs-uuid x\n")
    w("/boot/efi/loader/entries/deb.conf", "title D\n  options root=/dev/vda2 quiet\nlinux /l\n")
    w(
        "/boot/efi/loader/loader.conf",
        "timeout 3\n#default x\ndefaultx 1\n  default\tdeb*\ndefault\n",
    )
    if variant == "a":  # booted by systemd-boot (variant b: no EFI variables at all)
        guid = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
        for name, value in (
            ("LoaderInfo", "systemd-boot 252.22-1~deb12u1"),
            ("LoaderEntrySelected", "deb.conf"),
            ("LoaderTimeInitUSec", "1"),
        ):
            data = b"\x06\x00\x00\x00" + (value + "\0").encode("utf-16-le")
            w(f"/sys/firmware/efi/efivars/{name}-{guid}", data)
    w("/boot/extlinux/extlinux.conf", "LABEL x\n  KERNEL /vmlinuz\n  APPEND root=x console=ttyS0\n")
    w("/root/.bash_history", "ls\n" * 10)
    w("/home/alice/.bash_history", "")
    w("/home/bob smith/.bash_history", "x")
    w(
        "/etc/shadow",
        "root:!:19000:0:99999:7:::\na:*:1::\nb::1:\nc:x:\nd:$6$abc$def:1::\ne\n\n f :$1$x:\n"
        "g:!!\nh:*LK*:\ni:  :\nlast:$y$j9T$x",
    )
    w(
        "/root/.ssh/authorized_keys",
        "# comment\n\n   \n\t# indented\nno-port-forwarding,command=\"echo 'Please login as the "
        'user \\"vmcert\\" rather than root.\';echo;sleep 10" ssh-rsa AAAA root\n'
        "ssh-ed25519 AAAA k1\r\n  ssh-rsa BBBB k2 \\ backslash\nlast-no-newline",
    )
    w("/root/.ssh/authorized_keys2", "")
    w("/home/alice/.ssh/authorized_keys2", "ssh-ed25519 CCC alice\n")
    w(
        "/etc/sudoers",
        "Defaults env_reset\nDefaults targetpw\n  Defaults\ttargetpw\n#Defaults targetpw\n"
        "Defaults !targetpw\nDefaultstargetpw\nDefaults:bob targetpw # x\\y\nDefaults rootpw\n"
        "  \tDefaults  targetpw  \r\n#includedir sudoers.d\n",
    )
    w("/etc/sudoers.d/90-cloud", "\tDefaults:alice targetpw")
    w("/etc/sudoers.d/91-skipped.bak", "Defaults targetpw\n")  # sudo skips names with "."
    w("/etc/sudoers.d/README", "# Defaults targetpw\n")
    (root / "etc/sudoers.d/subdir").mkdir(parents=True, exist_ok=True)
    w(
        "/etc/ssh/sshd_config",
        "Port 22\n#ClientAliveInterval 1\nClientAliveInterval 120\nclientaliveinterval=5\n"
        "  Include /etc/ssh/sshd_config.d/*.conf\nIncludeX foo\nCLIENTALIVEINTERVAL\t9\nInclude\n"
        "Include foo\r\nClientAliveIntervalX 3\n\tinclude=bar\nClientAliveInterval",
    )
    w(
        "/etc/waagent.conf",
        "# Azure Linux Agent\nProvisioning.Enabled=y\nProvisioning.Agent=auto\n"
        "  # Provisioning.UseCloudInit = y\n##AutoUpdate.Enabled=n\n# AutoUpdate.Enabled=y\n"
        "AutoUpdate.Enabled =n\nAutoUpdate.EnabledX=y\nAutoUpdate.UpdateToLatestVersion=y\n"
        "ResourceDisk.Format=y\nResourceDisk.EnableSwap  =  y\nResourceDisk.Foo.Bar=1\n"
        "ResourceDisk.=1\nResourceDisk.SwapSizeMB\t=2048\n#  ResourceDisk.MountPoint=/mnt\n"
        "ResourceDisk.X9=1\nOS.EnableRDMA=y\nProvisioning.Enabled:y\nResourceDisk.MountOptions=None",
    )
    w(
        "/etc/cloud/cloud.cfg",
        "users:\n - default\nswap:\n  filename: /swap.img\n  size: auto\n  maxsize: 1\nsizes: x\n"
        "#swap: y\nmounts :\n  - [ ephemeral0 ]\ndisk_setup:\nfs_setup :\nfilename_x: 1\n"
        "\tsize\t: 2\n",
    )
    w("/etc/cloud/cloud.cfg.d/90_x.cfg", "swap: {size: 0}")
    w("/etc/cloud/cloud.cfg.d/README", "swap: 1\n")
    w(
        "/etc/fstab",
        "# /etc/fstab\nUUID=abc / ext4 errors=remount-ro 0 1\n/swapfile none swap sw 0 0\n"
        "  #/dev/sdb none swap sw\n/dev/sdc\tnone\tswap\n\t/dev/sdd none swap pri=1 0 0 x\n"
        "/dev/sde none swapx sw\n\n/dev/sdf x swap",
    )
    w(
        "/etc/modprobe.d/a.conf",
        "blacklist udf\nblacklist\tvfat # c\ninstall udf /bin/true\nblacklist udf2\n"
        "  install vfat\nblacklistudf\n#blacklist udf\ninstall  vfat\t/bin/false\n"
        "blacklist vfat\r\noptions udf x\nblacklist",
    )
    w("/etc/modprobe.d/b.txt", "blacklist udf\n")
    w("/usr/lib/modprobe.d/c.conf", "blacklist vfat")
    if variant == "a":
        w("/lib/modprobe.d/d.conf", "install udf /bin/true\n")
    else:
        (root / "lib").mkdir(parents=True, exist_ok=True)
        (root / "lib/modprobe.d").symlink_to("../usr/lib/modprobe.d")
    w(
        "/etc/apt/sources.list",
        "# deb http://x\n\ndeb http://deb.debian.org/debian bookworm main\n   \n"
        "  deb-src http://x bookworm main\r\n\t# c\ndeb [arch=amd64] http://y bookworm-updates main",
    )
    w("/etc/apt/sources.list.d/debian.sources", "Types: deb\nURIs: http://d\nSuites: a b\n\n# c\n")
    w("/etc/apt/sources.list.d/empty.list", "")
    w(
        "/etc/yum.repos.d/a.repo",
        "[base]\nname=Base\nbaseurl=http://x/$basearch\n#mirrorlist=http://m\n  enabled=1\n"
        "gpgcheck=1\n\t[updates]\nmetalink=http://y\nenabled = 0\nnamex=1\n[last]",
    )
    w("/etc/yum.repos.d/empty.repo", "")
    w("/etc/zypp/repos.d/b.repo", "[repo-oss]\nname=Main\nenabled=1\nautorefresh=1\n")
    w("/etc/udev/rules.d/75-persistent-net-generator.rules", "x")
    if variant == "a":
        w("/etc/udev/rules.d/70-persistent-net.rules", "x")
    for path in (
        "/etc/netplan/50-cloud-init.yaml",
        "/etc/netplan/01-a.yaml",
        "/etc/network/interfaces",
        "/etc/systemd/network/10-eth0.network",
        "/etc/NetworkManager/system-connections/Wired connection 1.nmconnection",
        "/etc/sysconfig/network-scripts/ifcfg-eth0",
        "/etc/sysconfig/network/ifcfg-eth0",
    ):
        w(path, "x")
    if variant == "b":  # a directory operand: ls lists its contents, so the real ls runs
        w("/etc/NetworkManager/system-connections/subdir/x", "x")
    for key in ("rsa", "ecdsa", "ed25519"):
        w(f"/etc/ssh/ssh_host_{key}_key", "k")
        w(f"/etc/ssh/ssh_host_{key}_key.pub", "p")
    for path in (
        "/var/lib/dhcp/dhclient.eth0.leases",
        "/var/lib/dhcp/.hidden.lease",
        "/var/lib/dhcp/x.info",
        "/var/lib/dhcp/other",
        "/var/lib/NetworkManager/internal-x-eth0.lease",
    ):
        w(path, "l")
    (root / "var/lib/dhcp/dir.lease").mkdir()
    (root / "var/lib/dhcp/link.lease").symlink_to("other")
    for i in range(60 if variant == "a" else 3):
        w(f"/var/lib/waagent/sub/f{i:02d}", "x")
    w("/var/lib/waagent/ovf-env.xml", "x")
    (root / "var/lib/cloud/instances/iid-a").mkdir(parents=True)
    (root / "var/lib/cloud/instances/iid-b").mkdir()
    (root / "var/lib/cloud/instance").symlink_to(root / "var/lib/cloud/instances/iid-b")
    if variant == "a":
        (root / "etc/resolv.conf").symlink_to("../run/systemd/resolve/stub-resolv.conf")
    else:
        w("/etc/resolv.conf", "nameserver 192.0.2.1\n")
    w("/etc/os-release", 'ID=debian\nVERSION_ID="12"\nNAME="no final newline"')
    return root


FILE_PROBES = [
    "os_release",
    "bootloader_config",
    "bash_history",
    "accounts",
    "sudoers",
    "sshd",
    "waagent_conf",
    "swap",
    "modprobe_blacklist",
    "network",
    "repos:debian",
    "repos",
    "glibc",
    "block_devices",
]


@pytest.mark.parametrize("variant", ["a", "b"])
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_file_probes_print_what_their_pipelines_printed(
    tmp_path: Path, shell: list[str], variant: str
) -> None:
    root = _tree(tmp_path / "root", variant)
    for key in FILE_PROBES:
        _same(key, shell, root)
    out = _same("sudoers", shell, root)
    assert "90-cloud:1:\tDefaults:alice targetpw\n" in out  # the filters did see the corner cases
    out = _same("bootloader_config", shell, root)
    assert "### @boot\n" in out and "  default\tdeb*\n" in out
    if variant == "a":  # the EFI variables decoded from UTF-16LE
        assert (
            "efi=1\nLoaderInfo=systemd-boot 252.22-1~deb12u1\nLoaderEntrySelected=deb.conf\n" in out
        )


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_proc_probes_print_what_their_pipelines_printed(tmp_path: Path, shell: list[str]) -> None:
    _same("cmdline", shell)

    def no_clock(text: str) -> str:  # `now` is boot time + uptime: it may trail date(1) by 1 s
        return re.sub(r"(?m)^now=\d+$", "now", text)

    out = _same("uname", shell, normalise=no_clock)
    now = int(re.search(r"(?m)^now=(\d+)$", out).group(1))  # type: ignore[union-attr]
    assert abs(now - int(subprocess.run(["date", "+%s"], capture_output=True).stdout)) <= 2


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_deprovision_state_stats_once_and_prints_the_same_facts(
    tmp_path: Path, shell: list[str]
) -> None:
    """Lease files come from a glob now (name order), not find (directory order)."""

    def by_name(text: str) -> str:
        return "\n".join(
            f"### {k}\n" + "".join(sorted(v.splitlines(keepends=True)))
            for k, v in sections(text).items()
        )

    for variant in ("a", "b"):
        root = _tree(tmp_path / variant, variant)
        out = _same("deprovision_state", shell, root, normalise=by_name)
        secs = sections(out)
        assert len(secs["waagent"].splitlines()) == (50 if variant == "a" else 4)
        assert len(secs["dhcp_leases"].splitlines()) == 4
        assert secs["cloud_instances"].split()[1::3] == ["other", "current"]


def _tool(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _bin(tmp_path: Path, awk: list[str] | None = None) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if awk:
        _tool(bin_dir, "awk", f'exec {" ".join(awk)} "$@"\n')
    return bin_dir


def _log(tmp_path: Path) -> Path:
    lines = ["[    0.000000] Linux version 6.1"]
    lines += [f"[    0.1{i}] printk: console [ttyS{i}] enabled" for i in range(7)]
    lines += ["[    0.2] console [tty0] enabled", "[    0.3] Console [ttyS0] enabled"]
    for i in range(1000):
        word = ("fail", "ERROR", "Warning", "Call Trace:", "bug: x", "BUG: y", "PANIC")[i % 7]
        lines.append(f"[{i:5d}.000] line {i} {word} \\ back\tslash")
        lines.append(f"[{i:5d}.500] harmless {i}")
    path = tmp_path / "kernel.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("awk", AWKS or [None], ids=lambda a: " ".join(a) if a else "awk")
def test_log_probes_print_what_their_pipelines_printed(tmp_path: Path, awk: list[str]) -> None:
    bin_dir, log = _bin(tmp_path, awk), _log(tmp_path)
    _tool(bin_dir, "dmesg", f"cat {log}\n")
    _tool(bin_dir, "journalctl", f"cat {log}\n")
    out = _same("dmesg", ["sh"], bin_dir=bin_dir)
    assert len(sections(out)["console"].splitlines()) == 5
    assert len(sections(out)["problems"].splitlines()) == 400
    root = tmp_path / "root"
    assert len(_same("boot_journal", ["sh"], root, bin_dir).splitlines()) == 401  # journal
    # a journalctl that filters with --grep itself (case-insensitively, by message), and one built
    # without pattern matching, which refuses --grep on stderr: the same 400 lines either way
    for grep_support in (
        f'case "$*" in *--grep=*) grep -iE "fail|error|warn" {log};; *) cat {log};; esac\n',
        'case "$*" in *--grep=*) echo "Compiled without pattern matching support" >&2; exit 1;;'
        f" esac\ncat {log}\n",
    ):
        _tool(bin_dir, "journalctl", grep_support)
        assert len(_same("boot_journal", ["sh"], root, bin_dir).splitlines()) == 401
    # a clean journal: --grep finds nothing (exit 1, silent) and journalctl is not run again
    clean, calls = tmp_path / "clean.log", tmp_path / "calls"
    clean.write_text("[    1.0] all good\n")
    _tool(
        bin_dir,
        "journalctl",
        f'echo "$*" >>{calls}\ncase "$*" in *--grep=*) grep -iE "fail|error|warn" {clean};;'
        f" *) cat {clean};; esac\n",
    )
    assert _same("boot_journal", ["sh"], root, bin_dir) == "source=journal\n"
    assert calls.read_text().count("--grep=") == 1 and len(calls.read_text().splitlines()) == 2
    _tool(bin_dir, "journalctl", f"cat {log}\n")
    _write(root, "/var/log/messages", log.read_bytes())
    assert len(_same("boot_journal", ["sh"], root, bin_dir).splitlines()) == 401  # last 400
    _tool(bin_dir, "dmesg", "echo 'dmesg: read kernel buffer failed' >&2; exit 1\n")
    _same("dmesg", ["sh"], bin_dir=bin_dir)


@pytest.mark.parametrize("awk", AWKS or [None], ids=lambda a: " ".join(a) if a else "awk")
def test_awk_file_probes_on_every_awk(tmp_path: Path, awk: list[str]) -> None:
    root, bin_dir = _tree(tmp_path / "root", "a"), _bin(tmp_path, awk)
    for key in ("bootloader_config", "repos", "swap"):
        _same(key, ["sh"], root, bin_dir)


# systemd's answers for (unit -> Id, ActiveState, UnitFileState, what is-enabled prints), as
# systemd 252 gives them (checked on Debian 12 for enabled, alias, disabled, static, masked,
# indirect and missing units); "down" = no systemd: every call fails.
UNITS = {
    "debian": {
        "ssh.service": ("ssh.service", "active", "enabled", "enabled"),
        "sshd.service": ("ssh.service", "active", "enabled", "alias"),
    },
    "rhel": {
        "ssh.service": ("ssh.service", "inactive", "", ""),
        "sshd.service": ("sshd.service", "active", "enabled", "enabled"),
    },
    "azure": {
        "ssh.service": ("ssh.service", "inactive", "", ""),
        "sshd.service": ("sshd.service", "inactive", "disabled", "disabled"),
    },
    "masked": {
        "ssh.service": ("ssh.service", "inactive", "masked", "masked"),
        "sshd.service": ("sshd.service", "failed", "static", "static"),
    },
    "socket": {  # Ubuntu >= 22.10: sshd started through ssh.socket
        "ssh.service": ("ssh.service", "active", "disabled", "disabled"),
        "ssh.socket": ("ssh.socket", "active", "enabled", "enabled"),
    },
}


def _fake_systemctl(bin_dir: Path, units: dict[str, tuple[str, str, str, str]] | None) -> None:
    if units is None:
        _tool(bin_dir, "systemctl", "echo 'System has not been booted with systemd' >&2; exit 1\n")
        return
    table = "".join(f"{u}|{'|'.join(v)}\n" for u, v in units.items())
    _tool(
        bin_dir,
        "systemctl",
        f"""table='{table}'
get() {{ printf '%s' "$table" | while IFS='|' read -r u id act ufs en; do [ "$u" = "$1" ] && echo "$id|$act|$ufs|$en"; done; }}
cmd=$1; shift
case $cmd in
  is-enabled) r=$(get "$1"); en=${{r##*|}}; [ -n "$en" ] || {{ echo "Failed to get unit file state for $1" >&2; exit 1; }}; echo "$en";;
  is-active) r=$(get "$1"); r=${{r#*|}}; echo "${{r%%|*}}";;
  show)
    while [ "$1" = -p ]; do shift 2; done
    sep=
    for u; do
      r=$(get "$u"); id=${{r%%|*}}; r=${{r#*|}}; act=${{r%%|*}}; r=${{r#*|}}; ufs=${{r%%|*}}
      [ -n "$sep" ] && echo; sep=1
      printf 'Id=%s\\nNames=%s\\nActiveState=%s\\nUnitFileState=%s\\n' "$id" "$id" "$act" "$ufs"
    done;;
esac
""",
    )


@pytest.mark.parametrize("system", [*UNITS, "down"])
def test_ssh_service_reads_both_units_with_one_systemctl(tmp_path: Path, system: str) -> None:
    bin_dir = _bin(tmp_path)
    _fake_systemctl(bin_dir, UNITS.get(system))
    _tool(
        bin_dir,
        "ss",
        "printf 'LISTEN 0      128          0.0.0.0:22        0.0.0.0:*\\n"
        'LISTEN 0 4096 [::]:22 [::]:* users:(("sshd"))\\nLISTEN 0 5\\n\'\n',
    )
    for shell in SHELLS:
        if system == "down":
            # the replaced pipeline printed four "no such unit" lines here (the false fail of a
            # busy systemd): the probe now says that systemd did not answer, and why
            out = _run(shell, _text("ssh_service"), bin_dir)[1]
            assert out.startswith(
                "systemd-error=systemctl show exited 1 and answered for 0 of 4 units: "
                "System has not been booted with systemd\n### listen\n"
            )
        else:
            out = _same("ssh_service", shell, bin_dir=bin_dir)
    assert "### listen\n0.0.0.0:22\n[::]:22\n\n" in out


@pytest.mark.parametrize(
    "dpkg, rpm",
    [
        ("deinstall ok config-files 2.2.0\\ninstall ok installed 2.9.1.1-1\\n", None),
        (
            "install ok not-installed \\n",
            "package WALinuxAgent is not installed\\n2.9.1.1-3.el9\\n",
        ),
        (None, "package WALinuxAgent is not installed\\npackage x is not installed\\n"),
        (None, None),
    ],
)
def test_agent_version_reads_the_package_database_alike(
    tmp_path: Path, dpkg: str | None, rpm: str | None
) -> None:
    bin_dir = _bin(tmp_path)
    for name, text in (("dpkg-query", dpkg), ("rpm", rpm)):
        if text is not None:
            _tool(bin_dir, name, f"printf '{text}'\n")
        else:
            _tool(bin_dir, name, "exit 1\n")
    for shell in SHELLS:
        _same("agent_version", shell, bin_dir=bin_dir)
        _same("glibc:rhel", shell, bin_dir=bin_dir)


# --- initramfs ----------------------------------------------------------------------------------


def _newc(names: list[str], data: bytes = b"") -> bytes:
    """A newc cpio archive of ``names`` (directories for names ending in /), padded to 512 bytes."""
    out = bytearray()
    for ino, name in enumerate([*names, "TRAILER!!!"], 1):
        is_dir = name.endswith("/")
        name = name.rstrip("/")
        body = b"" if is_dir or name == "TRAILER!!!" else data or name.encode() * 3
        mode = 0o40755 if is_dir else 0o100644
        if name == "TRAILER!!!":
            ino, mode = 0, 0
        fields = [ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(name) + 1, 0]
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
        out += b"\0" * (-len(out) % 4) + body + b"\0" * (-len(body) % 4)
    return bytes(out + b"\0" * (-len(out) % 512))


MODULES = "usr/lib/modules/6.1.0/kernel/drivers"
FALLBACK = "fallback/hv_vmbus.ko\nfallback/hv_storvsc.ko\n"
MAIN = [
    "usr/",
    f"{MODULES}/ata/libata.ko",
    f"{MODULES}/hv/hv_vmbus.ko",
    f"{MODULES}/net/hyperv/hv_netvsc.ko.zst",
    f"{MODULES}/scsi/hv_storvsc.ko",
    f"{MODULES}/scsi/hv_later.ko",
    "usr/lib/modules/6.1.0/modules.dep",
]
EXPECTED = f"{MODULES}/hv/hv_vmbus.ko\n{MODULES}/net/hyperv/hv_netvsc.ko.zst\n{MODULES}/scsi/hv_storvsc.ko\n"


def _compressors() -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {}
    if shutil.which("gzip"):
        found["gzip"] = lambda b: gzip.compress(b, mtime=0)
    if shutil.which("xz"):
        found["xz"] = lambda b: lzma.compress(b, check=lzma.CHECK_CRC32)
        found["lzma"] = lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE)
    if shutil.which("bzip2"):
        found["bzip2"] = bz2.compress
    for tool, args in (("zstd", ["-q", "-c"]), ("lz4", ["-q", "-l", "-c"])):
        if shutil.which(tool):
            found[tool] = lambda b, cmd=[tool, *args]: (
                subprocess.run(cmd, input=b, capture_output=True, check=True).stdout
            )
    return found


@pytest.mark.skipif(not shutil.which("cpio"), reason="needs GNU cpio (initramfs-tools has it)")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_initramfs_listing_without_lsinitramfs(tmp_path: Path, shell: list[str]) -> None:
    """The image is listed by decompressor | cpio, behind uncompressed early archives, exactly like
    lsinitramfs | awk; lsinitramfs (here a fake that says so) only runs for what it cannot read."""
    rel = Path("/proc/sys/kernel/osrelease").read_text().strip()
    root, bin_dir = tmp_path / "root", _bin(tmp_path)
    _tool(bin_dir, "lsinitramfs", "printf 'fallback/hv_vmbus.ko\\nfallback/hv_storvsc.ko\\n'\n")
    _write(root, f"/lib/modules/{rel}/modules.builtin", "kernel/drivers/hv/hv_utils.ko\nx")
    main = _newc(MAIN)
    early = _newc(["kernel/", "kernel/x86/microcode/GenuineIntel.bin"], os.urandom(3000))
    end = early.index(b"TRAILER!!!") + 11
    early4 = early[: end + (-end % 4)]  # without the padding to 512 bytes
    early_hv = _newc([f"{MODULES}/hv/hv_vmbus.ko"])
    images: dict[str, tuple[bytes, str]] = {"uncompressed": (main, EXPECTED)}
    for name, compress in _compressors().items():
        packed = compress(main)
        images[name] = (packed, EXPECTED)
        images[f"early+{name}"] = (early + packed, EXPECTED)
        images[f"early4+{name}"] = (early4 + packed, EXPECTED)
        images[f"early+early+{name}"] = (early + early4 + b"\0" * 1024 + packed, EXPECTED)
        images[f"early-hv+{name}"] = (early_hv + packed, f"{MODULES}/hv/hv_vmbus.ko\n" + EXPECTED)
    images["early+uncompressed"] = (early + main, EXPECTED)
    images["garbage"] = (os.urandom(4096), FALLBACK)
    images["early+garbage"] = (early + b"\x01\x02\x03" + os.urandom(4096), FALLBACK)
    images["empty"] = (b"", FALLBACK)
    if "gzip" in _compressors():  # a broken compressed archive behind a good early one
        images["early+bad-gzip"] = (early + gzip.compress(main)[:30], FALLBACK)
        # more zero padding than is searched: unknown, so lsinitramfs decides
        images["early+64k+gzip"] = (early + b"\0" * 65536 + gzip.compress(main), FALLBACK)
        images["early+60k+gzip"] = (early + b"\0" * 61440 + gzip.compress(main), EXPECTED)
    text = _moved(_text("initramfs_modules"), root)
    for name, (image, listing) in images.items():
        _write(root, f"/boot/initrd.img-{rel}", image)
        rc, out, err = _run(shell, text, bin_dir)
        assert rc == 0, (name, err)
        assert out == (
            f"release={rel}\n### builtin\n### initramfs\nimage={root}/boot/initrd.img-{rel}\n"
            + listing
        ), name


@pytest.mark.skipif(not shutil.which("cpio"), reason="needs GNU cpio (dracut has it)")
def test_dracut_images_are_listed_directly(tmp_path: Path) -> None:
    """RHEL, SUSE and Azure Linux (dracut: no lsinitramfs): the image where ``lsinitrd --kver``
    looks is listed like Debian's, names only; ``lsinitrd``'s long listing (here a fake that
    replays RHEL 9's) only for an image vp_list cannot read."""
    rel = Path("/proc/sys/kernel/osrelease").read_text().strip()
    root, bin_dir = tmp_path / "root", _bin(tmp_path)
    long = "-rw-r--r--   1 root     root        52396 Apr 10 10:29 " + MODULES + "/hv/hv_vmbus.ko\n"
    _tool(bin_dir, "lsinitrd", f"echo '{long.strip()}'\n")
    early = _newc(["kernel/", "kernel/x86/microcode/GenuineIntel.bin"], os.urandom(3000))
    text = _moved(_text("initramfs_modules:rhel"), root)
    head = f"release={rel}\n### builtin\n### initramfs\n"
    for path in (f"/boot/initramfs-{rel}.img", f"/boot/initrd-{rel}"):
        for compress in _compressors().values():
            image = _write(root, path, early + compress(_newc(MAIN)))
            rc, out, err = _run(["sh"], text, bin_dir)
            assert (rc, out) == (0, f"{head}image={root}{path}\n{EXPECTED}"), err
            image.write_bytes(os.urandom(4096))  # unreadable here: lsinitrd decides
            assert _run(["sh"], text, bin_dir)[1] == f"{head}image=lsinitrd\n{long}"
            image.unlink()


# --- shellcheck ---------------------------------------------------------------------------------


def _all_texts() -> dict[str, str]:
    """Every built-in fact text as the batch sends it (helpers included), by NAME[:FAMILY]."""
    load_builtin_facts()
    texts: dict[str, str] = {}
    for item in FACTS:
        if item.probed:
            texts[item.name] = item.script
            texts.update({f"{item.name}:{fam}": t for fam, t in item.family_scripts.items()})
    return texts


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="needs shellcheck (scripts/install.sh)")
def test_every_fact_text_is_shellcheck_clean() -> None:
    """``shellcheck -s sh -S warning`` finds nothing in any text (as combined at load time)."""
    texts = _all_texts()
    assert len(texts) >= 23
    findings = {}
    for key, text in texts.items():
        proc = subprocess.run(
            ["shellcheck", "-s", "sh", "-S", "warning", "-f", "gcc", "-"],
            input=text.encode(),
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            findings[key] = proc.stdout.decode() + proc.stderr.decode()
    assert findings == {}


def test_shellcheck_would_catch_a_bad_text() -> None:
    """The lint gate can fail: an unquoted-variable bug in a text is a warning."""
    if not shutil.which("shellcheck"):
        pytest.skip("needs shellcheck (scripts/install.sh)")
    proc = subprocess.run(
        ["shellcheck", "-s", "sh", "-S", "warning", "-"],
        input=b'for f in $(ls /etc); do [ $f == x ] && echo "$f"; done\n',
        capture_output=True,
        check=False,
    )
    assert proc.returncode != 0
