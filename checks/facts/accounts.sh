echo "### shadow"
u=; s=
while IFS=: read -r u s _ || [ -n "$u$s" ]; do
  case $s in
    '') t=empty;;
    '!'*|'*'*|x) t=locked;;
    *) t='hash';;  # quoted: a word, not the hash builtin
  esac
  echo "$u $t"
  u=; s=
done </etc/shadow
echo "### authorized_keys"
# Every key file sshd would read for some account: AuthorizedKeysFile as sshd applies it to a
# login (sshd -T -C; its default when sshd cannot say), then every AuthorizedKeysFile word of
# sshd_config and the files it includes, Match blocks or not (a `Match User admin` block's file
# is one admin can be let in with; checks/facts/sshd.py configured_values reads the same),
# expanded (%h, %u, %%, relative to the home) for every home directory on the disk: /root, each
# directory under /home (also one no account names any more, as user = its name) and every home
# in /etc/passwd.
akf=
SSHD=/usr/sbin/sshd; [ -x "$SSHD" ] || SSHD=/usr/bin/sshd
if [ -x "$SSHD" ]; then
  out=$("$SSHD" -T -C user=azureuser,host=client.invalid,addr=198.51.100.10,laddr=10.0.0.4,lport=22 2>/dev/null) \
    || out=$("$SSHD" -T 2>/dev/null)
  while IFS= read -r l; do case $l in authorizedkeysfile' '*) akf=${l#* };; esac; done <<EOF_T
$out
EOF_T
fi
[ -n "$akf" ] && [ "$akf" != none ] || akf='.ssh/authorized_keys .ssh/authorized_keys2'
akf_in() {  # FILE: its AuthorizedKeysFile words onto akf, its Include files read in place
  [ "$depth" -le 16 ] && [ -f "$1" ] || return 0
  while IFS= read -r l || [ -n "$l" ]; do
    l=${l#"${l%%[![:space:]]*}"}
    case $l in
      [Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Ee][Dd][Kk][Ee][Yy][Ss][Ff][Ii][Ll][Ee][[:space:]=]*) k=akf; l=${l#??????????????????};;
      [Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]=]*) k=inc; l=${l#???????};;
      *) l=; continue;;
    esac
    while :; do case $l in [[:space:]=]*) l=${l#?};; *) break;; esac; done
    for w in $l; do
      case $w in '#'*) break;; none) continue;; esac
      if [ "$k" = akf ]; then akf="$akf $w"; continue; fi
      case $w in /*) ;; *) w=/etc/ssh/$w;; esac
      set +f
      for f in $w; do
        set -f; depth=$((depth + 1)); akf_in "$f"; depth=$((depth - 1)); k=inc  # the call reset k
      done
      set -f
    done
    l=
  done <"$1"
}
sp=$(printf ' \t\r\v\f'); oifs=$IFS; IFS="$sp
"; depth=0; set -f
akf_in /etc/ssh/sshd_config
set +f; IFS=$oifs
nl='
'
root_home=/root
pairs="root:$root_home$nl"
for d in /home/*; do [ -d "$d" ] && pairs="$pairs${d##*/}:$d$nl"; done
login_uid=${SUDO_UID:-}
if [ -z "$login_uid" ]; then
  while read -r k v _; do [ "$k" = Uid: ] && { login_uid=$v; break; }; done </proc/self/status
fi
login_user=; login_home=
if [ -r /etc/passwd ]; then
  u=
  while IFS=: read -r u _ uid _ _ h _ || [ -n "$u" ]; do
    case $h in ''|/) ;; *) [ -d "$h" ] && pairs="$pairs$u:$h$nl";; esac
    [ "$uid" = "$login_uid" ] && [ -z "$login_user" ] && { login_user=$u; login_home=$h; }
    u=
  done </etc/passwd
fi
set --
seen=$nl
set -f  # AuthorizedKeysFile words are not globs
while IFS=: read -r u h; do
  [ -n "$h" ] || continue
  for p in $akf; do
    r=; s=$p
    while :; do
      case $s in
        *%*) r=$r${s%%\%*}; s=${s#*%}
          case $s in h*) r=$r$h; s=${s#h};; u*) r=$r$u; s=${s#u};; %*) r=$r%; s=${s#%};; esac;;
        *) r=$r$s; break;;
      esac
    done
    case $r in /*) ;; *) r=$h/$r;; esac
    case $seen in *"$nl$r$nl"*) continue;; esac
    seen="$seen$r$nl"
    [ -s "$r" ] && set -- "$@" "$r"
  done
done <<EOF_P
$pairs
EOF_P
set +f
# one stat for every owner; then each file's non-blank, non-comment lines, read by the shell
[ $# -gt 0 ] && stat -c '%U %n' "$@" | while IFS= read -r so; do
  owner=${so%% *}; f=${so#* }; line=
  while IFS= read -r line || [ -n "$line" ]; do
    t=${line#"${line%%[![:space:]]*}"}
    case $t in
      ''|'#'*) line=; continue;;
      *'command="echo'*'Please login as'*) kind=stub;;
      *) kind=key;;
    esac
    echo "$f $owner $kind"
    line=
  done <"$f"
done
echo "### key_ids"
[ $# -gt 0 ] && stat -c '%u %Y %n' "$@"
echo "### login"
echo "uid=$login_uid"
echo "user=$login_user"
echo "home=$login_home"
while read -r k v; do [ "$k" = btime ] && { echo "btime=$v"; break; }; done </proc/stat
exit 0
