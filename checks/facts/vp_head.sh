# The first line of stdin (`head -n1`) and the first three (`head -n 3`), with builtins.
vp_head() {
  vp_n=0; vp_l=
  while [ "$vp_n" -lt "$1" ] && IFS= read -r vp_l; do printf '%s\n' "$vp_l"; vp_n=$((vp_n + 1)); vp_l=; done
  printf '%s' "$vp_l"
}
