set --
for f in /root/.bash_history /home/*/.bash_history; do
  [ -e "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && stat -c '%s %U %n' "$@"
exit 0
