# One stat (`%Y %W %n`) for host keys, DHCP leases, agent files, cloud-init instance directories
# and resolv.conf; its lines are sorted back into the sections by path. Lease files are found by
# globbing (find -maxdepth 1 -type f -name '*lease*' -o -name '*.info', dot files included), so
# they are listed in name order rather than directory order; the agent's files still come from
# find (recursive), the first 50 as before.
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
# a machine-id with an id in it (systemd's first boot fills an empty or "uninitialized" one) and
# the logs an earlier provisioning leaves (waagent -deprovision and cloud-init clean --logs
# delete them); sections printed only when they have lines
mid=
# (a symlink, e.g. to /run/machine-id, is filled at every boot)
[ -f /etc/machine-id ] && [ ! -L /etc/machine-id ] && { read -r mid </etc/machine-id || :; }
case $mid in ''|uninitialized) ;; *) set -- "$@" /etc/machine-id;; esac
for f in /var/log/waagent.log /var/log/cloud-init.log /var/log/cloud-init-output.log; do
  [ -f "$f" ] && set -- "$@" "$f"
done
nl='
'
hk=; dh=; ag=; ci=; mi=; lg=
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
      /etc/machine-id) mi="$y $p$nl";;
      /var/log/*) lg="$lg$w $p$nl";;
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
[ -z "$mi" ] || { echo "### machine_id"; printf '%s' "$mi"; }
[ -z "$lg" ] || { echo "### provisioning_logs"; printf '%s' "$lg"; }
exit 0
