# The sudoers files as sudo reads them: /etc/sudoers, then each file an include directive names,
# where the directive stands (@include/#include FILE; @includedir/#includedir DIR: the
# directory's files in sorted order, skipping names that contain "." or end in "~", as
# sudoers(5) says; a relative path is relative to the including file's directory). Prints
# "path:lineno:line" for each Defaults line that mentions targetpw and each include line, in the
# order sudo meets them (a later Defaults overrides an earlier one). Recursion in subshells.
sudo_read() {
  [ "$2" -gt 8 ] && return 0
  [ -f "$1" ] && [ -r "$1" ] || return 0
  n=0; l=
  while IFS= read -r l || [ -n "$l" ]; do
    n=$((n + 1))
    t=${l#"${l%%[![:space:]]*}"}
    case $t in
      Defaults*targetpw*) printf '%s:%s:%s\n' "$1" "$n" "$l";;
      [@#]include[[:space:]]*|[@#]includedir[[:space:]]*)
        printf '%s:%s:%s\n' "$1" "$n" "$l"
        w=${t#*[[:space:]]}; w=${w#"${w%%[![:space:]]*}"}; w=${w%%[[:space:]]*}
        case $w in /*) ;; *) w=${1%/*}/$w;; esac
        case $t in
          [@#]includedir*)
            for g in "$w"/*; do
              case ${g##*/} in *.*|*'~') continue;; esac
              [ -f "$g" ] && (sudo_read "$g" $(($2 + 1)))
            done;;
          *) (sudo_read "$w" $(($2 + 1)));;
        esac;;
    esac
    l=
  done <"$1"
}
sudo_read /etc/sudoers 0
exit 0
