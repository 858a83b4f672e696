getconf GNU_LIBC_VERSION 2>/dev/null; rpm -q --qf 'package=%{VERSION}-%{RELEASE}\n' glibc 2>/dev/null | vp_head 1; exit 0
