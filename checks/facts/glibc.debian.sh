getconf GNU_LIBC_VERSION 2>/dev/null; dpkg-query -W -f='package=${Version}\n' libc6 2>/dev/null; exit 0
