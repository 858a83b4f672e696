# `cat FILE` with builtins: the same bytes (a last line without newline stays so), status 1 when
# FILE cannot be read.
vp_cat() {
  if [ ! -r "$1" ] || [ -d "$1" ]; then echo "vp_cat: cannot read $1" >&2; return 1; fi
  vp_l=
  while IFS= read -r vp_l; do printf '%s\n' "$vp_l"; done <"$1"
  printf '%s' "$vp_l"
}
