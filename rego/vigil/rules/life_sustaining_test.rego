package vigil.rules.life_sustaining_test

import data.vigil.fixtures
import data.vigil.main

peer := {"peer": {"ip": "10.1.2.50", "port": 22}, "transport": "tcp", "port": 22}

test_new_peer_of_ventilator_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_peer", fixtures.ventilator, peer)
	a.rule == "life_sustaining_new_peer"
	a.severity == "critical"
	a.title == "Life-sustaining device vent-icu-7 talked to new peer 10.1.2.50:22"
	a.tags == ["baseline", "life-sustaining", "medical"]
}

test_while_learning_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_peer", fixtures.ventilator, object.union(peer, {"baseline": fixtures.learning}))
	a.severity == "high"
}

test_other_devices_keep_the_generic_rule if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_peer", fixtures.ct, peer)
	a.rule == "new_peer"
}

test_only_new_peers if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_port", fixtures.ventilator, peer)
	a.rule == "new_port"
}
