package vigil.rules.new_protocol_test

import data.vigil.fixtures
import data.vigil.main

proto := {"peer": {"ip": "10.1.2.50", "port": 104}, "transport": "tcp", "port": 104, "app_proto": "dicom"}

test_new_protocol_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_protocol", proto)
	a.rule == "new_protocol"
	a.severity == "medium"
	a.title == "ws-radiology-3 spoke new protocol dicom"
}

test_new_protocol_while_learning_is_low if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_protocol", object.union(proto, {"baseline": fixtures.learning}))
	a.severity == "low"
}

test_new_protocol_of_medical_device_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_protocol", fixtures.pump, proto)
	a.severity == "high"
}

test_unknown_protocol_named if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_protocol", {"port": 9999})
	a.title == "ws-radiology-3 spoke new protocol unknown"
}
