package vigil.rules.scan_test

import data.vigil.fixtures
import data.vigil.main

test_scan_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("scan", {"count": 254})
	a.rule == "network_scan"
	a.severity == "high"
	a.title == "ws-radiology-3 scanned 254 hosts or ports"
	"mitre:T1046" in a.tags
	"mitre:T0846" in a.tags
}

test_medical_scan_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("scan", fixtures.pump, {"count": 40})
	a.severity == "critical"
}

test_scan_requests_no_block if {
	count(main.enforce) == 0 with input as fixtures.with_device("scan", fixtures.pump, {"count": 40})
}
