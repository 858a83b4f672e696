# The OMI version as LISA's omi_version case finds it: omiserver --version, else the package.
if [ -x /opt/omi/bin/omiserver ]; then
  /opt/omi/bin/omiserver --version 2>&1 | head -n 1
elif command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='${Status} ${Version}\n' omi 2>/dev/null | grep -q ' installed '; then
  echo "omi $(dpkg-query -W -f='${Version}' omi 2>/dev/null)"
elif command -v rpm >/dev/null 2>&1 && rpm -q omi >/dev/null 2>&1; then
  rpm -q omi
fi
exit 0
