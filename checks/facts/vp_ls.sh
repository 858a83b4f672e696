# `ls -1 OPERAND... 2>/dev/null` with builtins. ls sorts its operands (C locale: byte order), so
# callers pass their globs in that order (each glob expands sorted); a directory operand makes ls
# list its contents, so then the real ls runs.
vp_ls() {
  for vp_f; do [ -d "$vp_f" ] && { ls -1 "$@" 2>/dev/null; return 0; }; done
  for vp_f; do if [ -e "$vp_f" ] || [ -L "$vp_f" ]; then printf '%s\n' "$vp_f"; fi; done
  return 0
}
