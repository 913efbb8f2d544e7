"""What runs inside the VMs: the switch's init and the server's report.

The switch VM boots straight into SWITCH_INIT (init=/pn-switch, no systemd): it reads
its bonds from the kernel command line, one ``pn.bond=NAME@MODE@PORT+PORT@ADDR+ADDR@VLAN@DHCP``
each, makes them with the partner side of the server's options (MODE "bridge": a plain
L2 switch, for a bond without LACP), puts the addresses on the bond or, with a VLAN id,
on a VLAN of that id over it (the tagged side of a server's VLAN), serves DHCP leases
from a range there if given (dnsmasq: the DHCP cells), and idles until killed.

The server VM boots its own init (systemd) and network tool, which bring up the files
the tool wrote. A oneshot unit ordered after network-online.target waits until the
bonds look settled (or WAIT seconds pass: a broken bond must still be reported), then
prints what the kernel shows between REPORT_BEGIN and REPORT_END on the serial console
and powers the VM off. The host parses that (vm_checks.py): nothing is judged inside.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

REPORT_BEGIN = "==PN-REPORT-BEGIN=="
REPORT_END = "==PN-REPORT-END=="
SECTION = "--- "
SWITCH_READY = "pn-switch: ready"

SWITCH_INIT = r"""#!/bin/sh
# PID 1 of the switch VM: the top-of-rack side of each of the server's bonds.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
say() { echo "pn-switch: $*" >/dev/ttyS0; }
# No udev here to load drivers by modalias. max_bonds=0: no bond0 unless asked for.
modprobe virtio_net || say "modprobe virtio_net failed"
modprobe bonding max_bonds=0 || say "modprobe bonding failed"
modprobe 8021q || say "modprobe 8021q failed"
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    pn.bond=*)
        old=$IFS; IFS=@; set -- ${arg#pn.bond=}; IFS=$old
        name=$1 mode=$2 ports=$3 addrs=$4 vlan=$5 dhcp=$6
        [ "$addrs" = - ] && addrs=
        [ "$vlan" = - ] && vlan=
        [ "$dhcp" = - ] && dhcp=
        if [ "$mode" = bridge ]; then  # a plain L2 switch: what a non-LACP bond faces
            ip link add "$name" type bridge || say "$name: add failed"
        elif [ "$mode" = 802.3ad ]; then
            ip link add "$name" type bond mode 802.3ad miimon 100 lacp_rate fast \
                xmit_hash_policy layer3+4 || say "$name: ip link add failed"
        else
            ip link add "$name" type bond mode "$mode" miimon 100 || say "$name: add failed"
        fi
        for port in $(echo "$ports" | tr + ' '); do
            n=0
            while [ ! -e "/sys/class/net/$port" ] && [ "$n" -lt 50 ]; do
                sleep 0.2; n=$((n + 1))
            done
            ip link set "$port" down
            ip link set "$port" master "$name" || say "$port: not enslaved to $name"
            ip link set "$port" up
        done
        ip link set "$name" up
        dev=$name
        if [ -n "$vlan" ]; then
            dev=$name.$vlan
            ip link add link "$name" name "$dev" type vlan id "$vlan" || say "$dev: add failed"
            ip link set "$dev" up
        fi
        for addr in $(echo "$addrs" | tr + ' '); do
            case "$addr" in
            *:*) ip -6 addr add "$addr" dev "$dev" nodad || say "$addr: not added" ;;
            *) ip addr add "$addr" dev "$dev" || say "$addr: not added" ;;
            esac
        done
        if [ -n "$dhcp" ]; then  # leases from the range FIRST,LAST, this address as router
            dnsmasq --keep-in-foreground --port=0 --user=root --pid-file= --leasefile-ro \
                --interface="$dev" --bind-interfaces --dhcp-authoritative \
                --dhcp-range="$dhcp,255.255.255.0,1h" --log-dhcp --log-facility=- \
                >/dev/ttyS0 2>&1 &
        fi
        ;;
    esac
