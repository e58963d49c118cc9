package vigil.rules.new_device_test

import data.vigil.fixtures
import data.vigil.main

test_unidentified_new_device_is_low if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_device", fixtures.unknown, {})
	a.rule == "new_device"
	a.severity == "low"
	a.title == "New device 10.1.9.9"
}

test_identified_new_device_is_info if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("new_device", {})
	a.severity == "info"
	a.title == "New device ws-radiology-3"
}

test_new_medical_device_is_tagged if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_device", fixtures.pump, {})
	a.tags == ["inventory", "medical"]
}

test_device_without_address_uses_key if {
	dev := {"key": "ip:10.9.9.9/0"}
	a := fixtures.only(main.alerts) with input as fixtures.with_device("new_device", dev, {})
	a.title == "New device ip:10.9.9.9/0"
}
