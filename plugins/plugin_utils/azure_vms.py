# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure VMs as plain records: normalize raw ARM list pages, filter them, and build host names, groups and hostvars.

Pure functions on the raw dicts that ``azure_fetch`` returns; no I/O, no Ansible. Joins between VMs, NICs and
public IPs go through lower-cased resource ids, because Azure may spell a resource group in different case in
ids that refer to the same resource.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetConfigError

DEFAULT_POOL_KEYS: tuple[str, ...] = ("azlin-pool", "pool", "azlin-session")
DEFAULT_HOSTNAME_SOURCE: tuple[str, ...] = ("public_ip", "private_ip", "name")
HOSTNAME_SOURCES: tuple[str, ...] = ("public_ip", "private_ip", "public_fqdn", "any_public_ip", "name")
UNKNOWN_POWER_STATE = "unknown"

_INVALID_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")
_ID_PARTS = re.compile(r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?", re.IGNORECASE)
_VMSS_PART = re.compile(
    r"/providers/Microsoft\.Compute/virtualMachineScaleSets/(?P<name>[^/]+)(?:/virtualMachines/(?P<instance>[^/]+))?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class VmRecord:
    """One Azure VM with its network facts joined in; everything a host needs."""

    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    size: str = ""
    os_type: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    power_state: str = UNKNOWN_POWER_STATE
    provisioning_state: str = ""
    private_ips: tuple[str, ...] = ()
    public_ips: tuple[str, ...] = ()
    public_fqdns: tuple[str, ...] = ()
    admin_user: str | None = None
    computer_name: str | None = None
    zone: str | None = None
    vm_id: str | None = None
    # The primary NIC's primary ip configuration: the NIC that carries the default route.
    primary_private_ip: str | None = None
    primary_public_ip: str | None = None
    primary_public_fqdn: str | None = None
    # Scale set membership: Uniform instances come from the scale set's own lists, Flexible members from the VM list.
    vmss_name: str | None = None
    vmss_id: str | None = None
    vmss_instance_id: str | None = None
    vmss_orchestration: str | None = None

    @property
    def private_ip(self) -> str | None:
        """The primary NIC's primary private address."""
        return self.primary_private_ip

    @property
    def public_ip(self) -> str | None:
        """The public address of the primary NIC's primary ip configuration (never another NIC's)."""
        return self.primary_public_ip


@dataclass(frozen=True, slots=True)
class VmFilter:
    """Which VMs become hosts. Empty sequences mean "no restriction"."""

    power_states: tuple[str, ...] = ("running",)
    resource_groups: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()


def _lower_id(resource_id: str | None) -> str:
    return (resource_id or "").lower()


def _props(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return item.get("properties") or {}


def _id_scope(resource_id: str) -> tuple[str, str]:
    match = _ID_PARTS.match(resource_id or "")
    if not match:
        return "", ""
    return match.group("sub"), match.group("rg") or ""


def has_vm_model(vms: Iterable[Mapping[str, Any]]) -> bool:
    """Whether list items carry the VM model (``networkProfile``), not only the run-time status."""
    return all("networkProfile" in _props(vm) for vm in vms)


def power_state_of(vm: Mapping[str, Any]) -> str:
    """The ``PowerState/<state>`` code of the VM's instance view, or ``unknown`` when none is present."""
    statuses = (_props(vm).get("instanceView") or {}).get("statuses") or []
    for status in statuses:
        code = (status or {}).get("code") or ""
        if code.lower().startswith("powerstate/"):
            return code.split("/", 1)[1].lower()
    return UNKNOWN_POWER_STATE


def merge_vm_status(models: Iterable[Mapping[str, Any]], statuses: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Put each status-only item's ``instanceView`` into the VM model with the same id (case-insensitive)."""
    views = {_lower_id(s.get("id")): _props(s).get("instanceView") for s in statuses}
    merged = []
    for model in models:
        view = views.get(_lower_id(model.get("id")))
        if view is not None:
            model = {**model, "properties": {**_props(model), "instanceView": view}}
        merged.append(dict(model))
    return merged


def _strip_prefix(address: str) -> str:
    # privateIPAddress may carry a prefix length ("172.20.2.16/28").
    return address.split("/", 1)[0]


def _primary_first(items: Sequence[Mapping[str, Any]], primary: Any) -> list[Mapping[str, Any]]:
    return sorted(items, key=lambda item: not primary(item))


def _nic_addresses(
    nic: Mapping[str, Any], public_ips: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str | None, str | None, str | None]]:
    """(private, public, fqdn) of each ip configuration of a NIC, the primary configuration first."""
    addresses = []
    configs = _props(nic).get("ipConfigurations") or []
    for config in _primary_first(configs, lambda c: _props(c).get("primary")):
        props = _props(config)
        private = _strip_prefix(props["privateIPAddress"]) if props.get("privateIPAddress") else None
        pip_props = _props(public_ips.get(_lower_id((props.get("publicIPAddress") or {}).get("id"))) or {})
        fqdn = (pip_props.get("dnsSettings") or {}).get("fqdn")
        addresses.append((private, pip_props.get("ipAddress") or None, fqdn or None))
    return addresses


def _vm_nics(
    vm: Mapping[str, Any], nics: Mapping[str, Mapping[str, Any]], nics_by_vm: Mapping[str, list[Mapping[str, Any]]]
) -> list[Mapping[str, Any]]:
    refs = (_props(vm).get("networkProfile") or {}).get("networkInterfaces")
    if refs is None:
        # Status-only items have no network profile: fall back to the NICs' back-references.
        attached = nics_by_vm.get(_lower_id(vm.get("id")), [])
        return _primary_first(attached, lambda n: _props(n).get("primary"))
    ordered = _primary_first(refs, lambda r: _props(r).get("primary"))
    return [nics[key] for key in (_lower_id(r.get("id")) for r in ordered) if key in nics]


def _scale_set_of(vm: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(scale set id, scale set name, instance id) of a VM: a Uniform instance by its own id, a Flexible member by
    its ``virtualMachineScaleSet`` reference; all None for a plain VM."""
    own = _VMSS_PART.search(vm.get("id") or "")
    if own and own.group("instance") is not None:
        scale_set_id = (vm.get("id") or "")[: own.start("instance") - len("/virtualMachines/")]
        return scale_set_id, own.group("name"), str(vm.get("instanceId") or own.group("instance"))
    ref = (_props(vm).get("virtualMachineScaleSet") or {}).get("id")
    member = _VMSS_PART.search(ref or "")
    if member:
        return ref, member.group("name"), None
    return None, None, None


def _record(
    vm: Mapping[str, Any],
    nics: list[Mapping[str, Any]],
    public_ips: Mapping[str, Mapping[str, Any]],
    scale_sets: Mapping[str, Mapping[str, Any]] | None = None,
) -> VmRecord:
    props = _props(vm)
    addresses = [config for nic in nics for config in _nic_addresses(nic, public_ips)]
    primary = _nic_addresses(nics[0], public_ips)[:1] if nics else []
    primary_private, primary_public, primary_fqdn = primary[0] if primary else (None, None, None)
    subscription_id, resource_group = _id_scope(vm.get("id", ""))
    os_profile = props.get("osProfile") or {}
    os_disk = (props.get("storageProfile") or {}).get("osDisk") or {}
    zones = vm.get("zones") or []
    scale_set_id, scale_set_name, instance_id = _scale_set_of(vm)
    scale_set = (scale_sets or {}).get(_lower_id(scale_set_id)) or {}
    # Instances carry their own tags only where Azure sets them; the scale set's tags apply to every instance.
    tags = {**(scale_set.get("tags") or {}), **(vm.get("tags") or {})}
    orchestration = _props(scale_set).get("orchestrationMode") or (
        ("Uniform" if instance_id is not None else "Flexible") if scale_set_id else None
    )
    size = (props.get("hardwareProfile") or {}).get("vmSize") or (vm.get("sku") or {}).get("name", "")
    return VmRecord(
        id=vm.get("id", ""),
        name=vm.get("name") or vm.get("id", "").rsplit("/", 1)[-1],
        subscription_id=subscription_id,
        resource_group=resource_group,
        location=vm.get("location", ""),
        size=size,
        os_type=os_disk.get("osType", ""),
        tags={str(k): "" if v is None else str(v) for k, v in tags.items()},
        power_state=power_state_of(vm),
        provisioning_state=props.get("provisioningState", ""),
        private_ips=tuple(a[0] for a in addresses if a[0]),
        public_ips=tuple(a[1] for a in addresses if a[1]),
        public_fqdns=tuple(a[2] for a in addresses if a[2]),
        admin_user=os_profile.get("adminUsername"),
        computer_name=os_profile.get("computerName"),
        zone=str(zones[0]) if zones else None,
        vm_id=props.get("vmId"),
        primary_private_ip=primary_private,
        primary_public_ip=primary_public,
        primary_public_fqdn=primary_fqdn,
        vmss_name=scale_set_name,
        vmss_id=scale_set_id,
        vmss_instance_id=instance_id,
        vmss_orchestration=orchestration,
    )


def normalize_vms(
    vms: Iterable[Mapping[str, Any]],
    nics: Iterable[Mapping[str, Any]],
    public_ips: Iterable[Mapping[str, Any]],
    scale_sets: Iterable[Mapping[str, Any]] = (),
) -> list[VmRecord]:
    """Join raw VM (and scale-set VM), NIC, public IP and scale set list items into records, sorted by name then id.

    Scale-set instances join the same way as VMs: their NIC and public IP ids are scoped to the scale set.
    """
    nics_by_id: dict[str, Mapping[str, Any]] = {}
    nics_by_vm: dict[str, list[Mapping[str, Any]]] = {}
    for nic in nics:
        nics_by_id[_lower_id(nic.get("id"))] = nic
        owner = _lower_id((_props(nic).get("virtualMachine") or {}).get("id"))
        if owner:
            nics_by_vm.setdefault(owner, []).append(nic)
    pips = {_lower_id(p.get("id")): p for p in public_ips}
    sets = {_lower_id(s.get("id")): s for s in scale_sets}
    records = [_record(vm, _vm_nics(vm, nics_by_id, nics_by_vm), pips, sets) for vm in vms]
    return sorted(records, key=lambda r: (r.name, r.id.lower()))


def _matches_tag(tags: Mapping[str, str], pattern: str) -> bool:
    key, has_value, value = pattern.partition("=")
    lowered = {k.lower(): v for k, v in tags.items()}
    if key.lower() not in lowered:
        return False
    return not has_value or fnmatch.fnmatchcase(lowered[key.lower()], value)


def validate_vm_filter(vm_filter: VmFilter) -> None:
    """Raise FleetConfigError for a tag filter with an empty key."""
    for option in ("include_tags", "exclude_tags"):
        for pattern in getattr(vm_filter, option):
            if not pattern.partition("=")[0]:
                raise FleetConfigError(
                    f"Invalid {option} entry {pattern!r}",
                    "the tag key is empty",
                    "Write 'key' or 'key=value' (the value may be a glob).",
                )


def rejection_reason(record: VmRecord, vm_filter: VmFilter) -> str | None:
    """Why a VM does not become a host (the first filter it fails), or None when it is kept."""
    if vm_filter.power_states and record.power_state not in vm_filter.power_states:
        return f"power state {record.power_state}"
    rg = record.resource_group.lower()
    if vm_filter.resource_groups and not any(fnmatch.fnmatchcase(rg, g.lower()) for g in vm_filter.resource_groups):
        return "resource group"
    if vm_filter.names and not any(fnmatch.fnmatchcase(record.name, g) for g in vm_filter.names):
        return "name"
    if not all(_matches_tag(record.tags, p) for p in vm_filter.include_tags):
        return "include_tags"
    if any(_matches_tag(record.tags, p) for p in vm_filter.exclude_tags):
        return "exclude_tags"
    return None


def filter_vms(records: Iterable[VmRecord], vm_filter: VmFilter) -> tuple[list[VmRecord], dict[str, int]]:
    """Split records into kept ones and a count of the dropped ones per reason."""
    kept: list[VmRecord] = []
    dropped: dict[str, int] = {}
    for record in records:
        reason = rejection_reason(record, vm_filter)
        if reason is None:
            kept.append(record)
        else:
            dropped[reason] = dropped.get(reason, 0) + 1
    return kept, dict(sorted(dropped.items()))


def sanitize_group_name(name: str) -> str:
    """Make a valid Ansible group name: every character outside [A-Za-z0-9_] becomes '_'."""
    return _INVALID_GROUP_CHARS.sub("_", name)


GroupKind = Literal["pool", "tag", "rg", "location", "powerstate", "vmss"]


def group_name(kind: GroupKind, value: str, tag_value: str = "") -> str:
    """The one place group names are made: ``pool_<v>``, ``tag_<k>_<v>`` (``tag_<k>`` for an empty value),
    ``rg_<name>``, ``location_<name>``, ``powerstate_<state>``, ``vmss_<scale set>``, sanitized.

    Resource group, location, power state and scale set are lower-cased: Azure treats them case-insensitively and may
    spell the same resource group differently in different ids. Pool and tag text keeps its case.
    """
    if kind == "tag":
        text = f"tag_{value}_{tag_value}" if tag_value else f"tag_{value}"
    elif kind == "pool":
        text = f"pool_{value}"
    else:
        text = f"{kind}_{value.lower()}"
    return sanitize_group_name(text)


def groups_for(record: VmRecord, pool_keys: Sequence[str] = DEFAULT_POOL_KEYS) -> list[str]:
    """The groups a VM belongs to (pool_, tag_, rg_, location_, powerstate_, vmss_), sorted and distinct."""
    names = {group_name("pool", pool) for pool in pools_of(record, pool_keys)}
    names.update(group_name("tag", key, value) for key, value in record.tags.items())
    if record.resource_group:
        names.add(group_name("rg", record.resource_group))
    if record.location:
        names.add(group_name("location", record.location))
    names.add(group_name("powerstate", record.power_state))
    if record.vmss_name:
        names.add(group_name("vmss", record.vmss_name))
    return sorted(names)


def pools_of(record: VmRecord, pool_keys: Sequence[str] = DEFAULT_POOL_KEYS) -> list[str]:
    """The pool names of a VM: the values of its pool tags, in pool_keys order, distinct."""
    lowered = {k.lower(): v for k, v in record.tags.items()}
    pools: list[str] = []
    for key in pool_keys:
        value = lowered.get(key.lower())
        if value and value not in pools:
            pools.append(value)
    return pools


def validate_hostname_source(preference: Sequence[str]) -> None:
    """Raise FleetConfigError for an unknown or empty hostname_source list."""
    unknown = [p for p in preference if p not in HOSTNAME_SOURCES]
    if unknown or not preference:
        raise FleetConfigError(
            "Invalid hostname_source",
            f"unknown entries {unknown!r}" if unknown else "the list is empty",
            f"Use a list of {', '.join(HOSTNAME_SOURCES)}.",
        )


def ansible_host_for(record: VmRecord, preference: Sequence[str] = DEFAULT_HOSTNAME_SOURCE) -> tuple[str, str]:
    """The address to connect to and which source gave it: the first of ``preference`` the VM has."""
    candidates = {
        "public_ip": record.public_ip,
        "private_ip": record.private_ip,
        "public_fqdn": record.primary_public_fqdn,
        # Opt-in: a secondary NIC's public address usually lacks the default route, so SSH to it often fails.
        "any_public_ip": record.public_ips[0] if record.public_ips else None,
        "name": record.name,
    }
    for source in preference:
        if candidates.get(source):
            return str(candidates[source]), source
    return record.name, "name"


def hostvars_for(
    record: VmRecord,
    *,
    hostname_source: Sequence[str] = DEFAULT_HOSTNAME_SOURCE,
    pool_keys: Sequence[str] = DEFAULT_POOL_KEYS,
    jump_host: str | None = None,
) -> dict[str, Any]:
    """Host variables of a VM: Azure facts prefixed ``azure_`` plus the ansible_* connection vars.

    With ``jump_host``, a VM reached on a private address (no public IP) gets ``-o ProxyJump`` in
    ``ansible_ssh_common_args``.
    """
    address, source = ansible_host_for(record, hostname_source)
    hostvars: dict[str, Any] = {
        "ansible_host": address,
        "azure_name": record.name,
        "azure_id": record.id,
        "azure_vm_id": record.vm_id,
        "azure_subscription_id": record.subscription_id,
        "azure_resource_group": record.resource_group,
        "azure_location": record.location,
        "azure_size": record.size,
        "azure_os_type": record.os_type,
        "azure_tags": dict(record.tags),
        "azure_pools": pools_of(record, pool_keys),
        "azure_power_state": record.power_state,
        "azure_provisioning_state": record.provisioning_state,
        "azure_private_ip": record.private_ip,
        "azure_private_ips": list(record.private_ips),
        "azure_public_ip": record.public_ip,
        "azure_public_ips": list(record.public_ips),
        "azure_public_fqdns": list(record.public_fqdns),
        "azure_computer_name": record.computer_name,
        "azure_zone": record.zone,
        "azure_admin_user": record.admin_user,
        "azure_vmss_name": record.vmss_name,
        "azure_vmss_id": record.vmss_id,
        "azure_vmss_instance_id": record.vmss_instance_id,
        "azure_vmss_orchestration": record.vmss_orchestration,
    }
    if record.admin_user:
        hostvars["ansible_user"] = record.admin_user
    if jump_host and source not in ("public_ip", "any_public_ip") and not record.public_ip:
        hostvars["ansible_ssh_common_args"] = f"-o ProxyJump={jump_host}"
    return hostvars


def host_names(records: Sequence[VmRecord]) -> list[str]:
    """Distinct, deterministic host names, one per record, in the same order.

    A VM name used once stays as it is. Names shared by several VMs get the resource group appended
    (``web-1_rg-a``), and the subscription id too when that is still ambiguous, so every VM appears.
    """

    def key(level: int, r: VmRecord) -> str:
        parts = [r.name, r.resource_group.lower(), r.subscription_id.lower()][: level + 1]
        return "_".join(parts)

    names = [r.name for r in records]
    for level in (1, 2):
        counts: dict[str, int] = {}
        for name in names:
            counts[name] = counts.get(name, 0) + 1
        if all(c == 1 for c in counts.values()):
            break
        names = [key(level, r) if counts[n] > 1 else n for n, r in zip(names, records, strict=True)]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        # Same name, group and subscription twice cannot happen in Azure; keep names distinct anyway.
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def normalize_fleet(fetched: Mapping[str, Any]) -> list[VmRecord]:
    """Records of every subscription in an ``azure_fetch.fetch_inventory`` result, sorted by name then id."""
    records: list[VmRecord] = []
    for data in fetched.get("subscriptions", {}).values():
        vms = data.get("vms") or []
        if data.get("vm_models") is not None:
            vms = merge_vm_status(data["vm_models"], vms)
        records += normalize_vms(
            [*vms, *(data.get("vmss_vms") or [])],
            [*(data.get("nics") or []), *(data.get("vmss_nics") or [])],
            [*(data.get("public_ips") or []), *(data.get("vmss_public_ips") or [])],
            data.get("scale_sets") or [],
        )
    return sorted(records, key=lambda r: (r.name, r.id.lower()))


def check_known_options(keys: Iterable[str], known: Iterable[str]) -> None:
    """Raise FleetConfigError naming every key of an inventory file that is not a documented option."""
    known = sorted(known)
    unknown = sorted(set(keys) - set(known))
    if not unknown:
        return
    guesses = [difflib.get_close_matches(key, known, n=1) for key in unknown]
    hints = [f"{guess[0]!r} instead of {key!r}" for key, guess in zip(unknown, guesses, strict=True) if guess]
    raise FleetConfigError(
        "Invalid inventory configuration",
        f"unknown option(s) {', '.join(repr(k) for k in unknown)}",
        f"Did you mean {', '.join(hints)}?" if hints else "See ansible-doc -t inventory azlin.fleet.azure_pools.",
    )


def summarize_listing(
    subscriptions: int, records: Sequence[VmRecord], kept: Sequence[VmRecord], dropped: Mapping[str, int]
) -> str:
    """One line of counts for -v: subscriptions listed, VMs seen, hosts added, filtered out and why."""
    filtered = ", ".join(f"{reason}: {n}" for reason, n in dropped.items()) or "none"
    return (
        f"{subscriptions} subscription(s) listed, {len(records)} VMs seen, {len(kept)} hosts added, "
        f"{len(records) - len(kept)} filtered out ({filtered})"
    )
