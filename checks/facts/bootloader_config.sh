# grep -E '^[[:space:]]*(linux|...)\b' | cut -c1-2000 for each file, one awk for all files (awk has
# no \b: ([^A-Za-z0-9_]|$) is the same after a keyword; explicit blanks, as old mawk lacks
# [[:space:]]). Every file gets its "### path" line, even when nothing matches.
set --
for f in /etc/default/grub /etc/default/grub.d/*.cfg /boot/grub/grub.cfg /boot/grub2/grub.cfg \
         /boot/grub2/grubenv /boot/grub/menu.lst /boot/efi/EFI/*/grub.cfg \
         /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/loader/entries/*.conf \
         /boot/efi/loader/entries/*.conf /efi/loader/entries/*.conf /boot/loader/loader.conf \
         /boot/efi/loader/loader.conf /efi/loader/loader.conf; do
  [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && awk 'BEGIN {
  re = "^[ \t\r\f\v]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|GRUB_CMDLINE_LINUX[A-Z_]*|set[ \t\r\f\v]+kernelopts)([^A-Za-z0-9_]|$)"
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]
    print "### " f
    # loader.conf: only its default line (which entry systemd-boot starts)
    r = f ~ /\/loader\.conf$/ ? "^[ \t\r\f\v]*default[ \t]" : re
    while ((getline l < f) > 0) if (l ~ r) print substr(l, 1, 2000)
    close(f)
  }
}' "$@"
# Which loader started this boot: systemd-boot sets the volatile LoaderInfo variable on every boot
# (systemd's Boot Loader Interface); GRUB and a BIOS boot set none. An efivarfs value is 4
# attribute bytes then a NUL-terminated UTF-16LE string: ASCII once the NULs are dropped.
echo "### @boot"
set -- /sys/firmware/efi/efivars/*
if [ -e "$1" ]; then
  echo "efi=1"
  for v in LoaderInfo LoaderEntrySelected; do
    f=/sys/firmware/efi/efivars/$v-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
    # read through a pipe: efivarfs sizes its files oddly, and tail seeking into one read nothing
    # shellcheck disable=SC2002
    [ -f "$f" ] && printf '%s=%s\n' "$v" "$(cat "$f" | tail -c +5 | tr -d '\000')"
  done
elif [ ! -d /sys/firmware/efi ]; then echo "efi=0"
fi
exit 0
