# grep -vE '^[[:space:]]*(#|$)' per file, in the shell
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  echo "### $f"
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    case ${l#"${l%%[![:space:]]*}"} in ''|'#'*) ;; *) printf '%s\n' "$l";; esac
    l=
  done <"$f"
done
exit 0
