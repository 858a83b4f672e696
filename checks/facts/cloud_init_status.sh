# cloud-init's own verdict on this boot (status and exit code, as LISA's
# cloud_init_error_status case reads it) and the [ERROR]/[WARNING] lines of its log.
if command -v cloud-init >/dev/null 2>&1; then
  out=$(cloud-init status --long 2>&1); rc=$?
  echo "status_rc=$rc"
  printf '%s\n' "$out" | while IFS= read -r l; do
    case $l in status:*|extended_status:*|boot_status_code:*) echo "$l";; esac
  done
else
  echo "absent"
fi
echo "### log"
if [ -r /var/log/cloud-init.log ]; then
  n=0
  while IFS= read -r l; do
    case $l in *'[ERROR]:'*|*'[WARNING]:'*) n=$((n + 1)); [ "$n" -le 200 ] && printf '%s\n' "$l";; esac
  done </var/log/cloud-init.log
fi
exit 0
