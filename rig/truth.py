#!/usr/bin/python3
"""truth.py: turn what the rig configured into truth.json, but only what
the capture really holds.

record.sh appends facts (SUBJECT, KEY, VALUE) to a TSV file while it runs
its scenarios. This script reads the capture once with tshark, then:

  - checks that every device sent frames from its MAC, and only from the
    addresses it was given (the router also forwards the internet host's);
  - checks every configured attribute ("attr:NAME") against the frames the
    device sent (or, for names other devices give it, received), and fails
    when the capture does not hold it;
  - takes the attributes the software chooses itself ("learn:NAME": SSH
    banners, DICOM implementation UIDs, the HTTP Server header, LLDP IDs)
    from the capture, and fails when they are missing or ambiguous;
  - confirms every authentication outcome from the traffic where the
    protocol shows it;
  - confirms that every forbidden string marked as sent in clear is in the
    raw capture (so a leak test on this capture is not vacuous).

Anything that does not hold is reported and the exit status is 1: the rig
never writes a truth that the capture contradicts.
"""

import argparse
import collections
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import tempfile

FIELDS = [
    "frame.number", "eth.src", "eth.dst", "ip.src", "ip.dst", "arp.src.proto_ipv4",
    "tcp.srcport", "tcp.dstport", "tcp.stream", "udp.srcport", "udp.dstport",
    "dhcp.option.dhcp", "dhcp.hw.mac_addr", "dhcp.ip.your",
    "dhcp.option.hostname", "dhcp.option.vendor_class_id",
    "dicom.pdu.type", "dicom.assoc.ae.called", "dicom.assoc.ae.calling",
    "dicom.userinfo.uid", "dicom.userinfo.version", "dicom.tag.value.str",
    "dicom.assoc.reject.reason",
    "hl7.raw",
    "lldp.tlv.system.name", "lldp.tlv.system.desc", "lldp.chassis.id.mac",
    "lldp.port.id", "lldp.port.id.mac", "lldp.mgn.addr.ip4",
    "snmp.version", "snmp.community", "snmp.get_response_element",
    "snmp.name", "snmp.value.octets", "snmp.value.oid",
    "ssh.protocol",
    "tls.handshake.type", "tls.handshake.version",
    "tls.handshake.extensions_server_name", "tls.handshake.certificate",
    "http.user_agent", "http.server", "http.response.code",
    "http.authorization",
    "telnet.data",
    "dns.flags.response", "dns.qry.name", "dns.resp.name",
    "dns.ptr.domain_name", "dns.srv.name",
]


class Frame:
    """One captured frame: the tshark fields present in it."""

    def __init__(self, layers):
        self.f = layers

    def all(self, name):
        return self.f.get(name, [])

    def first(self, name, default=""):
        v = self.f.get(name)
        return v[0] if v else default

    def has(self, name):
        return name in self.f

    @property
    def src(self):
        return self.first("eth.src")

    @property
    def dst(self):
        return self.first("eth.dst")

    def port(self, p):
        p = str(p)
        return p in (self.first("tcp.srcport"), self.first("tcp.dstport"),
                     self.first("udp.srcport"), self.first("udp.dstport"))

    def sport(self):
        return self.first("tcp.srcport") or self.first("udp.srcport")


