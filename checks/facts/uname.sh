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
