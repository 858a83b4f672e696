# grep -E '^[[:space:]]*#?[[:space:]]*(AutoUpdate\.Enabled|...|ResourceDisk\.[A-Za-z]+|...)[[:space:]]*='
# over waagent.conf and grep -HEs '^[[:space:]]*(swap|mounts|...)[[:space:]]*:' over the
# cloud-init files, in the shell
vp_ltrim() { vp_t=${1#"${1%%[![:space:]]*}"}; }
if [ -f /etc/waagent.conf ]; then
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    vp_ltrim "$l"; vp_ltrim "${vp_t#\#}"; k=$vp_t; r=
    case $k in
      AutoUpdate.Enabled*) r=${k#AutoUpdate.Enabled};;
      AutoUpdate.UpdateToLatestVersion*) r=${k#AutoUpdate.UpdateToLatestVersion};;
      Extensions.Enabled*) r=${k#Extensions.Enabled};;
      Provisioning.Agent*) r=${k#Provisioning.Agent};;
      Provisioning.Enabled*) r=${k#Provisioning.Enabled};;
      Provisioning.UseCloudInit*) r=${k#Provisioning.UseCloudInit};;
      ResourceDisk.[A-Za-z]*) k=${k#ResourceDisk.}; r=${k#"${k%%[!A-Za-z]*}"};;
      *) l=; continue;;
    esac
    vp_ltrim "$r"
    case $vp_t in =*) printf '%s\n' "$l";; esac
    l=
  done </etc/waagent.conf
else
  echo "absent"
fi
echo "### cloud_init"
if [ -d /etc/cloud ]; then
  for f in /etc/cloud/cloud.cfg /etc/cloud/cloud.cfg.d/*.cfg; do
    [ -f "$f" ] && [ -r "$f" ] || continue
    l=
    while IFS= read -r l || [ -n "$l" ]; do
      vp_ltrim "$l"; k=$vp_t
      case $k in
        swap*) r=${k#swap};; mounts*) r=${k#mounts};; disk_setup*) r=${k#disk_setup};;
        fs_setup*) r=${k#fs_setup};; filename*) r=${k#filename};; size*) r=${k#size};;
        *) l=; continue;;
      esac
      vp_ltrim "$r"
      case $vp_t in :*) printf '%s:%s\n' "$f" "$l";; esac
      l=
    done <"$f"
  done
  echo "cloud_init_present=yes"
fi
exit 0
