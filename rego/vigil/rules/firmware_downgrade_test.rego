package vigil.rules.firmware_downgrade_test

import data.vigil.fixtures
import data.vigil.main

downgrade := {"attribute": "firmware_version", "previous": "3.2.0", "value": "2.9.1", "change": "downgrade", "app_proto": "snmp"}

test_medical_downgrade_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("identity_change", fixtures.pump, downgrade)
	a.rule == "firmware_downgrade"
	a.severity == "critical"
	a.title == "pump-17 firmware version downgraded from 3.2.0 to 2.9.1"
	a.tags == ["identity", "firmware", "mitre:T0857", "medical"]
}

test_workstation_downgrade_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("identity_change", downgrade)
	a.severity == "high"
}

test_software_downgrade if {
	body := object.union(downgrade, {"attribute": "software_version"})
	a := fixtures.only(main.alerts) with input as fixtures.deviation("identity_change", body)
	a.rule == "firmware_downgrade"
	a.title == "ws-radiology-3 software version downgraded from 3.2.0 to 2.9.1"
}

test_upgrade_is_not_a_downgrade if {
	body := object.union(downgrade, {"change": "upgrade", "previous": "2.9.1", "value": "3.2.0"})
	alerts := main.alerts with input as fixtures.with_device("identity_change", fixtures.pump, body)
	every a in alerts {
		a.rule != "firmware_downgrade"
	}
}
