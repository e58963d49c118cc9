package vigil.rules.auth_failures_test

import data.vigil.fixtures
import data.vigil.main

burst := {
	"direction": "outbound", "peer": {"ip": "10.1.2.50", "port": 21}, "port": 21,
	"app_proto": "ftp", "count": 20,
}

test_burst_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("auth_failures", burst)
	a.rule == "authentication_failure_burst"
	a.severity == "high"
	a.title == "ws-radiology-3 failed 20 ftp logins against 10.1.2.50:21"
	a.tags == ["credential-access", "mitre:T0859", "mitre:T1110"]
}

test_medical_client_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("auth_failures", fixtures.pump, burst)
	a.severity == "critical"
}

test_dicom_rejections_are_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("auth_failures", object.union(burst, {"app_proto": "dicom", "port": 104}))
	a.severity == "medium"
}

test_attacked_from_outside if {
	body := json.patch(burst, [
		{"op": "replace", "path": "/direction", "value": "inbound"},
		{"op": "replace", "path": "/peer", "value": {"ip": "198.51.100.7"}},
	])
	a := fixtures.only(main.alerts) with input as fixtures.with_device("auth_failures", fixtures.pump, body)
	a.severity == "high"
	a.title == "pump-17 refused 20 ftp logins from 198.51.100.7"
}

test_raised_while_learning if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("auth_failures", object.union(burst, {"baseline": fixtures.learning}))
	a.severity == "high"
}
