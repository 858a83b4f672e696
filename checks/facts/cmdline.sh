vp_cat /proc/cmdline
