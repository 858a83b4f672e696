# The running kernel's build configuration for the options LISA's essential_kernel_modules case
# reads (CONFIG_WATCHDOG, CONFIG_CIFS), from /boot/config-$(uname -r) as LISA's KernelConfig
# does, else /proc/config.gz (one zcat).
r=
while IFS= read -r r; do break; done </proc/sys/kernel/osrelease
f=/boot/config-$r
if [ -r "$f" ]; then
  echo "source=$f"
  while IFS= read -r l; do
    case $l in CONFIG_WATCHDOG=*|CONFIG_CIFS=*|'# CONFIG_WATCHDOG '*|'# CONFIG_CIFS '*) echo "$l";; esac
  done <"$f"
elif [ -r /proc/config.gz ] && command -v zcat >/dev/null 2>&1; then
  echo "source=/proc/config.gz"
  zcat /proc/config.gz | while IFS= read -r l; do
    case $l in CONFIG_WATCHDOG=*|CONFIG_CIFS=*|'# CONFIG_WATCHDOG '*|'# CONFIG_CIFS '*) echo "$l";; esac
  done
else
  echo "source=none"
fi
exit 0
