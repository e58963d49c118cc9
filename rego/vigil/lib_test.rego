package vigil.lib_test

import data.vigil.fixtures
import data.vigil.lib
import data.vigil.main

test_escalate if {
	lib.escalate("info") == "low"
	lib.escalate("high") == "critical"
	lib.escalate("critical") == "critical"
}

test_deescalate if {
	lib.deescalate("medium") == "low"
	lib.deescalate("info") == "info"
}

test_is_medical_by_category if lib.is_medical(fixtures.pump)

test_is_medical_by_attribute if lib.is_medical({"attributes": {"medical": "yes"}})

test_not_medical if {
	not lib.is_medical(fixtures.device)
	not lib.is_medical(fixtures.unknown)
	not lib.is_medical({"attributes": {"medical": "false"}})
}

test_not_a_deviation_raises_nothing if {
	count(main.alerts) == 0 with input as {"kind": "flow", "body": {"type": "internet"}}
	count(main.enforce) == 0 with input as {"kind": "flow", "body": {"type": "internet"}}
}

test_unknown_deviation_type_raises_nothing if {
	count(main.alerts) == 0 with input as fixtures.deviation("firmware_change", {})
}

test_internet_allowed if {
	lib.internet_allowed("192.0.2.10") with data.vigil.settings as {"internet_allow": ["192.0.2.0/28"]}
	not lib.internet_allowed("192.0.2.100") with data.vigil.settings as {"internet_allow": ["192.0.2.0/28"]}
	not lib.internet_allowed("192.0.2.10")
}
