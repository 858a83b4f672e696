# One `systemctl show` for both units instead of is-enabled/is-active for each. is-active prints
# ActiveState; is-enabled prints UnitFileState, except "alias" when the name asked for is an alias
# of the unit (sshd.service on Debian: Id=ssh.service), and nothing for a unit that does not exist
# (checked on systemd 252; older systemd printed the aliased unit's state for an alias, which
# ssh_enabled accepts alike).
# The sockets too: Ubuntu >= 22.10 starts sshd through ssh.socket (the service is disabled).
# No answer from systemd is an error line, never four "no such unit" lines (vp_show).
set -- ssh.service sshd.service ssh.socket sshd.socket
vp_show 4 -p Id -p ActiveState -p UnitFileState "$@" || set --
id=; act=; ufs=
while IFS= read -r l; do
  case $l in
    Id=*) id=${l#*=};;
    ActiveState=*) act=${l#*=};;
    UnitFileState=*) ufs=${l#*=};;
    '')
      [ $# -gt 0 ] || break
      if [ -n "$ufs" ] && [ -n "$id" ] && [ "$id" != "$1" ]; then ufs='alias'; fi
      echo "$1 enabled=$ufs active=$act"
      shift; id=; act=; ufs=;;
  esac
done <<EOF
$out

EOF
for u; do echo "$u enabled= active="; done
echo "### listen"
if command -v ss >/dev/null 2>&1; then
  ss -Hltn 2>/dev/null | while read -r _ _ _ a _; do printf '%s\n' "$a"; done
fi
exit 0
