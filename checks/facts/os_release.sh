vp_cat /etc/os-release 2>/dev/null || vp_cat /usr/lib/os-release
