package vigil.rules.scanner_test

import data.vigil.fixtures
import data.vigil.main

engine := {"peer": {"ip": "10.0.5.10"}, "summary": "scan engine 10.0.5.10 opened tcp/443 on an excluded device"}

test_scan_of_excluded_pump_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("scanned_while_excluded", fixtures.pump, engine)
	a.rule == "scanned_while_excluded"
	a.severity == "critical"
	contains(a.title, "10.0.5.10")
	"patient-safety" in a.tags
}

test_scan_of_excluded_non_medical_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("scanned_while_excluded", engine)
	a.severity == "high"
}

test_exclusion_drift_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("scanner_exclusion_drift", fixtures.pump, {"summary": "10.20.0.102 removed from site Clinical"})
	a.rule == "scanner_exclusion_drift"
	a.severity == "medium"
}
