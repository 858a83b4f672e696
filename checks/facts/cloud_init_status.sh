# cloud-init's own verdict on this boot, as LISA's cloud_init_error_status case reads it
# (`cloud-init status` and its exit code), and the [ERROR]/[WARNING] lines of its log.
# `cloud-init status` is a Python start (seconds under TCG) that reads these same files: once
# cloud-init is done (result.json written) the files are printed and parse() judges them as
# cloud-init's cmd/status.py does. Only while it still runs does `cloud-init status` also ask
# systemd whether a stage failed: then it is run.
r=/run/cloud-init
if ! command -v cloud-init >/dev/null 2>&1; then
  echo "absent"
elif [ -f "$r/status.json" ] && [ ! -f "$r/result.json" ]; then
  out=$(cloud-init status --long 2>&1); rc=$?
  echo "status_rc=$rc"
  printf '%s\n' "$out" | while IFS= read -r l; do
    case $l in status:*|extended_status:*|boot_status_code:*) echo "$l";; esac
  done
else
  echo "### boot"
  [ -e /etc/cloud/cloud-init.disabled ] && echo "marker_file"
  [ -e "$r/disabled" ] && echo "generator_disabled"
  [ -e "$r/enabled" ] && echo "generator_enabled"
  c=; read -r c </proc/cmdline; echo "cmdline=$c"
  echo "### status.json"
  [ -f "$r/status.json" ] && { vp_cat "$r/status.json"; echo; }
fi
echo "### log"
if [ -r /var/log/cloud-init.log ]; then
  n=0
  while IFS= read -r l; do
    case $l in *'[ERROR]:'*|*'[WARNING]:'*) n=$((n + 1)); [ "$n" -le 200 ] && printf '%s\n' "$l";; esac
  done </var/log/cloud-init.log
fi
exit 0
