# grep -iE '^(clientaliveinterval|...) ' over `sshd -T -C …` (the status is grep's: 0 when a line
# matched) and grep -inE '^[[:space:]]*(ClientAliveInterval|Include)([[:space:]]|=)' over
# sshd_config, both in the shell
echo "### effective"
SSHD=/usr/sbin/sshd; [ -x "$SSHD" ] || SSHD=/usr/bin/sshd
if [ -x "$SSHD" ]; then
  # What a real connection gets: -C applies the Match blocks (a plain -T prints only the global
  # part). The spec is a customer's first login (Azure's default admin name, an outside address,
  # port 22 of 10.0.0.4: checks/facts/sshd.py CONNECTION). laddr/lport are needed: without them
  # a `Match LocalPort` stops sshd -T ("'lport' not in connection test specification"). An sshd
  # too old for -C, or one that rejects the spec, gives the global settings instead. The spec
  # has no invalid-user key (sshd >= 9.9; older ones refuse it): the admin user provisioning
  # creates exists when the customer logs in, so `Match Invalid-User` does not hold for it.
  out=$("$SSHD" -T -C user=azureuser,host=client.invalid,addr=198.51.100.10,laddr=10.0.0.4,lport=22 2>&1) \
    || out=$("$SSHD" -T 2>&1)
  printf '%s\n' "$out" | (
    rc=1; l=
    while IFS= read -r l || [ -n "$l" ]; do
      case $l in
        [Cc][Ll][Ii][Ee][Nn][Tt][Aa][Ll][Ii][Vv][Ee][Ii][Nn][Tt][Ee][Rr][Vv][Aa][Ll]' '*|[Cc][Ll][Ii][Ee][Nn][Tt][Aa][Ll][Ii][Vv][Ee][Cc][Oo][Uu][Nn][Tt][Mm][Aa][Xx]' '*|[Pp][Oo][Rr][Tt]' '*|[Pp][Ee][Rr][Mm][Ii][Tt][Rr][Oo][Oo][Tt][Ll][Oo][Gg][Ii][Nn]' '*|[Pp][Aa][Ss][Ss][Ww][Oo][Rr][Dd][Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ii][Oo][Nn]' '*) printf '%s\n' "$l"; rc=0;;
      esac
      l=
    done
    exit $rc
  )
  echo "sshd_t_status=$?"
else echo "sshd_absent"; fi
echo "### main_config"
if [ -f /etc/ssh/sshd_config ]; then
  n=0; l=
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    case ${l#"${l%%[![:space:]]*}"} in
      [Cc][Ll][Ii][Ee][Nn][Tt][Aa][Ll][Ii][Vv][Ee][Ii][Nn][Tt][Ee][Rr][Vv][Aa][Ll][[:space:]=]*|[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]=]*) printf '%s:%s\n' "$n" "$l";;
    esac
    l=
  done </etc/ssh/sshd_config
fi
exit 0
