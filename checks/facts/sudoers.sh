# grep -HnE '^[[:space:]]*Defaults.*targetpw' per file, in the shell
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
