# The Azure Linux Agent's systemd units (walinuxagent on Debian/Ubuntu, waagent elsewhere), from
# one `systemctl show`: "UNIT enabled=STATE active=STATE" per unit that exists.
# No answer from systemd: a "systemd-error=" line (vp_show), not "no unit".
vp_show 2 -p Id -p LoadState -p ActiveState -p UnitFileState \
  walinuxagent.service waagent.service || out=
id=; load=; act=; ufs=
while IFS= read -r l; do
  case $l in
    Id=*) id=${l#*=};;
    LoadState=*) load=${l#*=};;
    ActiveState=*) act=${l#*=};;
    UnitFileState=*) ufs=${l#*=};;
    '')
      # a masked unit loads as "masked"; one that does not exist as "not-found"
      case $load in loaded|masked) echo "$id enabled=${ufs:-$load} active=$act";; esac
      id=; load=; act=; ufs=;;
  esac
done <<EOF_UNITS
$out

EOF_UNITS
exit 0
