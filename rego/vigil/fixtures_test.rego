# Package vigil.fixtures builds deviation inputs for Rego unit tests. It
# lives in a _test.rego file, so the engine never loads it as policy, but
# `vigil policy test` with the shipped library makes it available to site
# tests too (import data.vigil.fixtures).
package vigil.fixtures

# device is an identified, non-medical workstation.
device := {
	"key": "mac:00:11:22:33:44:55/10",
	"mac": "00:11:22:33:44:55",
	"ips": ["10.1.2.3"],
	"vlan": 10,
	"attributes": {"hostname": "ws-radiology-3", "category": "workstation"},
}

# pump is an infusion pump (medical by category).
pump := {
	"key": "mac:00:aa:bb:cc:dd:01/20",
	"mac": "00:aa:bb:cc:dd:01",
	"ips": ["10.20.0.17"],
	"vlan": 20,
	"attributes": {"hostname": "pump-17", "category": "infusion_pump"},
}

# ventilator is a life-sustaining device, classified as the baseline
# classifies (category, medical and criticality on the snapshot).
ventilator := {
	"key": "mac:00:aa:bb:cc:dd:07/20",
	"mac": "00:aa:bb:cc:dd:07",
	"ips": ["10.20.0.27"],
	"vlan": 20,
	"attributes": {"hostname": "vent-icu-7"},
	"category": "ventilator",
	"medical": true,
	"criticality": "life_sustaining",
}

# ct is a CT scanner (an imaging modality).
ct := {
	"key": "mac:44:4b:5d:21:7c:03/30",
	"mac": "44:4b:5d:21:7c:03",
	"ips": ["10.30.0.10"],
	"vlan": 30,
	"attributes": {"hostname": "ct-scanner-1"},
	"category": "imaging_ct",
	"medical": true,
	"criticality": "patient_connected",
}

# pacs is the image archive, at 10.30.0.5.
pacs := {
	"key": "mac:d4:ae:52:8a:10:11/30",
	"mac": "d4:ae:52:8a:10:11",
	"ips": ["10.30.0.5"],
	"vlan": 30,
	"attributes": {"hostname": "pacs-main"},
	"category": "pacs",
	"medical": true,
	"criticality": "clinical_support",
}

# unknown is a device the inventory has not classified.
unknown := {
	"key": "mac:00:de:ad:be:ef:00/10",
	"mac": "00:de:ad:be:ef:00",
	"ips": ["10.1.9.9"],
	"vlan": 10,
}

ready := {"ready": true, "observations": 1200, "known_peers": 4, "known_ports": 2}

learning := {"ready": false, "observations": 30, "known_peers": 1, "known_ports": 1}

# deviation(type, body) is a deviation event of the given type whose body is
# the default body merged (recursively) with body.
deviation(type, body) := {
	"version": "v1",
	"kind": "deviation",
	"id": "0123456789abcdef0123456789abcdef",
	"time": "2025-03-01T10:00:00Z",
	"source": {"component": "baseline"},
	"body": object.union(
		{
			"type": type,
			"device": device,
			"summary": sprintf("test %s deviation.", [type]),
			"baseline": ready,
		},
		body,
	),
}

# with_device(type, dev, body) is deviation(type, body) for device dev,
# replacing (not merging) the default device.
with_device(type, dev, body) := json.patch(
	deviation(type, body),
	[{"op": "replace", "path": "/body/device", "value": dev}],
)

# only(alerts) is the single alert of a set that must hold exactly one.
only(alerts) := a if {
	count(alerts) == 1
	some a in alerts
}
