package vigil.rules.new_port_test

import data.vigil.fixtures
import data.vigil.main

port := {"peer": {"ip": "10.1.2.50", "port": 2575}, "transport": "tcp", "port": 2575}

test_new_port_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_port", port)
	a.rule == "new_port"
	a.severity == "medium"
	a.title == "ws-radiology-3 used new port tcp/2575"
}

test_new_port_while_learning_is_low if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_port", object.union(port, {"baseline": fixtures.learning}))
	a.severity == "low"
}

test_new_port_of_medical_device_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_port", fixtures.pump, port)
	a.severity == "high"
}
