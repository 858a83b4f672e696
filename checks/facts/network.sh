echo "### default_route"
ip -4 route show default 2>/dev/null
echo "### addresses"
ip -o -4 addr show 2>/dev/null
echo "### persistent_rules"
vp_ls /etc/udev/rules.d/70-persistent-net.rules /etc/udev/rules.d/75-persistent-net-generator.rules
echo "### config_files"
vp_ls /etc/NetworkManager/system-connections/* /etc/netplan/*.yaml /etc/network/interfaces \
      /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network/ifcfg-* /etc/systemd/network/*.network
exit 0
