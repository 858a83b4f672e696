# grep -HEs '^[[:space:]]*(blacklist|install)[[:space:]]+(udf|vfat)([[:space:]]|$)' over the
# .conf files, in the shell; /lib/modprobe.d only when it is not /usr/lib/modprobe.d (usr-merge)
# kmod's default_config_paths (libkmod.c): /usr/local/lib/modprobe.d since kmod 29
dirs="/etc/modprobe.d /run/modprobe.d /usr/local/lib/modprobe.d /usr/lib/modprobe.d"
[ "$(cd -P /lib/modprobe.d 2>/dev/null && pwd -P)" != "/usr/lib/modprobe.d" ] && dirs="$dirs /lib/modprobe.d"
# modprobe reads one file per name: /etc's shadows /run's, which shadows the vendor ones
seen=/
for d in $dirs; do
  [ -d "$d" ] || continue
  for f in "$d"/*.conf; do
    [ -f "$f" ] && [ -r "$f" ] || continue
    case $seen in *"/${f##*/}/"*) continue;; esac
    seen="$seen${f##*/}/"
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
