# grep -iE 'fail|error|warn' | head -n 400 (journal) or | tail -n 400 (file), as one awk
if [ -f /var/log/syslog ]; then src=/var/log/syslog; elif [ -f /var/log/messages ]; then src=/var/log/messages; else src=journal; fi
echo "source=$src"
if [ "$src" = journal ]; then
  keep='tolower($0) ~ /fail|error|warn/ { print; if (++n >= 400) exit }'
  # --grep: journalctl formats only the matching entries (a lower-case pattern matches without
  # regard to case); awk still filters lines and keeps the first 400. A journalctl without
  # pattern matching says so on stderr: then filter everything it prints.
  exec 3>&1
  err=$({ journalctl -b --no-pager -q -o short-monotonic --grep='fail|error|warn' | awk "$keep"; } 2>&1 >&3)
  if [ -n "$err" ]; then
    # a boot's journal is never empty: nothing at all means it could not be read, which must not
    # read as a clean log (an error line, with journalctl's first complaint)
    err=$({ journalctl -b --no-pager -q -o short-monotonic |
      awk "$keep"' END { if (!NR) print "journal-read=nothing" }'; } 2>&1 >&3)
    nl='
'
    [ -n "$err" ] && printf 'journal-stderr=%s\n' "${err%%"$nl"*}"
  fi
  exec 3>&-
else
  awk 'tolower($0) ~ /fail|error|warn/ { b[n++ % 400] = $0 }
    END { for (i = (n > 400 ? n - 400 : 0); i < n; i++) print b[i % 400] }' "$src"
fi
exit 0
