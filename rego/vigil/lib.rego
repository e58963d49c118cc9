# Package vigil.lib holds the helpers shared by the shipped rules and
# available to site policies (import data.vigil.lib).
package vigil.lib

# settings is the site's policy settings (policy.settings in the Vigil
# configuration file), exposed as data.vigil.settings; {} when unset.
default settings := {}

settings := data.vigil.settings

# setting(name, fallback) is the value of a setting, or fallback when the
# setting is absent.
setting(name, fallback) := object.get(settings, name, fallback)

# severities lists the alert severities from least to most severe.
severities := ["info", "low", "medium", "high", "critical"]

# severity_rank maps a severity to its index in severities.
severity_rank[s] := i if some i, s in severities

# escalate(sev) is one severity above sev (critical stays critical).
escalate(sev) := severities[min([severity_rank[sev] + 1, count(severities) - 1])]

# deescalate(sev) is one severity below sev (info stays info).
deescalate(sev) := severities[max([severity_rank[sev] - 1, 0])]

# default_medical_categories are the device categories treated as medical
# when the site sets no medical_categories of its own.
default_medical_categories := {
	"anesthesia",
	"dialysis",
	"imaging",
	"infusion_pump",
	"lab_analyzer",
	"medical",
	"medical_device",
	"patient_monitor",
	"ventilator",
}

# medical_categories is settings.medical_categories (lower-cased) when set,
# else default_medical_categories. A site list replaces the default one.
medical_categories := {lower(c) | some c in settings.medical_categories} if {
	is_array(settings.medical_categories)
} else := default_medical_categories

# is_medical(device) is true when the inventory's classification marks
# the device medical (device.medical), when its category is one of
# medical_categories, or when a site marked it with the attributes
# "medical" (true/yes/1) or "category".
is_medical(device) if device.medical == true

is_medical(device) if lower(device.category) in medical_categories

is_medical(device) if lower(device.attributes.medical) in {"true", "yes", "1"}

is_medical(device) if lower(device.attributes.category) in medical_categories

# is_identified(device) is true when the inventory has classified the device.
is_identified(device) if {
	device.category != ""
	device.category != "unknown"
}

is_identified(device) if device.attributes.category != ""

# criticality(device) is the device's clinical criticality:
# life_sustaining, patient_connected, clinical_support, non_clinical or
# unknown.
default criticality(_) := "unknown"

criticality(device) := device.criticality if device.criticality != ""

# keeps_patient_alive(device) is true for life-sustaining devices: their
# alerts are raised one level higher, and no block reaches them without a
# person's approval (the enforcement gate).
keeps_patient_alive(device) if criticality(device) == "life_sustaining"

# baseline_ready is true when the device's baseline finished learning.
baseline_ready if input.body.baseline.ready == true

# device_label(device) names a device for a human: its hostname, else its
# addresses, else its key.
device_label(device) := device.attributes.hostname if {
	device.attributes.hostname != ""
} else := concat(", ", device.ips) if {
	count(device.ips) > 0
} else := device.key

# peer_ip is the deviation's peer address, "" when it has none.
peer_ip := object.get(input.body, ["peer", "ip"], "")

# peer_text names the deviation's peer for a human: "ip:port", "ip", or
# "an unknown peer" when the deviation has none.
peer_text := sprintf("%s:%d", [input.body.peer.ip, input.body.peer.port]) if {
	input.body.peer.port > 0
} else := input.body.peer.ip if {
	input.body.peer.ip != ""
} else := "an unknown peer"

# internet_allowed(ip) is true when ip falls in one of the CIDRs of
# settings.internet_allow (vendor remote-service endpoints, for example).
internet_allowed(ip) if {
	ip != ""
	some cidr in setting("internet_allow", [])
	net.cidr_contains(cidr, ip)
}

# edge_severity is the severity of a new peer, port or protocol: medium once
# the baseline is ready, low while it is still learning, one step higher for
# a medical device.
edge_severity := escalate(base_edge_severity) if {
	is_medical(input.body.device)
} else := base_edge_severity

base_edge_severity := "medium" if baseline_ready else := "low"

# baseline_note is a sentence on how much the baseline knew.
baseline_note := sprintf("Baseline ready after %d flows (%d known peers, %d known ports).", [
	object.get(input.body.baseline, "observations", 0),
	object.get(input.body.baseline, "known_peers", 0),
	object.get(input.body.baseline, "known_ports", 0),
]) if {
	baseline_ready
} else := sprintf("Baseline still learning (%d flows so far); judged with less context.", [
	object.get(input.body.baseline, "observations", 0),
])

# medical_tags is ["medical"] for a medical device, [] otherwise.
medical_tags := ["medical"] if is_medical(input.body.device) else := []

# deviation is true when input is a deviation of the given type.
deviation(type) if {
	input.kind == "deviation"
	input.body.type == type
}

# deviation_in(types) is true when input is a deviation of one of types (a
# set).
deviation_in(types) if {
	input.kind == "deviation"
	input.body.type in types
}

# category(device) is the device's classification, else the category a
# site set as an attribute, else "".
category(device) := device.category if {
	device.category != ""
} else := device.attributes.category if {
	device.attributes.category != ""
} else := ""

# listed(ip, entries) is true when ip equals one of entries or falls in
# one of them (entries are addresses or CIDRs, as in settings.pacs).
listed(ip, entries) if {
	ip != ""
	some e in entries
	e == ip
}

listed(ip, entries) if {
	ip != ""
	some e in entries
	contains(e, "/")
	net.cidr_contains(e, ip)
}

# device_listed(device, entries) is true when one of the device's
# addresses is listed in entries.
device_listed(device, entries) if {
	some ip in device.ips
	listed(ip, entries)
}

# bytes_text(n) writes a byte count for a human ("12.5 MiB").
bytes_text(n) := sprintf("%v GiB", [round((n * 10) / 1073741824) / 10]) if {
	n >= 1073741824
} else := sprintf("%v MiB", [round((n * 10) / 1048576) / 10]) if {
	n >= 1048576
} else := sprintf("%v KiB", [round((n * 10) / 1024) / 10]) if {
	n >= 1024
} else := sprintf("%v B", [n])

# mitre(ids) are alert tags for MITRE ATT&CK (for ICS) technique IDs:
# "mitre:T0886", ...
mitre(ids) := [sprintf("mitre:%s", [id]) | some id in ids]

# Segments, allowlists and device groups are settings too (see
# docs/policy.md): settings.segments maps a segment name to addresses or
# CIDRs, settings.allowlists a list name to addresses or CIDRs, and
# settings.device_groups a group name to members given as addresses,
# CIDRs, MACs or "category:<name>".

# segments_of(ip) is the set of segment names whose ranges hold ip.
segments_of(ip) := {name |
	some name, entries in setting("segments", {})
	listed(ip, entries)
}

# in_segment(ip, name) is true when ip is in segment name.
in_segment(ip, name) if name in segments_of(ip)

# allowed(list, ip) is true when ip is in allowlist list.
allowed(list, ip) if listed(ip, object.get(setting("allowlists", {}), list, []))

# in_group(device, name) is true when the device is a member of device
# group name: by one of its addresses, its MAC, or its category.
in_group(device, name) if device_listed(device, object.get(setting("device_groups", {}), name, []))

in_group(device, name) if {
	some m in object.get(setting("device_groups", {}), name, [])
	lower(m) == lower(object.get(device, "mac", ""))
}

in_group(device, name) if {
	some m in object.get(setting("device_groups", {}), name, [])
	startswith(m, "category:")
	lower(trim_prefix(m, "category:")) == lower(category(device))
}
