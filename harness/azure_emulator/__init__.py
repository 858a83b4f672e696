"""A local stand-in for Azure's provisioning platform, for QEMU boots.

Azure provisions a Linux VM through provisioning media (``ovf-env.xml`` on a UDF CD), the
WireServer at 168.63.129.16 (goal state, health reports), the HostGAPlugin on its port 32526 and
the instance metadata service (IMDS) at 169.254.169.254; the guest's agent (cloud-init or
waagent) reports ``Ready`` when it is done. This package reproduces that contract on the host:

* :mod:`.identity` — the per-run VM identity and the SMBIOS/CPU arguments Azure guests detect;
* :mod:`.media` — ``ovf-env.xml`` and the provisioning CD;
* :mod:`.wireserver`, :mod:`.hostgaplugin`, :mod:`.imds` — the three HTTP endpoints (pure
  request → response functions);
* :mod:`.health` — parsing the agents' health reports and status blobs (untrusted input);
* :mod:`.requestlog`, :mod:`.timeline` — what the guest asked for, as JSON lines and as a typed
  provisioning timeline;
* :mod:`.dhcp`, :mod:`.redirector`, :mod:`.relay` — how the guest reaches those addresses
  through QEMU user-mode networking, with DHCP options 245 and 121 as on Azure;
* :mod:`.trayevents` — the CD eject the agents perform, seen through QMP;
* :mod:`.diagnosis` — what a timeline means, in words a publisher can act on;
* :mod:`.server` — :class:`~.server.Emulator`, which runs all of it for one boot.

Reference: ``azure-provisioning-local.md`` (its §14 records the run that proved this contract
with real cloud-init and waagent guests).
"""
