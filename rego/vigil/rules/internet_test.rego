package vigil.rules.internet_test

import data.vigil.fixtures
import data.vigil.main

peer := {"peer": {"ip": "203.0.113.7", "port": 443}, "transport": "tcp", "port": 443}

test_workstation_internet_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("internet", peer)
	a.rule == "internet_communication"
	a.severity == "high"
	a.title == "ws-radiology-3 communicated with internet address 203.0.113.7:443"
	a.tags == ["internet"]
}

test_workstation_internet_is_not_blocked if {
	reqs := main.enforce with input as fixtures.deviation("internet", peer)
	count(reqs) == 0
}

test_medical_internet_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("internet", fixtures.pump, peer)
	a.severity == "critical"
	a.tags == ["internet", "medical"]
}

test_medical_attribute_is_critical if {
	dev := json.patch(fixtures.unknown, [{"op": "add", "path": "/attributes", "value": {"medical": "TRUE"}}])
	a := fixtures.only(main.alerts) with input as fixtures.with_device("internet", dev, peer)
	a.severity == "critical"
}

test_medical_internet_is_blocked_narrowly if {
	reqs := main.enforce with input as fixtures.with_device("internet", fixtures.pump, peer)
	reqs == {{
		"scope": {"ip": "10.20.0.17", "peer_ip": "203.0.113.7", "port": 443, "transport": "tcp"},
		"duration_s": 3600,
		"reason": "internet_communication: medical device pump-17 reached 203.0.113.7:443",
	}}
}

test_block_can_be_disabled if {
	reqs := main.enforce with input as fixtures.with_device("internet", fixtures.pump, peer)
		with data.vigil.settings as {"block_internet_medical": false}
	count(reqs) == 0
}

test_block_duration_setting if {
	some r in main.enforce with input as fixtures.with_device("internet", fixtures.pump, peer)
		with data.vigil.settings as {"block_duration_s": 600}
	r.duration_s == 600
}

test_allowed_destination_is_silent if {
	alerts := main.alerts with input as fixtures.with_device("internet", fixtures.pump, peer)
		with data.vigil.settings as {"internet_allow": ["203.0.113.0/24"]}
	count(alerts) == 0
}

test_other_destination_still_alerts_with_allow_list if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("internet", peer)
		with data.vigil.settings as {"internet_allow": ["198.51.100.0/24"]}
	a.rule == "internet_communication"
}

test_site_medical_categories_replace_default if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("internet", fixtures.pump, peer)
		with data.vigil.settings as {"medical_categories": ["Ventilator"]}
	a.severity == "high"
}

test_missing_peer_still_alerts if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("internet", {})
	a.title == "ws-radiology-3 communicated with internet address an unknown peer"
}

test_missing_peer_is_not_blocked if {
	count(main.enforce) == 0 with input as fixtures.with_device("internet", fixtures.pump, {})
}
