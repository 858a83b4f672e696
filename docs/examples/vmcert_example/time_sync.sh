# The time-synchronisation units: one `systemctl show` for all of them (one exec under TCG).
# Prints "UNIT enabled=STATE active=STATE" per unit that exists; nothing when systemd is absent.
out=$(systemctl show -p Id -p UnitFileState -p ActiveState -p LoadState \
  chrony.service chronyd.service systemd-timesyncd.service ntp.service ntpd.service 2>/dev/null)
id=; ufs=; act=; load=
while IFS= read -r line; do
  case $line in
    Id=*) id=${line#*=};;
    UnitFileState=*) ufs=${line#*=};;
    ActiveState=*) act=${line#*=};;
    LoadState=*) load=${line#*=};;
    '')
      [ -n "$id" ] && [ "$load" = loaded ] && echo "$id enabled=$ufs active=$act"
      id=; ufs=; act=; load=;;
  esac
done <<EOF_UNITS
$out

EOF_UNITS
exit 0
