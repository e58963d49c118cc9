package vigil.rules.off_hours_test

import data.vigil.fixtures
import data.vigil.main

night := {
	"direction": "outbound", "peer": {"ip": "10.1.2.50", "port": 445}, "transport": "tcp", "port": 445,
	"attribute": "hour_of_day", "value": "3",
	"baseline": object.union(fixtures.ready, {"active_hours": [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]}),
}

test_off_hours_is_low if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("off_hours", night)
	a.rule == "off_hours_activity"
	a.severity == "low"
	a.title == "ws-radiology-3 was active at 3:00, outside its usual hours"
}

test_medical_off_hours_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("off_hours", fixtures.pump, night)
	a.severity == "medium"
}
