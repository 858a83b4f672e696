getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1 | vp_head 1