done
say ready
while :; do sleep 3600; done
"""

REPORT_UNIT = """\
[Unit]
Description=packet-networking VM test: report the network state and power off
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pn-report
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
"""

# Started before the network service (Before=network-pre.target), it polls every 0.1 s
# from the guest's own clock (/proc/uptime, the kernel's monotonic seconds since boot)
# and appends when the bonds are up with every port in the aggregator, and when the
# first gateway answered; the report adds when the network service started.
TIMING_UNIT = """\
[Unit]
Description=packet-networking VM test: when the network became reachable
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/pn-timing

[Install]
WantedBy=sysinit.target
"""
TIMING_UNIT_PATH = "etc/systemd/system/pn-timing.service"
TIMING_WANTS_PATH = "etc/systemd/system/sysinit.target.wants/pn-timing.service"
TIMING_SCRIPT_PATH = "usr/local/sbin/pn-timing"
TIMING_FILE = "/run/pn-timing"

REPORT_UNIT_PATH = "etc/systemd/system/pn-report.service"
REPORT_WANTS_PATH = "etc/systemd/system/multi-user.target.wants/pn-report.service"
REPORT_SCRIPT_PATH = "usr/local/sbin/pn-report"

_BONDS_READY = r"""
bonds_ready() {  # every bond has ports, all up, and (802.3ad) a partner on every port
    for b in $BONDS; do
        f=/proc/net/bonding/$b
        [ -r "$f" ] || return 1
        [ "$(grep -c '^Slave Interface' "$f")" -gt 0 ] || return 1
        ! grep -q 'MII Status: down' "$f" || return 1
        if [ -n "$LACP" ]; then
            ! grep -q 'Partner Mac Address: 00:00:00:00:00:00' "$f" || return 1
            [ "$(grep -o 'Aggregator ID: [0-9]*' "$f" | sort -u | wc -l)" -eq 1 ] || return 1
        fi
    done
    return 0
}
"""

_TIMING_BODY = r"""
now() { cut -d' ' -f1 /proc/uptime; }
bonds_seen=; gateway_seen=
[ -z "$BONDS" ] && bonds_seen=none && echo "bonds none" >>"$OUT"
[ -z "$GATEWAY" ] && gateway_seen=none
for _ in $(seq 1200); do
    if [ -z "$bonds_seen" ] && bonds_ready; then
        bonds_seen=$(now); echo "bonds $bonds_seen" >>"$OUT"
    fi
    if [ -z "$gateway_seen" ] && ping -n -c 1 -W 1 "$GATEWAY" >/dev/null 2>&1; then
        gateway_seen=$(now); echo "gateway $gateway_seen" >>"$OUT"
    fi
    [ -n "$bonds_seen" ] && [ -n "$gateway_seen" ] && break
    sleep 0.1
