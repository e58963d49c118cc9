package vigil.rules.identity_change_test

import data.vigil.fixtures
import data.vigil.main

test_model_change_is_medium if {
	body := {"attribute": "model", "previous": "Infusomat Space", "value": "Perfusor Space", "change": "changed"}
	a := fixtures.only(main.alerts) with input as fixtures.deviation("identity_change", body)
	a.rule == "identity_change"
	a.severity == "medium"
	a.title == "ws-radiology-3 model changed from Infusomat Space to Perfusor Space"
	a.tags == ["identity", "mitre:T0849"]
}

test_serial_conflict_on_medical_device_is_critical if {
	body := {"attribute": "serial", "value": "SN-4711", "change": "conflict", "peer": {"mac": "00:aa:bb:cc:dd:02", "ip": "10.20.0.18"}}
	a := fixtures.only(main.alerts) with input as fixtures.with_device("identity_change", fixtures.pump, body)
	a.severity == "critical"
	a.title == "pump-17 presents serial number SN-4711 of another device (10.20.0.18)"
}

test_upgrade_is_info if {
	body := {"attribute": "firmware_version", "previous": "2.9", "value": "3.0", "change": "upgrade"}
	a := fixtures.only(main.alerts) with input as fixtures.with_device("identity_change", fixtures.pump, body)
	a.severity == "info"
	a.tags == ["identity", "medical"]
}

test_downgrade_is_left_to_firmware_downgrade if {
	body := {"attribute": "firmware_version", "previous": "3.0", "value": "2.9", "change": "downgrade"}
	a := fixtures.only(main.alerts) with input as fixtures.deviation("identity_change", body)
	a.rule == "firmware_downgrade"
}
