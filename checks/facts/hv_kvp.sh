# The Hyper-V KVP daemon (hv_kvp_daemon; hypervkvpd on older Azure Linux/Mariner): the binary
# and its units' state. It runs only on Hyper-V (its unit has ConditionVirtualization=microsoft).
for b in /usr/sbin/hv_kvp_daemon /usr/bin/hv_kvp_daemon /usr/lib/hyper-v/bin/hv_kvp_daemon \
  /usr/sbin/hypervkvpd /usr/libexec/hypervkvpd/hypervkvpd; do
  [ -x "$b" ] && echo "binary=$b"
done
vp_show 3 -p Id -p LoadState -p UnitFileState hv-kvp-daemon.service \
  hv_kvp_daemon.service hypervkvpd.service || out=
id=; load=; ufs=
while IFS= read -r l; do
  case $l in
    Id=*) id=${l#*=};;
    LoadState=*) load=${l#*=};;
    UnitFileState=*) ufs=${l#*=};;
    '') case $load in loaded|masked) echo "unit=$id ${ufs:-$load}";; esac; id=; load=; ufs=;;
  esac
done <<EOF_UNITS
$out

EOF_UNITS
exit 0
