# One findmnt for source and type (FSTYPE first: it has no blanks), the disk from lsblk -s (the
# last "disk" line, as awk | tail did), then the disk's tree.
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
