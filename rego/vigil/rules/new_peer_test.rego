package vigil.rules.new_peer_test

import data.vigil.fixtures
import data.vigil.main

peer := {"peer": {"ip": "10.1.2.50", "port": 104}, "transport": "tcp", "port": 104}

test_new_peer_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_peer", peer)
	a.rule == "new_peer"
	a.severity == "medium"
	a.title == "ws-radiology-3 talked to new peer 10.1.2.50:104"
	a.description == "test new_peer deviation. Baseline ready after 1200 flows (4 known peers, 2 known ports)."
}

test_new_peer_while_learning_is_low if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_peer", object.union(peer, {"baseline": fixtures.learning}))
	a.severity == "low"
	contains(a.description, "still learning")
}

test_new_peer_of_medical_device_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_peer", fixtures.pump, peer)
	a.severity == "high"
	"medical" in a.tags
}

test_new_peer_of_learning_medical_device_is_medium if {
	input_doc := fixtures.with_device("new_peer", fixtures.pump, object.union(peer, {"baseline": fixtures.learning}))
	a := fixtures.only(main.alerts) with input as input_doc
	a.severity == "medium"
}
