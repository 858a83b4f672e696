# One dmesg and one awk for both sections (were: dmesg | grep -E ... | head -n 5 and
# dmesg | grep -iE ... | head -n 400)
echo "### console"
dmesg 2>/dev/null | awk '
  /console \[(ttyS[0-9]|ttyAMA[0-9])\] enabled/ { if (c < 5) { print; c++ } }
  tolower($0) ~ /fail|error|warn|call trace|bug:|panic/ { if (n < 400) p[++n] = $0 }
  END { print "### problems"; for (i = 1; i <= n; i++) print p[i] }'
exit 0
