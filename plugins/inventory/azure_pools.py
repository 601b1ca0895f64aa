# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
name: azure_pools
short_description: Azure VMs as hosts, grouped by pool, tag, resource group, location and power state
version_added: 0.1.0
description:
  - Lists the virtual machines of one or more Azure subscriptions and makes each one a host.
  - Per subscription it makes a handful of paged list calls (VMs with their power state, network interfaces, public
    IP addresses, scale sets) and joins them locally, so the number of requests grows with pages, not with VMs.
    Subscriptions are listed concurrently.
  - Instances of Uniform virtual machine scale sets are not in a subscription's VM list; each Uniform scale set adds
    its own list calls (instances with their power state, their network interfaces, and their public IPs when the
    scale set's model gives instances one), so requests grow with scale sets and pages, never with instances.
    Members of Flexible scale sets are ordinary VMs and are marked with their scale set.
  - Scale set members are in C(vmss_<scale set>) (lower case) and get C(azure_vmss_name), C(azure_vmss_id),
    C(azure_vmss_orchestration) (V(Uniform) or V(Flexible)) and, for Uniform instances, C(azure_vmss_instance_id).
    Their tags are the scale set's tags overlaid with the instance's own, so pools come from either.
  - Groups are C(pool_<value>) for each tag key in O(pool_tags), C(tag_<key>_<value>) for every tag,
    C(rg_<resource group>), C(location_<location>) and C(powerstate_<state>) (these three in lower case, as Azure
    compares them case-insensitively), and C(vmss_<scale set>) for scale set members; any character outside
    C([A-Za-z0-9_]) becomes C(_).
  - O(keyed_groups), O(groups) and O(compose) work as in P(ansible.builtin.constructed#inventory).
  - Host variables are prefixed C(azure_). Azure data is never treated as a template.
  - Two VMs with the same name (in different resource groups or subscriptions) both appear, as
    C(<name>_<resource group>) (plus C(_<subscription id>) when still ambiguous).
  - With C(-v) it prints how many VMs it saw, how many hosts it added and how many it filtered out, and why.
  - The configuration file name must end with C(azure_pools.yml) or C(azure_pools.yaml).
notes:
  - When the file cannot be used (an unknown option, a missing credential), Ansible also tries its other enabled
    inventory plugins on it and lists their failures after this plugin's. Put C(azlin.fleet.azure_pools) first in
    C(enable_plugins) (or alone) to see only its message, and set C(unparsed_is_failed) to make it fatal.
requirements:
  - azure-identity
  - azure-mgmt-compute
  - azure-mgmt-network
extends_documentation_fragment:
  - azlin.fleet.azure_auth
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: Marks the file as a configuration of this plugin.
    type: str
    required: true
    choices: [azlin.fleet.azure_pools]
  subscriptions:
    description:
      - Ids of the subscriptions to list.
      - When empty, every subscription the credential can see (except disabled ones) is listed.
    type: list
    elements: str
    default: []
    env:
      - name: AZURE_SUBSCRIPTION_ID
    version_added: 0.1.0
  resource_groups:
    description: Keep only VMs whose resource group matches one of these globs (case-insensitive). Empty keeps all.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  vm_names:
    description: Keep only VMs whose name matches one of these globs. Empty keeps all.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  include_tags:
    description:
      - Keep only VMs that match every entry. An entry is C(key) (the tag exists) or C(key=glob) (its value matches).
      - Tag keys compare case-insensitively, values case-sensitively.
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  exclude_tags:
    description: Drop VMs that match any entry (same syntax as O(include_tags)).
    type: list
    elements: str
    default: []
    version_added: 0.1.0
  power_states:
    description:
      - Keep only VMs in one of these power states. The default keeps running VMs only.
      - Add V(deallocated), V(stopped) and the transitional states to list those too; every host is in its
        C(powerstate_<state>) group. V(unknown) matches VMs that report no power state.
    type: list
    elements: str
    default: [running]
    version_added: 0.1.0
  pool_tags:
    description: Tag keys whose values name pools; each gives a C(pool_<value>) group and an entry of C(azure_pools).
    type: list
    elements: str
    default: [azlin-pool, pool, azlin-session]
    version_added: 0.1.0
  hostname_source:
    description:
      - Where C(ansible_host) comes from, in order of preference; the first one the VM has wins.
      - V(public_ip), V(private_ip) and V(public_fqdn) are those of the primary NIC's primary IP configuration only
        (the primary NIC carries the default route); C(azure_public_ip) and C(azure_private_ip) are the same, while
        C(azure_public_ips) and C(azure_private_ips) list every address, primary NIC first.
      - V(any_public_ip) is the first public IP of any NIC, a secondary NIC's included. Use it only when you know
        such an address is reachable (SSH to a secondary NIC's public IP usually fails, because replies leave
        through the primary NIC), for example O(hostname_source=[public_ip, any_public_ip, private_ip]).
    type: list
    elements: str
    default: [public_ip, private_ip, name]
    choices: [public_ip, private_ip, public_fqdn, any_public_ip, name]
    version_added: 0.1.0
  jump_host:
    description:
      - SSH jump host (C([user@]host[:port])) for VMs without a public IP. Such hosts get
        C(ansible_ssh_common_args=-o ProxyJump=<jump_host>).
    type: str
    version_added: 0.1.0
  fail_on_partial:
    description:
      - What to do when some subscriptions cannot be listed (403, or 429/5xx after the retries).
      - V(false) warns, naming each skipped subscription, and returns the others' VMs.
      - V(true) fails the whole inventory instead. (The separate O(strict) option only governs O(compose),
        O(groups) and O(keyed_groups) template errors.)
      - When every subscription fails, the inventory fails either way.
    type: bool
    default: false
    version_added: 0.1.0
  max_concurrency:
    description: How many list calls run at the same time (across subscriptions).
    type: int
    default: 8
    version_added: 0.1.0
"""

EXAMPLES = r"""
# fleet.azure_pools.yml -- minimal: every running VM of every subscription the credential sees.
# Groups: pool_<value>, tag_<k>_<v>, rg_<name>, location_<name>, powerstate_running.
plugin: azlin.fleet.azure_pools

# Service principal from AWX (AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT, AZURE_SUBSCRIPTION_ID in the
# environment), two subscriptions, connect on private addresses.
# plugin: azlin.fleet.azure_pools
# auth_source: env
# subscriptions: [00000000-0000-0000-0000-000000000001, 00000000-0000-0000-0000-000000000002]
# hostname_source: [private_ip]

# A scale set's instances: group vmss_ci_runners, pools from the scale set's azlin-pool tag.
# plugin: azlin.fleet.azure_pools
# include_tags: ['azlin-pool=ci-*']

# Deallocated VMs too: they land in powerstate_deallocated besides their pools.
# plugin: azlin.fleet.azure_pools
# power_states: [running, deallocated]

# Only the web pool in the prod resource groups, not the VMs tagged maintenance=yes.
# plugin: azlin.fleet.azure_pools
# resource_groups: ['rg-prod-*']
# include_tags: ['azlin-pool=web-*']
# exclude_tags: ['maintenance=yes']

# Private VMs through a bastion: hosts without a public IP get -o ProxyJump=ops@bastion.example.com.
# plugin: azlin.fleet.azure_pools
# hostname_source: [public_ip, private_ip]
# jump_host: ops@bastion.example.com

# Sovereign or private cloud: own authority and ARM endpoint, CA bundle, Azure CLI login.
# plugin: azlin.fleet.azure_pools
# auth_source: cli
# authority_host: https://login.example.internal
# arm_endpoint: https://management.example.internal
# ca_bundle: /etc/pki/example-ca.pem

# Constructed features: a size_<vmsize> group, a var, and a group from a condition; cache the listing 5 min.
# plugin: azlin.fleet.azure_pools
# keyed_groups:
#   - key: azure_size
#     prefix: size
# compose:
#   ansible_port: azure_tags['sandbox-ssh-port'] | default(22) | int
# groups:
#   zonal: azure_zone is not none
# cache: true
# cache_plugin: ansible.builtin.jsonfile
# cache_connection: ~/.cache/azlin-fleet
# cache_timeout: 300
"""

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_vms
from ansible_collections.azlin.fleet.plugins.plugin_utils.azure_auth import AUTH_OPTIONS, build_credential, resolve_auth
from ansible_collections.azlin.fleet.plugins.plugin_utils.errors import FleetError

display = Display()


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "azlin.fleet.azure_pools"
    INVENTORY_FILE_SUFFIXES = ("azure_pools.yml", "azure_pools.yaml")
    # One sanitizing rule for every group this plugin makes, keyed_groups included.
    _sanitize_group_name = staticmethod(azure_vms.sanitize_group_name)

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(self.INVENTORY_FILE_SUFFIXES)

    def parse(self, inventory, loader, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path)
        config = self._read_config_data(path)
        try:
            azure_vms.check_known_options(config, self._options)
            settings = resolve_auth({name: self.get_option(name) for name in AUTH_OPTIONS})
            vm_filter = azure_vms.VmFilter(
                power_states=tuple(self.get_option("power_states")),
                resource_groups=tuple(self.get_option("resource_groups")),
                names=tuple(self.get_option("vm_names")),
                include_tags=tuple(self.get_option("include_tags")),
                exclude_tags=tuple(self.get_option("exclude_tags")),
            )
            azure_vms.validate_vm_filter(vm_filter)
            azure_vms.validate_hostname_source(self.get_option("hostname_source"))
            fetched = self._fetch_cached(path, cache, settings)
            records = azure_vms.normalize_fleet(fetched)
            kept, dropped = azure_vms.filter_vms(records, vm_filter)
            self._populate(kept)
        except FleetError as ex:
            raise AnsibleParserError(ex.message) from ex
        display.v(f"azure_pools: {azure_vms.summarize_listing(len(fetched['subscriptions']), records, kept, dropped)}")

    def _fetch_cached(self, path: str, cache: bool, settings) -> dict:
        """The fetched plain data (never credentials), from the inventory cache when allowed."""
        key = self.get_cache_key(path)
        caching = self.get_option("cache")
        if caching and cache:
            try:
                return self._cache[key]
            except KeyError:
                display.vvv("azure_pools: cache miss, listing Azure")
        fetched = self._fetch(settings)
        if caching and not fetched["failures"]:
            self._cache[key] = fetched
        return fetched

    def _fetch(self, settings) -> dict:
        # Imported here: the SDK clients take a moment to import and are not needed for a cache hit.
        from ansible_collections.azlin.fleet.plugins.plugin_utils import azure_fetch

        clients = azure_fetch.open_clients(
            build_credential(settings),
            settings,
            max_retries=self.get_option("max_retries"),
            retry_timeout=self.get_option("retry_timeout"),
        )
        try:
            fetched = azure_fetch.fetch_inventory(
                clients, self.get_option("subscriptions"), max_workers=self.get_option("max_concurrency")
            )
        finally:
            clients.close()
        display.vvvv(f"azure_pools: {fetched['pages']} pages listed, {clients.retry.retries} retries")
        for warning in azure_fetch.partial_failure_warnings(
            fetched, fail_on_partial=self.get_option("fail_on_partial")
        ):
            display.warning(warning)
        return fetched

    def _populate(self, records: list) -> None:
        pool_keys = self.get_option("pool_tags")
        hostname_source = self.get_option("hostname_source")
        jump_host = self.get_option("jump_host")
        strict = self.get_option("strict")
        compose, groups, keyed = self.get_option("compose"), self.get_option("groups"), self.get_option("keyed_groups")
        for name, record in zip(azure_vms.host_names(records), records, strict=True):
            hostvars = wrap_var(
                azure_vms.hostvars_for(
                    record, hostname_source=hostname_source, pool_keys=pool_keys, jump_host=jump_host
                )
            )
            self.inventory.add_host(name)
            for var, value in hostvars.items():
                self.inventory.set_variable(name, var, value)
            for group in azure_vms.groups_for(record, pool_keys):
                self.inventory.add_group(group)
                self.inventory.add_child(group, name)
            self._set_composite_vars(compose, hostvars, name, strict=strict)
            self._add_host_to_composed_groups(groups, hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(keyed, hostvars, name, strict=strict)
