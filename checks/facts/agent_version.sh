v=""
if command -v dpkg-query >/dev/null 2>&1; then
  out=$(dpkg-query -W -f='${Status} ${Version}\n' waagent walinuxagent 2>/dev/null)
  # awk '/ installed /{print $NF; exit}'
  while IFS= read -r l; do
    case $l in *' installed '*) set -f; set -- $l; set +f; eval "v=\${$#}"; break;; esac
  done <<EOF
$out
EOF
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ] && command -v rpm >/dev/null 2>&1; then
  out=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' WALinuxAgent python-azure-agent python3-azure-agent 2>/dev/null)
  # grep -v 'not installed' | head -n1
  while IFS= read -r l; do
    case $l in *'not installed'*) ;; *) v=$l; break;; esac
  done <<EOF
$out
EOF
  [ -n "$v" ] && echo "package=$v"
fi
if [ -z "$v" ]; then
  for w in /usr/sbin/waagent /usr/bin/waagent /usr/local/sbin/waagent; do
    [ -x "$w" ] && { "$w" --version 2>&1 | vp_head 3; break; }
  done
fi
exit 0
