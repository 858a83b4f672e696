# `vp_show N ARGS...`: `systemctl show ARGS` for N units into $out (stderr merged; the callers'
# `case` loops skip its lines). systemd answers every unit, even one that does not exist, with an
# Id= line; when it answers fewer (busy or unreachable bus, no systemctl) this prints
# "systemd-error=WHY" and returns 1, so an empty answer never reads as "no such unit".
vp_show() {
  vp_n=$1; shift
  out=$(systemctl show "$@" 2>&1); vp_rc=$?
  vp_ids=0; vp_why=
  while IFS= read -r vp_l; do
    case $vp_l in
      Id=*) vp_ids=$((vp_ids + 1));;
      [A-Za-z]*=*|'') ;;
      *) [ -n "$vp_why" ] || vp_why=$vp_l;;
    esac
  done <<EOF_VP_SHOW
$out
EOF_VP_SHOW
  [ "$vp_rc" -eq 0 ] && [ "$vp_ids" -ge "$vp_n" ] && return 0
  echo "systemd-error=systemctl show exited $vp_rc and answered for $vp_ids of $vp_n units${vp_why:+: $vp_why}"
  return 1
}
