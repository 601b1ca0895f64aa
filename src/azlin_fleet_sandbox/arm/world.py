"""The Azure world the local endpoint serves: subscriptions, VMs, NICs and public IPs as ARM JSON.

Pure: everything here is derived from its arguments (ids are uuid5 of fixed names), so the same hosts always give
the same world. Shapes follow the official ARM examples in `shared/azure-examples/` (VirtualMachines_ListAll,
NetworkInterfaces_ListAll, PublicIPAddresses_ListAll, Subscriptions_List) for a Linux VM.

World built from sandbox hosts (`world_from_hosts`):
- one VM per host (name = host name, adminUsername = host user, tags: `azlin-pool`/`pool`/`azlin-session` = the
  host's 1st/2nd/3rd pool, plus the host's tags, plus `sandbox-ssh-port` when sshd is not on 22), running, one NIC
  whose primary private IP is the host address, one public IP from 203.0.113.0/24 (documentation range, never
  contacted). Host i lives in subscription i % S, resource group `rg-<first pool>`; zones rotate 1, 2, 3, none.
- quirks real ARM has, placed on the hosts so they stay reachable:
  the first host carries the hostile tag `note: {{ lookup('pipe','touch /tmp/x') }}`; the second host has a second,
  non-primary NIC (10.99.0.x, listed first in its networkProfile); the last host has no public IP; every host in an
  odd subscription spells its resource group in upper case in its own VM id, and its NIC refers to the public IP
  with yet another case (joins by id must be case-insensitive).
- extra VMs (never reachable, so never running): `deallocated-1` (deallocated), `stopped-1` (stopped, with the
  hostile tag too), and a second VM named like the first host in another subscription and resource group
  (deallocated). Plus an unattached NIC and a public IP bound to a load balancer, as in the official examples.
Scale sets (`ScaleSetDef`): a Uniform scale set's instances are VMs named `<scale set>_<instance id>` listed only by
the scale set's own lists (`virtualMachineScaleSets/{name}/virtualMachines`, `/networkInterfaces`,
`/publicipaddresses`), with ids scoped to the scale set; a Flexible scale set's members are ordinary VMs that refer
to it (`properties.virtualMachineScaleSet`). `make_scale_set` turns sandbox host VMs into either (admin API); each
VM keeps the name of the sandbox host behind it (`host`), for power hooks and metrics.
Synthetic scale mode (`synthetic_vms`, no noise resources): N running VMs `vm-00001`.. round robin over the
subscriptions, 8 resource groups each, pools `bench-0`..`bench-9`, one NIC and one public IP (198.18.0.0/15, the
benchmarking range).
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

_NS = uuid.UUID("6f1e1c2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
POOL_TAG_KEYS = ("azlin-pool", "pool", "azlin-session")
HOSTILE_TAG_VALUE = "{{ lookup('pipe','touch /tmp/x') }}"
LOCATIONS = ("eastus", "westeurope")
CREATED = "2026-01-15T09:30:00.0000000+00:00"
PowerState = Literal["running", "deallocated", "stopped", "starting", "stopping", "deallocating"]
POWER_DISPLAY = {
    "running": "VM running",
    "deallocated": "VM deallocated",
    "stopped": "VM stopped",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "deallocating": "VM deallocating",
}
ListKind = Literal[
    "vms", "vms_status", "nics", "public_ips", "scale_sets", "vmss_vms", "vmss_vms_view", "vmss_nics", "vmss_public_ips"
]
_SUB_KINDS: tuple[ListKind, ...] = ("vms", "vms_status", "nics", "public_ips", "scale_sets")


def stable_uuid(name: str) -> str:
    """A uuid that is the same for the same name on every run."""
    return str(uuid.uuid5(_NS, name))


TENANT_ID = stable_uuid("tenant")
CLIENT_ID = stable_uuid("client")


def subscription_ids(count: int) -> list[str]:
    """The ids of the first `count` sandbox subscriptions."""
    return [stable_uuid(f"subscription-{i}") for i in range(count)]


@dataclass(frozen=True, slots=True)
class HostRecord:
    """The parts of a sandbox HostSpec the world needs (plain data, so this module does not import the sandbox)."""

    name: str
    address: str
    port: int = 22
    pools: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    cpus: int = 2
    user: str = "root"


def host_record(host: Any) -> HostRecord:
    """Read a HostSpec-like object (or dict) into a HostRecord."""
    get = host.get if isinstance(host, dict) else (lambda key, default=None: getattr(host, key, default))
    tags = get("tags") or {}
    if isinstance(tags, dict):
        tags = tuple(sorted((str(k), str(v)) for k, v in tags.items()))
    else:  # sequence of "k=v" strings or pairs
        tags = tuple(tuple(t.split("=", 1)) if isinstance(t, str) else (str(t[0]), str(t[1])) for t in tags)
    return HostRecord(
        name=str(get("name")),
        address=str(get("address")),
        port=int(get("port") or 22),
        pools=tuple(str(p) for p in (get("pools") or ())),
        tags=tags,  # type: ignore[arg-type]
        cpus=int(get("cpus") or 2),
        user=str(get("user") or get("ssh_user") or "root"),
    )


@dataclass(frozen=True, slots=True)
class NicDef:
    name: str
    private_ip: str
    public_ip: str | None  # the allocated address, None = no public IP on this NIC
    primary: bool = True


@dataclass(frozen=True, slots=True)
class VmDef:
    subscription: str
    resource_group: str
    name: str
    location: str
    power_state: str
    tags: tuple[tuple[str, str], ...]
    admin_user: str
    nics: tuple[NicDef, ...]
    zones: tuple[str, ...] = ()
    vm_size: str = "Standard_D2s_v5"
    rg_case: Literal["lower", "upper"] = "lower"  # how the VM's own id spells its resource group
    ref_case: Literal["lower", "title"] = "lower"  # how its NIC spells the public IP's resource group
    host: str | None = None  # the sandbox host this VM stands for (power hooks, metrics)
    scale_set: str | None = None  # name of its scale set (same subscription and resource group)
    instance_id: str | None = None  # set for Uniform instances only


@dataclass(frozen=True, slots=True)
class ScaleSetDef:
    subscription: str
    resource_group: str
    name: str
    location: str
    orchestration: Literal["Uniform", "Flexible"]
    tags: tuple[tuple[str, str], ...] = ()
    admin_user: str = "root"
    vm_size: str = "Standard_D2s_v5"
    public_ips: bool = True  # whether instances get a public IP (publicIPAddressConfiguration in the model)


def _rg(rg: str, case: str) -> str:
    return {"upper": rg.upper(), "title": rg.title()}.get(case, rg)


def _rid(sub: str, rg: str, provider: str, kind: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{kind}/{name}"


def scale_set_id(sub: str, rg: str, name: str) -> str:
    return _rid(sub, rg, "Microsoft.Compute", "virtualMachineScaleSets", name)


def is_uniform_instance(vm: VmDef) -> bool:
    return vm.scale_set is not None and vm.instance_id is not None


def vm_id(vm: VmDef) -> str:
    if is_uniform_instance(vm):
        return f"{scale_set_id(vm.subscription, vm.resource_group, vm.scale_set)}/virtualMachines/{vm.instance_id}"  # type: ignore[arg-type]
    return _rid(vm.subscription, _rg(vm.resource_group, vm.rg_case), "Microsoft.Compute", "virtualMachines", vm.name)


def nic_id(vm: VmDef, nic: NicDef) -> str:
    if is_uniform_instance(vm):
        return f"{vm_id(vm)}/networkInterfaces/{nic.name}"
    return _rid(vm.subscription, vm.resource_group, "Microsoft.Network", "networkInterfaces", nic.name)


def pip_name(nic: NicDef) -> str:
    return f"{nic.name.removesuffix('-nic')}-ip"


def pip_id(vm: VmDef, nic: NicDef, case: str = "lower") -> str:
    if is_uniform_instance(vm):
        return f"{nic_id(vm, nic)}/ipConfigurations/ipconfig1/publicIPAddresses/{pip_name(nic)}"
    return _rid(vm.subscription, _rg(vm.resource_group, case), "Microsoft.Network", "publicIPAddresses", pip_name(nic))


def _computer_name(vm: VmDef) -> str:
    # Uniform instances are named <prefix><6-digit instance number> inside the guest.
    if is_uniform_instance(vm):
        return f"{vm.scale_set}{int(vm.instance_id or 0):06d}"
    return vm.name


def vm_json(vm: VmDef) -> dict[str, Any]:
    """The VM as VirtualMachines_ListAll returns it (full model, no instance view)."""
    uid = stable_uuid(f"vm/{vm.subscription}/{vm.resource_group}/{vm.name}")
    home = "/root" if vm.admin_user == "root" else f"/home/{vm.admin_user}"
    body: dict[str, Any] = {
        "name": vm.name,
        "id": vm_id(vm),
        "type": "Microsoft.Compute/virtualMachines",
        "location": vm.location,
        "tags": dict(vm.tags),
    }
    if vm.zones:
        body["zones"] = list(vm.zones)
    if is_uniform_instance(vm):
        # VirtualMachineScaleSetVMs_List items: instanceId and sku at the top, the size in sku only.
        body["instanceId"] = vm.instance_id
        body["sku"] = {"name": vm.vm_size, "tier": "Standard"}
    body["properties"] = {
        "vmId": uid,
        "hardwareProfile": {} if is_uniform_instance(vm) else {"vmSize": vm.vm_size},
        "storageProfile": {
            "imageReference": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
                "exactVersion": "24.04.202601090",
            },
            "osDisk": {
                "osType": "Linux",
                "name": f"{vm.name}_OsDisk_1_{uid.replace('-', '')}",
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {
                    "storageAccountType": "Premium_LRS",
                    "id": _rid(
                        vm.subscription,
                        vm.resource_group.upper(),
                        "Microsoft.Compute",
                        "disks",
                        f"{vm.name}_OsDisk_1_{uid.replace('-', '')}",
                    ),
                },
                "deleteOption": "Delete",
                "diskSizeGB": 30,
            },
            "dataDisks": [],
        },
        "osProfile": {
            "computerName": _computer_name(vm),
            "adminUsername": vm.admin_user,
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {
                    "publicKeys": [
                        {
                            "path": f"{home}/.ssh/authorized_keys",
                            "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzlinFleetSandboxKey sandbox",
                        }
                    ]
                },
                "provisionVMAgent": True,
                "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
            },
            "secrets": [],
            "allowExtensionOperations": True,
            "requireGuestProvisionSignal": True,
        },
        "networkProfile": {
            "networkInterfaces": [
                {"id": nic_id(vm, nic), "properties": {"primary": nic.primary, "deleteOption": "Delete"}}
                for nic in vm.nics
            ]
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        "provisioningState": "Succeeded",
        "timeCreated": CREATED,
    }
    if is_uniform_instance(vm):
        body["properties"] = {"latestModelApplied": True, "modelDefinitionApplied": "VirtualMachineScaleSet"} | body[
            "properties"
        ]
    elif vm.scale_set is not None:
        body["properties"]["virtualMachineScaleSet"] = {
            "id": scale_set_id(vm.subscription, vm.resource_group, vm.scale_set)
        }
    return body


def scale_set_json(scale_set: ScaleSetDef, capacity: int) -> dict[str, Any]:
    """The scale set as VirtualMachineScaleSets_ListAll returns it."""
    ss = scale_set
    rg = ss.resource_group
    ipconfig: dict[str, Any] = {
        "name": "ipconfig1",
        "properties": {
            "primary": True,
            "subnet": {
                "id": f"/subscriptions/{ss.subscription}/resourceGroups/{rg}/providers/Microsoft.Network/"
                f"virtualNetworks/{rg}-vnet/subnets/default"
            },
            "privateIPAddressVersion": "IPv4",
        },
    }
    if ss.public_ips:
        ipconfig["properties"]["publicIPAddressConfiguration"] = {
            "name": "pub",
            "properties": {"idleTimeoutInMinutes": 15, "publicIPAddressVersion": "IPv4"},
        }
    profile = {
        "osProfile": {
            "computerNamePrefix": ss.name,
            "adminUsername": ss.admin_user,
            "linuxConfiguration": {"disablePasswordAuthentication": True, "provisionVMAgent": True},
        },
        "storageProfile": {
            "osDisk": {"createOption": "FromImage", "caching": "ReadWrite", "osType": "Linux"},
            "imageReference": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
            },
        },
        "networkProfile": {
            "networkInterfaceConfigurations": [
                {
                    "name": f"{ss.name}-nic",
                    "properties": {
                        "primary": True,
                        "enableAcceleratedNetworking": True,
                        "ipConfigurations": [ipconfig],
                    },
                }
            ]
        },
    }
    props: dict[str, Any] = {
        "singlePlacementGroup": False,
        "orchestrationMode": ss.orchestration,
        "virtualMachineProfile": profile,
        "provisioningState": "Succeeded",
        "uniqueId": stable_uuid(f"vmss/{ss.subscription}/{rg}/{ss.name}"),
        "timeCreated": CREATED,
    }
    if ss.orchestration == "Uniform":
        props |= {"upgradePolicy": {"mode": "Manual"}, "overprovision": False}
    else:
        props["platformFaultDomainCount"] = 1
    return {
        "name": ss.name,
        "id": scale_set_id(ss.subscription, rg, ss.name),
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": ss.location,
        "tags": dict(ss.tags),
        "sku": {"name": ss.vm_size, "tier": "Standard", "capacity": capacity},
        "properties": props,
    }


def instance_view_json(vm: VmDef) -> dict[str, Any]:
    """The run-time status block: `statuses` holds `ProvisioningState/succeeded` and `PowerState/<state>`."""
    return {
        "computerName": _computer_name(vm),
        "osName": "ubuntu",
        "osVersion": "24.04",
        "statuses": [
            {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "time": CREATED,
            },
            {
                "code": f"PowerState/{vm.power_state}",
                "level": "Info",
                "displayStatus": POWER_DISPLAY.get(vm.power_state, f"VM {vm.power_state}"),
            },
        ],
    }


def vmss_vm_json(vm: VmDef, *, instance_view: bool) -> dict[str, Any]:
    """A Uniform instance as VirtualMachineScaleSetVMs_List returns it (with `$expand=instanceView`: its statuses)."""
    body = vm_json(vm)
    if instance_view:
        body["properties"]["instanceView"] = instance_view_json(vm)
    return body


def vm_status_json(vm: VmDef, shape: Literal["minimal", "full"] = "minimal") -> dict[str, Any]:
    """The VM as `statusOnly=true` returns it: identity + `properties.instanceView`, or the full model with it."""
    if shape == "full":
        body = vm_json(vm)
        body["properties"]["instanceView"] = instance_view_json(vm)
        return body
    return {
        "name": vm.name,
        "id": vm_id(vm),
        "type": "Microsoft.Compute/virtualMachines",
        "location": vm.location,
        "properties": {
            "vmId": stable_uuid(f"vm/{vm.subscription}/{vm.resource_group}/{vm.name}"),
            "instanceView": instance_view_json(vm),
        },
    }


def nic_json(vm: VmDef, nic: NicDef, *, attached: bool = True) -> dict[str, Any]:
    """The NIC as NetworkInterfaces_ListAll returns it."""
    rg = vm.resource_group
    ipconf: dict[str, Any] = {
        "primary": True,
        "privateIPAddress": nic.private_ip,
        "privateIPAddressVersion": "IPv4",
        "privateIPAllocationMethod": "Dynamic",
        "provisioningState": "Succeeded",
        "subnet": {
            "id": f"/subscriptions/{vm.subscription}/resourceGroups/{rg}/providers/Microsoft.Network/"
            f"virtualNetworks/{rg}-vnet/subnets/default"
        },
    }
    if nic.public_ip is not None:
        ipconf["publicIPAddress"] = {"id": pip_id(vm, nic, vm.ref_case)}
    mac = stable_uuid(f"mac/{nic_id(vm, nic)}").replace("-", "")[:12].upper()
    props: dict[str, Any] = {
        "disableTcpStateTracking": False,
        "dnsSettings": {"appliedDnsServers": [], "dnsServers": []},
        "enableAcceleratedNetworking": True,
        "enableIPForwarding": False,
        "ipConfigurations": [
            {"name": "ipconfig1", "id": f"{nic_id(vm, nic)}/ipConfigurations/ipconfig1", "properties": ipconf}
        ],
        "macAddress": "-".join(mac[i : i + 2] for i in range(0, 12, 2)),
        "primary": nic.primary,
        "provisioningState": "Succeeded",
        "vnetEncryptionSupported": False,
    }
    if attached and is_uniform_instance(vm):
        props["virtualMachine"] = {"id": vm_id(vm)}
    elif attached:
        # The back-reference spells the resource group in lower case even where the VM's own id does not.
        props["virtualMachine"] = {"id": _rid(vm.subscription, rg, "Microsoft.Compute", "virtualMachines", vm.name)}
    return {
        "name": nic.name,
        "id": nic_id(vm, nic),
        "type": "Microsoft.Network/networkInterfaces",
        "location": vm.location,
        "properties": props,
    }


def pip_json(vm: VmDef, nic: NicDef) -> dict[str, Any]:
    """The public IP as PublicIPAddresses_ListAll returns it (Static, so `ipAddress` is always present)."""
    return {
        "name": pip_name(nic),
        "id": pip_id(vm, nic),
        "type": "Microsoft.Network/publicIPAddresses",
        "location": vm.location,
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
            "idleTimeoutInMinutes": 4,
            "ipAddress": nic.public_ip,
            "ipConfiguration": {"id": f"{nic_id(vm, nic)}/ipConfigurations/ipconfig1"},
            "provisioningState": "Succeeded",
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
        },
    }


def subscription_json(sub: str, index: int, tenant_id: str) -> dict[str, Any]:
    """The subscription as Subscriptions_List returns it."""
    return {
        "authorizationSource": "RoleBased",
        "displayName": f"azlin-fleet sandbox {index + 1}",
        "id": f"/subscriptions/{sub}",
        "managedByTenants": [],
        "state": "Enabled",
        "subscriptionId": sub,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
        "tags": {},
        "tenantId": tenant_id,
    }


def _pool_tags(pools: Sequence[str]) -> list[tuple[str, str]]:
    return list(zip(POOL_TAG_KEYS, pools, strict=False))


def world_from_hosts(hosts: Iterable[HostRecord], subscriptions: Sequence[str]) -> list[VmDef]:
    """The VMs standing for the sandbox hosts, plus the extra VMs described in the module docstring."""
    hosts = list(hosts)
    subs = list(subscriptions)
    vms: list[VmDef] = []
    for i, host in enumerate(hosts):
        sub_index = i % len(subs)
        tags = _pool_tags(host.pools) + [kv for kv in host.tags if kv[0] not in POOL_TAG_KEYS]
        if host.port != 22:
            tags.append(("sandbox-ssh-port", str(host.port)))
        if i == 0:
            tags.append(("note", HOSTILE_TAG_VALUE))
        public_ip = None if (i == len(hosts) - 1 and len(hosts) > 1) else f"203.0.113.{10 + i % 240}"
        nics = [NicDef(f"{host.name}-nic", host.address, None if i == 1 else public_ip)]
        if i == 1:
            # The secondary NIC comes first in networkProfile and holds the VM's only public IP: the primary flag,
            # not the order, picks the address, and a secondary NIC's public IP is not the VM's address.
            nics.insert(0, NicDef(f"{host.name}-nic2", f"10.99.0.{10 + i}", public_ip, primary=False))
        vms.append(
            VmDef(
                subscription=subs[sub_index],
                resource_group=f"rg-{host.pools[0] if host.pools else 'fleet'}",
                name=host.name,
                location=LOCATIONS[sub_index % len(LOCATIONS)],
                power_state="running",
                tags=tuple(tags),
                admin_user=host.user,
                nics=tuple(nics),
                zones=(("1",), ("2",), ("3",), ())[i % 4],
                vm_size="Standard_D2s_v5" if host.cpus <= 2 else f"Standard_D{host.cpus}s_v5",
                rg_case="upper" if sub_index % 2 else "lower",
                ref_case="title" if sub_index % 2 else "lower",
                host=host.name,
            )
        )
    extra_tags = (("azlin-pool", "archive"), ("env", "dev"))
    vms.append(
        VmDef(
            subs[0],
            "rg-extra",
            "deallocated-1",
            LOCATIONS[0],
            "deallocated",
            extra_tags,
            "azureuser",
            (NicDef("deallocated-1-nic", "10.98.0.4", "203.0.113.250"),),
            zones=("2",),
        )
    )
    vms.append(
        VmDef(
            subs[-1],
            "rg-extra",
            "stopped-1",
            LOCATIONS[0],
            "stopped",
            extra_tags + (("note", HOSTILE_TAG_VALUE),),
            "azureuser",
            (NicDef("stopped-1-nic", "10.98.0.5", "203.0.113.251"),),
        )
    )
    if hosts:
        twin = hosts[0]
        vms.append(
            VmDef(
                subs[-1],
                "rg-twins",
                twin.name,
                LOCATIONS[-1],
                "deallocated",
                (("azlin-pool", "archive"), ("env", "staging")),
                "azureuser",
                (NicDef(f"{twin.name}-nic", "10.98.0.6", "203.0.113.252"),),
                rg_case="upper",
            )
        )
    return vms


def synthetic_vms(count: int, subscriptions: Sequence[str], *, start: int = 1) -> list[VmDef]:
    """`count` running VMs for the scale benchmark (see the module docstring)."""
    subs = list(subscriptions)
    base = int(ipaddress.ip_address("198.18.0.0"))
    vms = []
    for n in range(start, start + count):
        sub_index = n % len(subs)
        name = f"vm-{n:05d}"
        vms.append(
            VmDef(
                subscription=subs[sub_index],
                resource_group=f"rg-bench-{n % 8}",
                name=name,
                location=LOCATIONS[sub_index % len(LOCATIONS)],
                power_state="running",
                tags=(("azlin-pool", f"bench-{n % 10}"), ("env", "dev" if n % 2 else "staging")),
                admin_user="azureuser",
                nics=(
                    NicDef(
                        f"{name}-nic",
                        f"10.{64 + sub_index}.{(n >> 8) & 255}.{n & 255}",
                        str(ipaddress.ip_address(base + n)),
                    ),
                ),
                zones=(str(1 + n % 3),),
                rg_case="upper" if n % 3 == 0 else "lower",
            )
        )
    return vms


def synthetic_scale_sets(count: int, size: int, subscriptions: Sequence[str]) -> tuple[list[ScaleSetDef], list[VmDef]]:
    """`count` Uniform scale sets of `size` running instances each, for the scale benchmark: `vmss-01`.. round robin
    over the subscriptions, pool tag `vmss-bench-<n>` on the scale set only (instances carry no tags), one NIC and
    one public IP (198.19.0.0/16) per instance."""
    subs = list(subscriptions)
    base = int(ipaddress.ip_address("198.19.0.0"))
    scale_sets, vms = [], []
    for n in range(1, count + 1):
        sub = subs[n % len(subs)]
        location = LOCATIONS[(n % len(subs)) % len(LOCATIONS)]
        ss = ScaleSetDef(
            sub,
            f"rg-vmss-{n % 4}",
            f"vmss-{n:02d}",
            location,
            "Uniform",
            (("azlin-pool", f"vmss-bench-{n}"), ("env", "dev")),
            "azureuser",
        )
        scale_sets.append(ss)
        for i in range(size):
            k = n * size + i
            vms.append(
                VmDef(
                    sub,
                    ss.resource_group,
                    f"{ss.name}_{i}",
                    location,
                    "running",
                    (),
                    "azureuser",
                    (
                        NicDef(
                            f"{ss.name}-nic",
                            f"10.{128 + n}.{(i >> 8) & 255}.{i & 255}",
                            str(ipaddress.ip_address(base + k)),
                        ),
                    ),
                    scale_set=ss.name,
                    instance_id=str(i),
                )
            )
    return scale_sets, vms


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


@dataclass(slots=True)
class World:
    """The served resources, per subscription and list kind, as pre-serialised JSON items (pages are joined bytes).

    Mutable only through `set_power`, so a live power change is one re-render.
    """

    tenant_id: str
    subscriptions: list[str]
    vms: list[VmDef]
    status_shape: Literal["minimal", "full"] = "minimal"
    noise: bool = True  # add the unattached NIC and the load balancer's public IP
    scale_sets: list[ScaleSetDef] = field(default_factory=list)
    items: dict[tuple[str, ListKind], list[tuple[str, bytes]]] = field(default_factory=dict)
    # (subscription, resource group lower, scale set lower, kind) -> items of that scale set's own lists
    scale_set_items: dict[tuple[str, str, str, ListKind], list[bytes]] = field(default_factory=dict)
    # lower-cased VM (or instance) id -> index in vms
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.render()

    def render(self) -> None:
        items: dict[tuple[str, ListKind], list[tuple[str, bytes]]] = {
            (sub, kind): [] for sub in self.subscriptions for kind in _SUB_KINDS
        }
        per_set: dict[tuple[str, str, str, ListKind], list[bytes]] = {}
        capacity: dict[tuple[str, str, str], int] = {}
        for ss in self.scale_sets:
            key = (ss.subscription, ss.resource_group.lower(), ss.name.lower())
            for kind in ("vmss_vms", "vmss_vms_view", "vmss_nics", "vmss_public_ips"):
                per_set[(*key, kind)] = []  # type: ignore[index]
        for vm in sorted(self.vms, key=lambda v: (v.resource_group, v.name)):
            rg = vm.resource_group.lower()
            if vm.scale_set is not None:
                key = (vm.subscription, rg, vm.scale_set.lower())
                capacity[key] = capacity.get(key, 0) + 1
            if is_uniform_instance(vm):
                key = (vm.subscription, rg, vm.scale_set.lower())  # type: ignore[union-attr]
                per_set.setdefault((*key, "vmss_vms"), []).append(_dump(vmss_vm_json(vm, instance_view=False)))  # type: ignore[arg-type]
                per_set.setdefault((*key, "vmss_vms_view"), []).append(_dump(vmss_vm_json(vm, instance_view=True)))  # type: ignore[arg-type]
                for nic in vm.nics:
                    per_set.setdefault((*key, "vmss_nics"), []).append(_dump(nic_json(vm, nic)))  # type: ignore[arg-type]
                    if nic.public_ip is not None:
                        per_set.setdefault((*key, "vmss_public_ips"), []).append(_dump(pip_json(vm, nic)))  # type: ignore[arg-type]
                continue
            items[(vm.subscription, "vms")].append((rg, _dump(vm_json(vm))))
            items[(vm.subscription, "vms_status")].append((rg, _dump(vm_status_json(vm, self.status_shape))))
            for nic in vm.nics:
                items[(vm.subscription, "nics")].append((rg, _dump(nic_json(vm, nic))))
                if nic.public_ip is not None:
                    items[(vm.subscription, "public_ips")].append((rg, _dump(pip_json(vm, nic))))
        for ss in sorted(self.scale_sets, key=lambda x: (x.resource_group, x.name)):
            key = (ss.subscription, ss.resource_group.lower(), ss.name.lower())
            items[(ss.subscription, "scale_sets")].append(
                (ss.resource_group.lower(), _dump(scale_set_json(ss, capacity.get(key, 0))))
            )
        self.scale_set_items = per_set
        self.index = {vm_id(vm).lower(): i for i, vm in enumerate(self.vms)}
        if self.vms and self.noise:
            # Noise every real subscription has: a NIC nobody uses, a public IP on a load balancer.
            first = self.vms[0]
            spare = replace(first, name="spare", resource_group="rg-extra", rg_case="lower", ref_case="lower")
            spare_nic = NicDef("spare-nic", "10.98.0.9", None)
            items[(first.subscription, "nics")].append(("rg-extra", _dump(nic_json(spare, spare_nic, attached=False))))
            lb_pip = pip_json(spare, NicDef("lb-frontend-nic", "", "203.0.113.253"))
            lb_pip["properties"]["ipConfiguration"] = {
                "id": f"/subscriptions/{first.subscription}/resourceGroups/rg-extra/providers/Microsoft.Network/"
                "loadBalancers/lb-extra/frontendIPConfigurations/LoadBalancerFrontEnd"
            }
            items[(first.subscription, "public_ips")].append(("rg-extra", _dump(lb_pip)))
        self.items = items

    def list_items(self, subscription: str, kind: ListKind, resource_group: str | None = None) -> list[bytes]:
        """The serialised items of one list call (resource group matched case-insensitively, as ARM does)."""
        entries = self.items.get((subscription, kind), [])
        if resource_group is None:
            return [raw for _, raw in entries]
        rg = resource_group.lower()
        return [raw for item_rg, raw in entries if item_rg == rg]

    def list_scale_set_items(
        self, subscription: str, resource_group: str, name: str, kind: ListKind
    ) -> list[bytes] | None:
        """The serialised items of one scale set's own list, or None when there is no such scale set."""
        return self.scale_set_items.get((subscription, resource_group.lower(), name.lower(), kind))

    def find_vm(self, resource_id: str) -> int | None:
        """Index in `vms` of the VM (or Uniform instance) with this id (case-insensitive), or None."""
        return self.index.get(resource_id.rstrip("/").lower())

    def set_power_at(self, index: int, state: str) -> VmDef:
        """Set one VM's power state (by index) and re-render; returns the updated VM."""
        self.vms[index] = replace(self.vms[index], power_state=state)
        self.render()
        return self.vms[index]

    def make_scale_set(
        self,
        name: str,
        orchestration: Literal["Uniform", "Flexible"],
        hosts: Sequence[str],
        tags: Iterable[tuple[str, str]] = (),
    ) -> ScaleSetDef:
        """Turn the VMs standing for `hosts` into the members of a new scale set `name` (in the first one's
        subscription and resource group). Uniform: instances `<name>_<i>` with the primary NIC only and no tags of
        their own but `sandbox-ssh-port`; Flexible: the same VMs, referring to the scale set."""
        members = [i for host in hosts for i, vm in enumerate(self.vms) if vm.host == host and vm.scale_set is None]
        found = {self.vms[i].host for i in members}
        missing = [h for h in hosts if h not in found]
        if missing or not hosts:
            raise LookupError(f"no VM stands for sandbox host(s) {missing or list(hosts)}")
        first = self.vms[members[0]]
        ss = ScaleSetDef(
            first.subscription,
            first.resource_group,
            name,
            first.location,
            orchestration,
            tuple(tags),
            first.admin_user,
            first.vm_size,
        )
        for k, i in enumerate(members):
            vm = self.vms[i]
            moved = replace(
                vm,
                subscription=ss.subscription,
                resource_group=ss.resource_group,
                location=ss.location,
                rg_case="lower",
                ref_case="lower",
                scale_set=name,
            )
            if orchestration == "Uniform":
                primary = next(n for n in vm.nics if n.primary)
                moved = replace(
                    moved,
                    name=f"{name}_{k}",
                    instance_id=str(k),
                    tags=tuple(kv for kv in vm.tags if kv[0] == "sandbox-ssh-port"),
                    nics=(NicDef(f"{name}-nic", primary.private_ip, primary.public_ip or f"203.0.114.{10 + k}"),),
                    zones=(),
                )
            self.vms[i] = moved
        self.scale_sets.append(ss)
        self.render()
        return ss

    def set_power(self, name: str, state: str, subscription: str | None = None) -> int:
        """Set the power state of every VM called `name` (in `subscription` if given); returns how many changed."""
        if state not in POWER_DISPLAY:
            raise ValueError(f"unknown power state {state!r}; use one of {sorted(POWER_DISPLAY)}")
        changed = 0
        for i, vm in enumerate(self.vms):
            if vm.name == name and (subscription is None or vm.subscription == subscription):
                self.vms[i] = replace(vm, power_state=state)
                changed += 1
        if changed:
            self.render()
        return changed

    def summary(self) -> list[dict[str, Any]]:
        """One plain row per VM (for the admin API and for debugging)."""
        return [
            {
                "subscription": vm.subscription,
                "resource_group": vm.resource_group,
                "name": vm.name,
                "location": vm.location,
                "power_state": vm.power_state,
                "private_ips": [n.private_ip for n in vm.nics],
                "public_ips": [n.public_ip for n in vm.nics if n.public_ip],
                "tags": dict(vm.tags),
                "id": vm_id(vm),
                "host": vm.host,
                "scale_set": vm.scale_set,
            }
            for vm in self.vms
        ]
