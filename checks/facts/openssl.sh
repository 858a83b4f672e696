openssl version 2>&1 || echo absent
