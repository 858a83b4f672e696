"""The instance metadata service (169.254.169.254:80), as the agents call it.

The instance document is a JSON tree (reference §6.2) walked by path: ``/metadata/instance``
returns it all, ``/metadata/instance/compute/osProfile`` a subtree, and ``format=text`` a leaf's
bare value. Like Azure's, it refuses requests without the ``Metadata: true`` header and instance
requests without an ``api-version`` (400); any ``api-version`` value is accepted.

What the agents rely on: ``osProfile`` (user, host name, password login disabled — as strings,
which cloud-init compares literally), ``publicKeys`` (cloud-init then ignores the OVF keys),
``network.interface[].macAddress`` equal to the real NIC's MAC (cloud-init writes its network
configuration for that MAC; a wrong one leaves the VM without network after the first boot),
``extended.compute.ppsType`` ``None`` (no pre-provisioning flows) and an empty ``userData``
(Ignition retries a 404 forever). ``publisher``/``offer``/``sku``/``version`` keep waagent from
logging that it cannot tell the image's origin.
"""

from __future__ import annotations

import base64

from harness.azure_emulator.dhcp import GUEST_ADDRESS, GUEST_NETWORK
from harness.azure_emulator.exchange import GuestRequest, Handled, Response
from harness.azure_emulator.identity import Identity
from harness.azure_emulator.timeline import Step

API_VERSIONS = ["2017-08-01", "2018-02-01", "2019-06-01", "2021-01-01", "2021-08-01", "2023-07-01"]
JsonTree = dict[str, "JsonNode"]
JsonNode = str | bool | int | list["JsonNode"] | dict[str, "JsonNode"]

_NO_HEADER = {"error": "Bad request. Required metadata header not specified"}
_NO_VERSION = {
    "error": "Bad request. api-version was not specified in the request",
    "newest-versions": API_VERSIONS[::-1][:3],
}
_NOT_FOUND = {"error": "Not found"}


def instance_metadata(identity: Identity, custom_data: bytes | None = None) -> JsonTree:
    """The ``/metadata/instance`` document for ``identity``."""
    image = {"publisher": "vmcert", "offer": "candidate", "sku": "local", "version": "1.0.0"}
    compute: JsonTree = {
        "azEnvironment": "AzurePublicCloud",
        "location": "eastus",
        "name": identity.hostname,
        "osType": "Linux",
        "vmId": str(identity.vm_uuid),
        "vmSize": "Standard_D2s_v5",
        "subscriptionId": str(identity.subscription_id),
        "resourceGroupName": "vmcert",
        "resourceId": (
            f"/subscriptions/{identity.subscription_id}/resourceGroups/vmcert"
            f"/providers/Microsoft.Compute/virtualMachines/{identity.hostname}"
        ),
        "provider": "Microsoft.Compute",
        "platformFaultDomain": "0",
        "platformUpdateDomain": "0",
        "zone": "",
        "tags": "",
        "vmScaleSetName": "",
        **image,
        "storageProfile": {"imageReference": {**image, "id": ""}},
        "securityProfile": {"secureBootEnabled": "false", "virtualTpmEnabled": "false"},
        "osProfile": {
            "adminUsername": identity.username,
            "computerName": identity.hostname,
            "disablePasswordAuthentication": "true",
        },
        "publicKeys": [{"keyData": identity.public_key, "path": identity.authorized_keys_path}],
        "userData": base64.b64encode(custom_data).decode("ascii") if custom_data else "",
    }
    interface: JsonTree = {
        "macAddress": identity.mac_hex,
        "ipv4": {
            "ipAddress": [{"privateIpAddress": str(GUEST_ADDRESS), "publicIpAddress": ""}],
            "subnet": [
                {
                    "address": str(GUEST_NETWORK.network_address),
                    "prefix": str(GUEST_NETWORK.prefixlen),
                }
            ],
        },
        "ipv6": {"ipAddress": []},
    }
    return {
        "compute": compute,
        "network": {"interface": [interface]},
        "extended": {"compute": {"ppsType": "None", "hasCustomData": bool(custom_data)}},
    }


def _walk(tree: JsonNode, parts: list[str]) -> JsonNode | None:
    node = tree
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _as_text(node: JsonNode) -> str:
    """``format=text``: a leaf's value; a subtree's keys (or indexes), one per line."""
    if isinstance(node, dict):
        return "\n".join(node)
    if isinstance(node, list):
        return "\n".join(str(index) for index in range(len(node)))
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


class Imds:
    """Answers instance metadata requests for one identity."""

    name = "imds"

    def __init__(self, identity: Identity, custom_data: bytes | None = None) -> None:
        self.identity = identity
        self.document = instance_metadata(identity, custom_data)

    def handle(self, request: GuestRequest) -> Handled:
        path = request.path.rstrip("/") or "/"
        query = request.query
        if request.method not in ("GET", "HEAD"):
            return Handled(Response.json(_NOT_FOUND, 405), Step.IMDS, path)
        if request.header("Metadata").lower() != "true":
            return Handled(Response.json(_NO_HEADER, 400), Step.IMDS, f"{path} (no header)")
        if path == "/metadata/versions":
            return Handled(Response.json({"apiVersions": API_VERSIONS}), Step.IMDS, path)
        parts = [part for part in path.split("/") if part]
        if parts[:2] != ["metadata", "instance"]:
            return Handled(Response.json(_NOT_FOUND, 404), Step.IMDS, path)
        if not query.get("api-version"):
            return Handled(Response.json(_NO_VERSION, 400), Step.IMDS, f"{path} (no api-version)")
        node = _walk(self.document, parts[2:])
        if node is None:
            return Handled(Response.json(_NOT_FOUND, 404), Step.IMDS, path)
        if query.get("format") == "text":
            return Handled(Response.text(_as_text(node)), Step.IMDS, path)
        return Handled(Response.json(node), Step.IMDS, path)