def read_frames(pcap):
    cmd = ["tshark", "-r", pcap, "-n", "-T", "json",
           "-o", "dicom.tag_tree:TRUE", "-o", "hl7.display_raw:TRUE",
           "-d", "tcp.port==2575,hl7"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    return [Frame(p["_source"]["layers"]) for p in json.loads(out)]


def read_facts(path):
    facts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line:
                subject, key, value = line.split("\t")
                facts.append((subject, key, value))
    return facts


def manuf_vendors(path="/usr/share/wireshark/manuf"):
    """OUI (upper-case, colon-separated) -> long vendor name."""
    out = {}
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and "/" not in parts[0]:
                out[parts[0].upper()] = parts[2] if len(parts) > 2 else parts[1]
    return out


def hexbytes(v):
    return bytes.fromhex(v.replace(":", ""))


def msh(raw):
    """MSH fields of an HL7 message, indexed as in the standard (MSH-1 is |)."""
    seg = raw.replace("\r\n", "\r").split("\r")[0]
    parts = seg.split("|")
    return ["MSH", "|"] + parts[1:]


def message_type(field):
    comps = field.split("^")
    return "^".join(comps[:2]) if len(comps) > 1 else comps[0]


def cert_subject(der):
    with tempfile.NamedTemporaryFile(suffix=".der") as tmp:
        tmp.write(der)
        tmp.flush()
        out = subprocess.run(
            ["openssl", "x509", "-inform", "DER", "-in", tmp.name, "-noout",
             "-subject", "-nameopt", "RFC2253"],
            check=True, capture_output=True, text=True).stdout.strip()
    return out.removeprefix("subject=")


def first_certificate(frame):
    """The leaf certificate of a TLS Certificate message: tshark lists the
    certificates of the chain in order."""
    certs = frame.all("tls.handshake.certificate")
    return hexbytes(certs[0]) if certs else None


class Rig:
    def __init__(self, frames, facts):
        self.frames = frames
        self.errors = []
        self.devices = collections.OrderedDict()
        self.by_name_mac = {}
        self.inet = {}
        self.forbidden = []
        self.auth = []
        self.tools = {}
        self.packages = {}
        for subject, key, value in facts:
            if subject.startswith("forbidden:"):
                self.forbidden.append({"value": value, "kind": subject.split(":", 1)[1],
                                       "on_wire": key == "yes"})
            elif subject.startswith("auth:"):
                server, method, principal, result, reason = value.split("|", 4)
                self.auth.append({"protocol": subject.split(":", 1)[1], "client": key,
                                  "server": server, "method": method, "principal": principal,
                                  "result": result, "reason": reason})
            elif subject == "tool":
                self.tools[key] = value
            elif subject == "package":
                self.packages[key] = value
            elif subject == "inet":
                if key == "contacted_by":
                    self.inet.setdefault(key, []).append(value)
                else:
                    self.inet[key] = value
            else:
                d = self.devices.setdefault(subject, {
                    "name": subject, "namespace": "vrig-" + subject, "attrs": [], "learn": [],
                    "ips": []})
                if key.startswith("attr:"):
                    d["attrs"].append((key[5:], value))
                elif key.startswith("learn:"):
                    d["learn"].append(key[6:])
                elif key == "ip":
                    d["ips"].append(value)
                else:
                    d[key] = value
        for d in self.devices.values():
            self.by_name_mac[d["name"]] = d["mac"]

    def fail(self, msg):
        self.errors.append(msg)

    def sent(self, mac, pred=lambda f: True):
        return [f for f in self.frames if f.src == mac and pred(f)]

    def received(self, mac, pred=lambda f: True):
        return [f for f in self.frames if f.dst == mac and pred(f)]

    # --- addresses ---

    def dhcp_acks(self, mac):
        ips = []
        for f in self.frames:
            if f.first("dhcp.option.dhcp") == "5" and f.first("dhcp.hw.mac_addr") == mac:
                ip = f.first("dhcp.ip.your")
                if not ips or ips[-1] != ip:
                    ips.append(ip)
        return ips

    def check_addresses(self, d, dhcp_log):
        mac = d["mac"]
        if d["addressing"] == "dhcp":
            from_log = []
            for line in dhcp_log.get(d["name"], []):
                parts = line.split()
                if len(parts) == 3 and (not from_log or from_log[-1] != parts[2]):
                    from_log.append(parts[2])
            acks = self.dhcp_acks(mac)
            if acks != from_log:
                self.fail(f"{d['name']}: DHCP ACKs in the capture {acks} != client's leases {from_log}")
            d["ips"] = acks
        if not d["ips"]:
            self.fail(f"{d['name']}: no address")
        allowed = {ipaddress.ip_address(ip) for ip in d["ips"]} | {ipaddress.ip_address("0.0.0.0")}
        forwards = ipaddress.ip_network("203.0.113.0/24")
        used = []
        for f in self.sent(mac):
            # Its own addresses: IP source, ARP sender, LLDP management address.
            for field in ("ip.src", "arp.src.proto_ipv4", "lldp.mgn.addr.ip4"):
                # (only the outer IP header: an ICMP error quotes another)
                for v in f.all(field)[:1] if field == "ip.src" else f.all(field):
                    ip = ipaddress.ip_address(v)
                    if field == "ip.src" and d["name"] == "router" and ip in forwards:
                        continue  # routed, not its own
                    if ip not in allowed:
                        self.fail(f"{d['name']}: frame {f.first('frame.number')} from {mac} has {field} {ip}")
                    elif str(ip) != "0.0.0.0" and str(ip) not in used:
                        used.append(str(ip))
        if used != d["ips"]:
            self.fail(f"{d['name']}: the capture shows addresses {used}, expected {d['ips']}")

    # --- attributes ---

    def values(self, d, attr):
        """Every value of attr that the capture attributes to device d."""
        mac, name = d["mac"], d["name"]
        out = []
        if attr == "hostname":
            for f in self.sent(mac):
                out += f.all("dhcp.option.hostname") if f.first("dhcp.option.dhcp") in ("1", "3", "8") else []
                if f.port(5353):
                    out += [n.removesuffix(".local") for n in f.all("dns.resp.name") if n.endswith(".local")
                            and "_tcp" not in n and "_udp" not in n and ".arpa" not in n]
        elif attr == "dhcp.vendor_class":
            for f in self.sent(mac):
                out += f.all("dhcp.option.vendor_class_id")
        elif attr == "dicom.ae_title":
            # The calling AE title of the associations it requested, and the
            # called AE title of those it accepted (A-ASSOCIATE-AC on the
            # same TCP stream): a rejected called AE title is not its name.
            for f in self.sent(mac, lambda f: f.first("dicom.pdu.type") == "0x01"):
                out += [v.strip() for v in f.all("dicom.assoc.ae.calling")]
            accepted = {f.first("tcp.stream") for f in self.sent(
                mac, lambda f: f.first("dicom.pdu.type") == "0x02")}
            for f in self.received(mac, lambda f: f.first("dicom.pdu.type") == "0x01"):
                if f.first("tcp.stream") in accepted:
                    out += [v.strip() for v in f.all("dicom.assoc.ae.called")]
        elif attr == "dicom.role":
            if self.sent(mac, lambda f: f.first("dicom.pdu.type") == "0x01"):
                out.append("scu")
            if self.sent(mac, lambda f: f.first("dicom.pdu.type") == "0x02"):
                out.append("scp")
        elif attr in ("dicom.implementation_class_uid", "dicom.implementation_version"):
            field = "dicom.userinfo.uid" if attr.endswith("uid") else "dicom.userinfo.version"
            for f in self.sent(mac, lambda f: f.first("dicom.pdu.type") in ("0x01", "0x02")):
                out += f.all(field)
        elif attr in ("vendor", "model", "serial", "software_version", "dicom.station_name",
                      "dicom.institution_name", "dicom.modality"):
            for f in self.sent(mac, lambda f: f.port(104)):
                out += [v.strip() for v in f.all("dicom.tag.value.str")]
        elif attr.startswith("hl7."):
            key = attr[4:]
            if key.startswith("receiving_"):
                frames = self.received(mac, lambda f: f.has("hl7.raw"))
                idx = 5 if key == "receiving_application" else 6
            else:
                frames = self.sent(mac, lambda f: f.has("hl7.raw"))
                idx = {"sending_application": 3, "sending_facility": 4,
                       "message_type": 9, "version": 12}[key]
            for f in frames:
                for raw in f.all("hl7.raw"):
                    m = msh(raw)
                    if len(m) > idx:
                        v = m[idx].split("^")[0] if idx in (3, 4, 5, 6) else m[idx]
                        out.append(message_type(v) if idx == 9 else v)
        elif attr == "lldp.system_name":
            out = [v for f in self.sent(mac) for v in f.all("lldp.tlv.system.name")]
        elif attr == "lldp.system_description":
            out = [v for f in self.sent(mac) for v in f.all("lldp.tlv.system.desc")]
        elif attr == "lldp.management_address":
            out = [v for f in self.sent(mac) for v in f.all("lldp.mgn.addr.ip4")]
        elif attr == "lldp.chassis_id":
            out = [v for f in self.sent(mac) for v in f.all("lldp.chassis.id.mac")]
        elif attr == "lldp.port_id":
            out = [v for f in self.sent(mac) for v in f.all("lldp.port.id.mac") + f.all("lldp.port.id")]
        elif attr.startswith("snmp.sys_"):
            oid = {"snmp.sys_descr": "1.3.6.1.2.1.1.1.0", "snmp.sys_object_id": "1.3.6.1.2.1.1.2.0",
                   "snmp.sys_contact": "1.3.6.1.2.1.1.4.0", "snmp.sys_name": "1.3.6.1.2.1.1.5.0",
                   "snmp.sys_location": "1.3.6.1.2.1.1.6.0"}[attr]
            for f in self.sent(mac, lambda f: f.has("snmp.get_response_element")):
                if oid not in f.all("snmp.name"):
                    continue
                if attr == "snmp.sys_object_id":
                    out += f.all("snmp.value.oid")
                else:
                    out += [hexbytes(v).decode("utf-8", "replace") for v in f.all("snmp.value.octets")]
        elif attr == "ssh.banner":
            out = [v for f in self.sent(mac) for v in f.all("ssh.protocol")]
        elif attr == "telnet.banner":
            text = "".join(v for f in self.sent(mac, lambda f: f.sport() == "23") for v in f.all("telnet.data"))
            head = text.split("login:")[0]
            out = [line.strip() for line in head.replace("\r", "\n").split("\n") if line.strip()]
        elif attr == "tls.sni":
            out = [v for f in self.sent(mac) for v in f.all("tls.handshake.extensions_server_name")]
        elif attr == "tls.cert_subject":
            for f in self.sent(mac, lambda f: f.has("tls.handshake.certificate")):
                out.append(cert_subject(first_certificate(f)))
        elif attr == "tls.version":
            for f in self.sent(mac, lambda f: "2" in f.all("tls.handshake.type")):
                if f.first("tls.handshake.version") == "0x0303":
                    out.append("1.2")
        elif attr == "http.user_agent":
            out = [v for f in self.sent(mac) for v in f.all("http.user_agent")]
        elif attr == "http.server":
            out = [v for f in self.sent(mac) for v in f.all("http.server")]
        elif attr == "dns.query":
            for f in self.sent(mac, lambda f: f.first("udp.dstport") == "53"
                               and f.first("dns.flags.response") in ("0", "False")):
                out += f.all("dns.qry.name")
        elif attr == "mdns.service":
            for f in self.sent(mac, lambda f: f.port(5353)):
                for n in f.all("dns.resp.name") + f.all("dns.ptr.domain_name") + f.all("dns.srv.name"):
                    parts = n.removesuffix(".local").split(".")
                    if len(parts) >= 2 and parts[-1] in ("_tcp", "_udp"):
                        out.append(".".join(parts[-2:]))
        elif attr == "insecure_protocol":
            ends = self.sent(mac) + self.received(mac)
            if any(f.port(23) and f.has("telnet.data") for f in ends):
                out.append("telnet")
            if any(f.first("snmp.version") == "0" for f in ends):
                out.append("snmpv1")
        elif attr == "cleartext_credential":
            ends = self.sent(mac) + self.received(mac)
            if any(f.port(23) and any(
                    "password" in v.lower() for v in f.all("telnet.data")) for f in ends):
                out.append("telnet login")
            if any(f.has("http.authorization") for f in ends):
                out.append("http basic")
            if any(f.has("snmp.community") for f in ends):
                out.append("snmp community")
        else:
            self.fail(f"{name}: no capture check for attribute {attr}")
        return out

    def check_attributes(self, d):
        attrs = collections.OrderedDict()
        for attr, want in d["attrs"]:
            got = self.values(d, attr)
            if want not in got:
                uniq = sorted(set(got))[:8]
                self.fail(f"{d['name']}: {attr} = {want!r} not in the capture (it holds {uniq})")
            attrs.setdefault(attr, [])
            if want not in attrs[attr]:
                attrs[attr].append(want)
        for attr in d["learn"]:
            got = list(dict.fromkeys(v for v in self.values(d, attr) if v))
            if len(got) != 1:
                self.fail(f"{d['name']}: {attr}: expected one value in the capture, found {got}")
                continue
            attrs[attr] = got
        sshd = self.tools.get("sshd", "")
        if "ssh.banner" in attrs:
            b = attrs["ssh.banner"][0]
            if not b.startswith("SSH-2.0-") or (sshd and sshd not in b):
                self.fail(f"{d['name']}: ssh banner {b!r} is not from {sshd}")
        if "http.server" in attrs:
            nginx = self.tools.get("nginx", "")
            if attrs["http.server"][0] != nginx:
                self.fail(f"{d['name']}: Server header {attrs['http.server'][0]!r} is not {nginx!r}")
        d["attributes"] = attrs

    # --- authentication outcomes ---

    def check_auth(self, a):
        c, s = self.by_name_mac[a["client"]], self.by_name_mac[a["server"]]
        proto, result = a["protocol"], a["result"]
        ok = False
        if proto == "dicom":
            pdu = "0x02" if result == "success" else "0x03"
            ok = bool([f for f in self.sent(s) if f.dst == c and f.first("dicom.pdu.type") == pdu])
            a["evidence"] = "A-ASSOCIATE-AC" if result == "success" else "A-ASSOCIATE-RJ"
        elif proto == "snmp":
            reqs = [f for f in self.sent(c) if f.dst == s and f.has("snmp.community")]
            resps = [f for f in self.sent(s) if f.dst == c and f.has("snmp.get_response_element")]
            answered = {f.first("snmp.community") for f in resps}
            asked = {f.first("snmp.community") for f in reqs}
            if result == "success":
                ok = bool(answered)
                a["evidence"] = "GetResponse"
            else:
                ok = bool(asked - answered)
                a["evidence"] = "GetRequest without a response"
        elif proto == "ssh":
            ok = bool([f for f in self.sent(c) if f.dst == s and f.has("ssh.protocol")]) and bool(
                [f for f in self.sent(s) if f.dst == c and f.has("ssh.protocol")])
            a["evidence"] = "encrypted: outcome from the client's log only"
        elif proto == "telnet":
            text = "".join(v for f in self.sent(s) if f.dst == c for v in f.all("telnet.data"))
            ok = ("Login incorrect" in text) == (result == "failure")
            a["evidence"] = "server printed 'Login incorrect'" if result == "failure" else "shell prompt"
        elif proto == "http":
            codes = [f.first("http.response.code") for f in self.sent(s) if f.dst == c]
            auths = [f for f in self.sent(c) if f.dst == s and f.has("http.authorization")]
            ok = bool(auths) and ("401" in codes) == (result == "failure")
            a["evidence"] = "Authorization: Basic, then 401" if result == "failure" else "Authorization: Basic, then 2xx"
        else:
            self.fail(f"auth {proto}: no capture check")
        if not ok:
            self.fail(f"auth {proto} {a['client']} -> {a['server']} {result}: not in the capture")
        a["client_mac"], a["server_mac"] = c, s
        a["client_ip"] = self.devices[a["client"]]["ips"][-1] if a["client"] in self.devices else ""
        a["server_ip"] = self.devices[a["server"]]["ips"][-1] if a["server"] in self.devices else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--facts", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dhcp-log", action="append", default=[], help="DEVICE=FILE")
    args = ap.parse_args()

    frames = read_frames(args.pcap)
    rig = Rig(frames, read_facts(args.facts))
    dhcp_log = {}
    for spec in args.dhcp_log:
        name, path = spec.split("=", 1)
        with open(path, encoding="utf-8") as fh:
            # "udhcpc bound IP", "udhcpc renew IP", "dhclient BOUND IP", ...
            dhcp_log[name] = [l.strip() for l in fh if len(l.split()) == 3 and l.split()[1].lower() in (
                "bound", "renew", "rebind", "reboot")]

    vendors = manuf_vendors()
    by_mac = collections.Counter(f.src for f in frames)
    for d in rig.devices.values():
        oui = d["mac"].upper()[:8]
        d["oui_vendor"] = vendors.get(oui, "")
        if not d["oui_vendor"]:
            rig.fail(f"{d['name']}: OUI {oui} is not in Wireshark's manuf")
        if by_mac[d["mac"]] == 0:
            rig.fail(f"{d['name']}: no frame from {d['mac']}")
        rig.check_addresses(d, dhcp_log)
        rig.check_attributes(d)
    for a in rig.auth:
        rig.check_auth(a)

    with open(args.pcap, "rb") as fh:
        raw = fh.read()
    for fs in rig.forbidden:
        present = fs["value"].encode() in raw
        if fs["on_wire"] and not present:
            rig.fail(f"forbidden string {fs['value']!r} ({fs['kind']}) is not in the capture")
        if not fs["on_wire"] and present:
            rig.fail(f"forbidden string {fs['value']!r} is in the capture in clear, but marked encoded")

    macs = [d["mac"] for d in rig.devices.values()]
    if len(set(macs)) != len(macs):
        rig.fail("duplicate MAC addresses")
    other = {m for m in by_mac if m not in macs}
    if other:
        rig.fail(f"frames from MACs that are no rig device: {sorted(other)}")

    if rig.errors:
        for e in rig.errors:
            print("truth: " + e, file=sys.stderr)
        return 1

    truth = {
        "schema": 1,
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "capture": os.path.basename(args.pcap),
        "frames": len(frames),
        "networks": {"lan": "192.0.2.0/24", "gateway": "192.0.2.1", "dns": "192.0.2.2",
                     "internet": "203.0.113.0/24"},
        "tools": rig.tools,
        "packages": rig.packages,
        "devices": [{
            "name": d["name"], "namespace": d["namespace"], "role": d["role"], "class": d["class"],
            "mac": d["mac"], "oui_vendor": d["oui_vendor"], "ips": d["ips"],
            "addressing": d["addressing"], "vlan": 0, "frames": by_mac[d["mac"]],
            "attributes": d["attributes"],
        } for d in rig.devices.values()],
        "internet_hosts": [{"name": "inet", "namespace": "vrig-inet", "ip": rig.inet["ip"],
                            "via": rig.inet["via"], "contacted_by": rig.inet.get("contacted_by", [])}],
        "forbidden_strings": rig.forbidden,
        "auth": rig.auth,
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
