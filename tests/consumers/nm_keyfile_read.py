"""Read NetworkManager keyfiles with libnm's own reader; print what it understood as JSON.

Run by a system python3 with python3-gi and gir1.2-nm-1.0 (the host's, or an image's
via chroot): ``python3 nm_keyfile_read.py FILE...``. For each file: every warning the
reader raised, whether ``normalize()`` accepted the profile, and its settings.
"""

import json
import re
import sys

import gi

gi.require_version("NM", "1.0")
from gi.repository import NM, GLib  # noqa: E402

BASE_DIR = "/etc/NetworkManager/system-connections"
# Keyfile section names that are aliases of a setting's name (nm-settings-keyfile(5)).
SECTION_ALIASES = {"ethernet": "802-3-ethernet", "wifi": "802-11-wireless"}
# Keys the keyfile format spells as numbered entries instead of one list property.
NUMBERED = re.compile(r"(address|route)[0-9]+(_options)?")


def read(path):
    keyfile = GLib.KeyFile()
    keyfile.load_from_file(path, GLib.KeyFileFlags.NONE)
    warnings = []

    def handler(_keyfile, _connection, handler_type, data, _user_data):
        if handler_type == NM.KeyfileHandlerType.WARN:
            # libnm 1.42 gives (level, message); other releases add group and property.
            warnings.append(" ".join(str(part) for part in data.warn_get()))
        return False  # the reader's default action: carry on

    result = {"path": path, "warnings": warnings}
    try:
        connection = NM.keyfile_read(keyfile, BASE_DIR, NM.KeyfileHandlerFlags.NONE, handler, None)
        # The reader ignores keys it does not know without a word: look for them here.
        warnings += unknown_keys(keyfile, connection)
        connection.normalize()
    except GLib.Error as exc:
        result["error"] = exc.message
        return result
    result.update(describe(connection))
    return result


def unknown_keys(keyfile, connection):
    problems = []
    for group in keyfile.get_groups()[0]:
        setting = connection.get_setting_by_name(SECTION_ALIASES.get(group, group))
        if setting is None:
            problems.append(f"unknown section [{group}]")
            continue
        known = {spec.name for spec in type(setting).list_properties()}
        for key in keyfile.get_keys(group)[0]:
            if group == "bond":
                valid = NM.SettingBond.validate_option(key, keyfile.get_value(group, key))
            else:
                valid = key in known or (group.startswith("ipv") and NUMBERED.fullmatch(key))
            if not valid:
                problems.append(f"unknown or invalid key [{group}] {key}")
    return problems


def describe(connection):
    s_con = connection.get_setting_connection()
    wired = connection.get_setting_wired()
    bond = connection.get_setting_bond()
    vlan = connection.get_setting_vlan()
    return {
        "id": s_con.get_id(),
        "uuid": s_con.get_uuid(),
        "type": s_con.get_connection_type(),
        "interface_name": s_con.get_interface_name(),
        "master": s_con.get_master(),
        "slave_type": s_con.get_slave_type(),
        "autoconnect": s_con.get_autoconnect(),
        "mac": wired.get_mac_address() if wired else None,
        "cloned_mac": wired.get_cloned_mac_address() if wired else None,
        "bond": {
            name: value
            for name, value in (bond.get_option(i)[1:] for i in range(bond.get_num_options()))
        }
        if bond
        else None,
        "vlan": {"id": vlan.get_id(), "parent": vlan.get_parent()} if vlan else None,
        "ipv4": ip_config(connection.get_setting_ip4_config()),
        "ipv6": ip_config(connection.get_setting_ip6_config()),
    }


def ip_config(setting):
    if setting is None:
        return None
    addresses = [setting.get_address(i) for i in range(setting.get_num_addresses())]
    routes = [setting.get_route(i) for i in range(setting.get_num_routes())]
    return {
        "method": setting.get_method(),
        "addresses": [f"{a.get_address()}/{a.get_prefix()}" for a in addresses],
        "gateway": setting.get_gateway(),
        "routes": [[f"{r.get_dest()}/{r.get_prefix()}", r.get_next_hop()] for r in routes],
        "dns": [setting.get_dns(i) for i in range(setting.get_num_dns())],
    }


if __name__ == "__main__":
    json.dump([read(path) for path in sys.argv[1:]], sys.stdout, indent=1)
