# The firmware's identity of the machine (SMBIOS/DMI): the hypervisor's vendor and product and the
# chassis asset tag, which Azure sets to 7783-7084-3265-9085-8269-3286-77 (cloud-init's ds-identify
# recognises Azure by it). Builtins only: no exec.
for f in sys_vendor product_name chassis_asset_tag; do
  v=
  if [ -r "/sys/class/dmi/id/$f" ]; then IFS= read -r v <"/sys/class/dmi/id/$f" || true; fi
  printf '%s=%s\n' "$f" "$v"
done
exit 0
