package vigil.rules.hl7_test

import data.vigil.fixtures
import data.vigil.main

to(ip, category) := {
	"direction": "outbound", "peer": {"ip": ip, "port": 2575}, "transport": "tcp", "port": 2575,
	"app_proto": "hl7", "peer_category": category,
}

hl7_alerts(doc) := {a | some a in main.alerts with input as doc; a.rule == "hl7_outside_engine"}

test_to_the_engine_is_allowed if {
	count(hl7_alerts(fixtures.deviation("new_peer", to("10.1.0.31", "hl7_engine")))) == 0
	count(hl7_alerts(fixtures.deviation("new_peer", to("10.1.0.31", "")))) == 0 with data.vigil.settings as {"hl7_engines": ["10.1.0.31"]}
}

test_bypassing_the_engine if {
	a := fixtures.only(hl7_alerts(fixtures.deviation("new_peer", to("10.1.0.40", "clinical_system"))))
	a.severity == "medium"
	a.title == "ws-radiology-3 exchanged HL7 with 10.1.0.40:2575, bypassing the interface engine"
	a.tags == ["hl7", "mitre:T0882"]
}

test_medical_device_is_high if {
	a := fixtures.only(hl7_alerts(fixtures.with_device("new_port", fixtures.pump, to("10.1.0.40", ""))))
	a.severity == "high"
}

test_the_engine_itself_may_talk_to_anyone if {
	engine := json.patch(fixtures.device, [{"op": "replace", "path": "/attributes/category", "value": "hl7_engine"}])
	count(hl7_alerts(fixtures.with_device("new_peer", engine, to("10.1.0.40", "clinical_system")))) == 0
}
