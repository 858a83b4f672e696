# lsinitramfs (a shell script that test-decompresses the whole image before listing it, and reads
# an uncompressed early archive with two processes per header field) is replaced by the same
# listing done directly: the magic bytes choose the decompressor, piped into cpio and stopped as
# soon as hv_vmbus and hv_storvsc were seen (stdbuf makes cpio write each name at once, so the
# early exit reaches it). Uncompressed archives in front (CPU microcode) are listed first, as
# lsinitramfs does; each ends with its TRAILER!!! entry (found by its header), then zero padding.
# Anything unexpected (unknown magic, missing tool, nothing listed) falls back to lsinitramfs.
rel=
{ IFS= read -r rel </proc/sys/kernel/osrelease; } 2>/dev/null || rel=$(uname -r)
echo "release=$rel"
echo "### builtin"
if [ -f "/lib/modules/$rel/modules.builtin" ] && [ -r "/lib/modules/$rel/modules.builtin" ]; then
  l=
  while IFS= read -r l || [ -n "$l" ]; do
    case $l in */hv_vmbus.ko*|*/hv_storvsc.ko*|*/hv_netvsc.ko*) printf '%s\n' "$l";; esac
    l=
  done <"/lib/modules/$rel/modules.builtin"
fi
echo "### initramfs"
# print the hv_* entries and stop listing (SIGPIPE) once vmbus and storvsc were both seen
pick='/hv_(vmbus|storvsc|netvsc)\.ko/ {print} /hv_vmbus\.ko/ {a=1} /hv_storvsc\.ko/ {b=1} a && b {exit}'
vp_next() {  # IMAGE OFFSET: "AT HEX" for the first non-zero byte at or after OFFSET and the up
  # to 6 bytes from AT (the magic of the archive there); "eof" when only zeros follow; nothing
  # when that is unknown (64 KiB of zeros, od failed)
  od -Ad -tx1 -j "$2" -N 65536 "$1" | (
    at=; mg=; n=0; end=
    while read -r a bytes; do
      [ "$a" = '*' ] && continue
      a=${a#"${a%%[!0]*}"}; end=${a:-0}; i=0
      for b in $bytes; do
        if [ -n "$at" ]; then mg=$mg$b; n=$((n + 1))
        elif [ "$b" != 00 ]; then at=$((end + i)); mg=$b; n=1; fi
        [ "$n" -ge 6 ] && break 2
        i=$((i + 1))
      done
    done
    if [ -n "$at" ]; then echo "$at $mg"
    elif [ -n "$end" ] && [ "$end" -lt $(($2 + 65536)) ]; then echo eof; fi
  )
}
vp_list() {  # IMAGE: list it like `lsinitramfs IMAGE | awk "$pick"`; status 1 = cannot, use that
  vp_img=$1; vp_off=0; vp_early=; vp_dec=; vp_k=0
  vp_lst="cpio -i --preserve-modification-time --no-absolute-filenames --quiet --list"
  command -v stdbuf >/dev/null 2>&1 && vp_lst="stdbuf -oL $vp_lst"
  # a newc header (magic, 11 fields, namesize 11, check) naming TRAILER!!!
  vp_trailer='07070[12][0-9A-Fa-f]{88}0000000[Bb][0-9A-Fa-f]{8}TRAILER!!!'
  while vp_n=$(vp_next "$vp_img" "$vp_off"); do
    case $vp_n in '') return 1;; eof) break;; esac
    vp_off=${vp_n%% *}
    case ${vp_n#* } in
      30373037303[12]*)  # uncompressed newc archive: it ends with the 124 bytes of its trailer entry
        vp_k=$((vp_k + 1)); [ "$vp_k" -le 8 ] || return 1
        vp_early="$vp_early $vp_off"
        if [ "$vp_off" -eq 0 ]; then vp_t=$(grep -obUaE -m1 "$vp_trailer" "$vp_img")
        else vp_t=$(tail -c +$((vp_off + 1)) "$vp_img" | grep -obUaE -m1 "$vp_trailer"); fi || return 1
        vp_off=$((vp_off + ${vp_t%%:*} + 124)); continue;;
      1f8b*) vp_dec="gzip -dc";;
      28b52ffd*) vp_dec="zstd -q -dc";;
      fd377a585a00) vp_dec="xz -dc";;
      02214c18*|04224d18*) vp_dec="lz4 -dc";;
      425a68*) vp_dec="bzip2 -dc";;
      894c5a4f*) vp_dec="lzop -dc";;
      5d0000*) vp_dec="xz -dc --format=lzma";;
      *) return 1;;
    esac
    command -v "${vp_dec%% *}" >/dev/null 2>&1 || return 1
    break
  done
  [ -n "$vp_early$vp_dec" ] || return 1
  {
    for vp_o in $vp_early; do
      if [ "$vp_o" -eq 0 ]; then $vp_lst <"$vp_img"; else tail -c +$((vp_o + 1)) "$vp_img" | $vp_lst; fi
    done
    if [ -n "$vp_dec" ]; then
      printf '\001\n'  # the compressed archive follows: it must list something
      if [ "$vp_off" -eq 0 ]; then $vp_dec "$vp_img"; else tail -c +$((vp_off + 1)) "$vp_img" | $vp_dec; fi | $vp_lst
    fi
  } | awk '$0 == "\001" { s = 1; next } s { n++ } '"$pick"' END { if (s ? !n : !NR) exit 3 }'
}
if command -v lsinitramfs >/dev/null 2>&1 && [ -f "/boot/initrd.img-$rel" ]; then
  echo "image=/boot/initrd.img-$rel"
  vp_list "/boot/initrd.img-$rel" 2>/dev/null || lsinitramfs "/boot/initrd.img-$rel" 2>/dev/null | awk "$pick"
else
  # dracut's image (RHEL, SUSE, Azure Linux; where lsinitrd --kver looks) is listed directly as
  # well: lsinitrd decompresses and long-lists the whole archive, seconds under TCG. lsinitrd
  # only for what vp_list cannot read.
  img=
  for f in "/boot/initramfs-$rel.img" "/boot/initrd-$rel" "/lib/modules/$rel/initrd"; do
    if [ -f "$f" ]; then img=$f; break; fi
  done
  if [ -n "$img" ] && out=$(vp_list "$img" 2>/dev/null); then
    echo "image=$img"
    [ -z "$out" ] || printf '%s\n' "$out"
  elif command -v lsinitrd >/dev/null 2>&1; then
    echo "image=lsinitrd"
    lsinitrd --kver "$rel" 2>/dev/null | awk "$pick"
  else
    echo "image=none"
  fi
fi
exit 0
