# The network configuration files the image ships, whole (300 lines of 500 bytes each at most),
# one "### path" section per file: what network_dhcp and LISA's per-distribution network file
# cases read (netplan, ifupdown, RHEL ifcfg and NetworkManager keyfiles, SUSE wicked ifcfg and
# dhcp, systemd-networkd, dhcpcd/dhclient).
set --
for f in /etc/netplan/*.yaml /etc/network/interfaces /etc/network/interfaces.d/* \
         /etc/sysconfig/network /etc/sysconfig/network-scripts/ifcfg-* \
         /etc/NetworkManager/system-connections/* /etc/sysconfig/network/ifcfg-* \
         /etc/sysconfig/network/dhcp /etc/systemd/network/*.network /etc/systemd/networkd.conf \
         /usr/lib/systemd/networkd.conf /etc/dhcpcd.conf /etc/dhcp/dhclient.conf; do
  [ -f "$f" ] && set -- "$@" "$f"
done
[ $# -gt 0 ] && awk 'BEGIN {
  for (i = 1; i < ARGC; i++) {
    f = ARGV[i]; n = 0
    print "### " f
    while ((getline l < f) > 0 && n++ < 300) print substr(l, 1, 500)
    close(f)
  }
}' "$@"
exit 0
