for p in python3 python python2; do command -v $p >/dev/null 2>&1 && { $p -V 2>&1; exit 0; }; done; echo absent
