package vigil.rules.dicom_test

import data.vigil.fixtures
import data.vigil.main

to(ip, category) := {
	"direction": "outbound", "peer": {"ip": ip, "port": 104}, "transport": "tcp", "port": 104,
	"app_proto": "dicom", "peer_category": category,
}

dicom_alerts(doc) := {a | some a in main.alerts with input as doc; a.rule == "dicom_outside_pacs"}

test_modality_to_pacs_is_allowed if {
	count(dicom_alerts(fixtures.with_device("new_peer", fixtures.ct, to("10.30.0.5", "pacs")))) == 0
}

test_modality_to_unknown_host if {
	a := fixtures.only(dicom_alerts(fixtures.with_device("new_peer", fixtures.ct, object.remove(to("10.9.9.9", ""), ["peer_category"]))))
	a.severity == "high"
	a.title == "ct-scanner-1 exchanged DICOM with 10.9.9.9:104 outside the imaging network"
	contains(a.description, "peer 10.9.9.9:104 is not an imaging device or PACS (category unknown)")
	a.tags == ["dicom", "mitre:T0882", "medical"]
}

test_workstation_speaking_dicom if {
	a := fixtures.only(dicom_alerts(fixtures.deviation("new_port", to("10.30.0.5", "pacs"))))
	contains(a.description, "ws-radiology-3 is not an imaging device or PACS (category workstation)")
}

test_listed_pacs_without_classification if {
	count(dicom_alerts(fixtures.with_device("new_peer", fixtures.ct, to("10.30.0.5", "")))) == 0 with data.vigil.settings as {"pacs": ["10.30.0.5"]}
}

test_modality_to_modality_needs_a_listed_pacs if {
	doc := fixtures.with_device("new_peer", fixtures.ct, to("10.30.0.11", "imaging_workstation"))
	count(dicom_alerts(doc)) == 0
	a := fixtures.only(dicom_alerts(doc)) with data.vigil.settings as {"pacs": ["10.30.0.5"]}
	contains(a.description, "neither end is a PACS listed in settings.pacs")
}

test_pacs_answering_a_new_modality if {
	body := {"direction": "inbound", "peer": {"ip": "10.30.0.12"}, "transport": "tcp", "port": 104, "app_proto": "dicom", "peer_category": "imaging_mr"}
	count(dicom_alerts(fixtures.with_device("new_port", fixtures.pacs, body))) == 0 with data.vigil.settings as {"pacs": ["10.30.0.5"]}
}

test_other_protocols_are_ignored if {
	count(dicom_alerts(fixtures.deviation("new_peer", object.union(to("10.9.9.9", ""), {"app_proto": "tls"})))) == 0
}
