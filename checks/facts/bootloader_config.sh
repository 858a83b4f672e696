# grep -E '^[[:space:]]*(linux|...)\b' | cut -c1-2000 for each file, one awk for all files (awk has
# no \b: ([^A-Za-z0-9_]|$) is the same after a keyword; explicit blanks, as old mawk lacks
# [[:space:]]). Every file gets its "### path" line, even when nothing matches.
set --
for f in /etc/default/grub /etc/default/grub.d/*.cfg /boot/grub/grub.cfg /boot/grub2/grub.cfg \
         /boot/grub2/grubenv /boot/grub/menu.lst /boot/efi/EFI/*/grub.cfg \
         /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/loader/entries/*.conf; do
  [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && awk 'BEGIN {
  re = "^[ \t\r\f\v]*(linux|linuxefi|kernel|append|APPEND|options|kernelopts|GRUB_CMDLINE_LINUX[A-Z_]*|set[ \t\r\f\v]+kernelopts)([^A-Za-z0-9_]|$)"
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]
    print "### " f
    while ((getline l < f) > 0) if (l ~ re) print substr(l, 1, 2000)
    close(f)
  }
}' "$@"
exit 0