done
echo done >>"$OUT"
"""

_REPORT_BODY = r"""
settled() {
    bonds_ready || return 1
    [ -z "$(ip -6 addr show tentative)" ] || return 1
    for t in $PING4; do ping -c 1 -W 1 "$t" >/dev/null 2>&1 || return 1; break; done
    return 0
}
# "ok" when one of five pings gets an answer: a bond that renegotiates LACP under a
# loaded host can drop a second's traffic, and the LACP fields are checked on their own.
answers() {
    for _ in 1 2 3 4 5; do
        if ping -c 1 -W 2 "$@" >/dev/null 2>&1; then echo ok; return; fi
    done
    echo fail
}
waited=0
until settled || [ "$waited" -ge "$WAIT" ]; do sleep 1; waited=$((waited + 1)); done
{
    echo "$BEGIN"
    echo "${SECTION}uptime"; cut -d' ' -f1 /proc/uptime
    echo "${SECTION}waited"; echo "$waited"
    echo "${SECTION}timing"
    # When the unit left "inactive": the start of its activation, ExecStartPre included
    # (ExecMainStart moves with each of a oneshot's ExecStart lines).
    echo "service $SERVICE $(systemctl show -p InactiveExitTimestampMonotonic --value "$SERVICE")"
    cat /run/pn-timing 2>/dev/null
    for f in /proc/net/bonding/*; do
        [ -e "$f" ] || continue
        echo "${SECTION}bonding ${f##*/}"; cat "$f"
    done
    echo "${SECTION}link"; ip -d -j link
    echo "${SECTION}addr"; ip -j addr
    echo "${SECTION}route4"; ip -j route
    echo "${SECTION}route6"; ip -j -6 route
    for t in $PING4; do echo "${SECTION}ping $t"; answers "$t"; done
    for t in $PING6; do echo "${SECTION}ping $t"; answers -6 "$t"; done
    echo "${SECTION}neigh"; ip neigh
    if command -v nmcli >/dev/null; then  # which daemon, and the files it brought up
        echo "${SECTION}nm"
        echo "exe $(readlink "/proc/$(pidof NetworkManager)/exe")"
        nmcli -t -f DEVICE,FILENAME connection show --active
        echo "${SECTION}nm-devices"; nmcli -t -f DEVICE,STATE device
    fi
    echo "${SECTION}failed-units"; systemctl --failed --no-legend --plain
    echo "${SECTION}kernel"; dmesg | grep -E ' (bond[0-9]+|eth[0-9]+)' || true
    echo "$END"
} >/run/pn-report 2>&1
# One write to the console, so the report is not interleaved with anything else.
cat /run/pn-report
systemctl --force --force poweroff
"""


@dataclass(frozen=True)
class ReportSpec:
    """What the server's report waits for and pings."""

    bonds: Sequence[str]
    lacp: bool  # wait for a partner on every bond (802.3ad)
    ping4: Sequence[str]  # the first one must answer before the bonds count as settled
    ping6: Sequence[str]
    wait: int  # seconds to wait for the bonds to settle before reporting anyway
    service: str = "networking.service"  # the guest's network service, for the timing


def report_script(spec: ReportSpec) -> str:
    values = {
        "BONDS": " ".join(spec.bonds),
        "LACP": "1" if spec.lacp else "",
        "PING4": " ".join(spec.ping4),
        "PING6": " ".join(spec.ping6),
        "WAIT": str(spec.wait),
        "SERVICE": spec.service,
        "BEGIN": REPORT_BEGIN,
        "END": REPORT_END,
        "SECTION": SECTION,
    }
    return _script(values, _BONDS_READY + _REPORT_BODY)


@dataclass(frozen=True)
class SwitchBond:
    """One bond of the switch VM, facing one of the server's."""

    name: str
    mode: str  # the bonding driver's mode name, or "bridge"
    ports: Sequence[str]
    addresses: Sequence[str] = ()  # the gateways, with their prefix
    vlan: Optional[int] = None  # the addresses are on a VLAN of this id over the bond
    dhcp: Optional[str] = None  # "FIRST,LAST": serve leases from this range (dnsmasq)


def timing_script(spec: ReportSpec) -> str:
    values = {
        "BONDS": " ".join(spec.bonds),
        "LACP": "1" if spec.lacp else "",
        "GATEWAY": next(iter(spec.ping4), ""),
        "OUT": TIMING_FILE,
    }
    return _script(values, _BONDS_READY + _TIMING_BODY)


def _script(values: dict[str, str], body: str) -> str:
    head = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
    return f"#!/bin/bash\n# Written by tests/support/vm_guest.py.\n{head}{body}"


def switch_args(bonds: Sequence[SwitchBond]) -> str:
    """Kernel arguments for SWITCH_INIT, one per bond."""
    return " ".join(
        f"pn.bond={b.name}@{b.mode}@{'+'.join(b.ports)}@{'+'.join(b.addresses) or '-'}"
        f"@{b.vlan if b.vlan is not None else '-'}@{b.dhcp or '-'}"
        for b in bonds
    )


def parse_report(console: str) -> dict[str, str] | None:
    """Section name -> text, from the last complete report on the console; None if none."""
    end = console.rfind(REPORT_END)
    begin = console.rfind(REPORT_BEGIN, 0, end)
    if end < 0 or begin < 0:
        return None
    body = console[begin + len(REPORT_BEGIN) : end].replace("\r\n", "\n")
    sections: dict[str, str] = {}
    name = None
    for line in body.split("\n"):
        if line.startswith(SECTION):
            name = line[len(SECTION) :].strip()
            sections[name] = ""
        elif name is not None:
            sections[name] += line + "\n"
    return sections
