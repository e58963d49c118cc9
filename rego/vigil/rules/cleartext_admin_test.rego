package vigil.rules.cleartext_admin_test

import data.vigil.fixtures
import data.vigil.main

insecure(value) := {"attribute": "insecure_protocol", "value": value, "app_proto": value}

credential(value, proto) := {"attribute": "cleartext_credential", "value": value, "app_proto": proto}

test_telnet_is_medium if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", insecure("telnet"))
	a.rule == "cleartext_administration"
	a.severity == "medium"
	a.title == "ws-radiology-3 uses cleartext administration protocol telnet"
	a.tags == ["cleartext", "mitre:T0886"]
}

test_credential_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", credential("http basic", "http"))
	a.severity == "high"
	a.title == "ws-radiology-3 sent or accepted a cleartext credential (http basic)"
	a.tags == ["cleartext", "mitre:T0886", "mitre:T0859"]
}

test_medical_device_is_one_step_up if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("insecure_protocol", fixtures.pump, credential("snmp default community public", "snmp"))
	a.severity == "critical"
	"medical" in a.tags
}

test_every_admin_protocol_fires if {
	every v in ["telnet", "ftp", "smb1", "snmpv1", "snmpv2c"] {
		a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", insecure(v))
		a.rule == "cleartext_administration"
	}
}

test_raised_while_learning_without_lowering if {
	body := object.union(insecure("ftp"), {"baseline": fixtures.learning})
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", body)
	a.severity == "medium"
	contains(a.description, "still learning")
}

test_other_insecure_protocols_are_not_administration if {
	count(main.alerts) == 0 with input as fixtures.deviation("insecure_protocol", insecure("tls1.0"))
	count(main.alerts) == 0 with input as fixtures.deviation("insecure_protocol", insecure("ntp mode 7"))
}

test_site_list_replaces_default if {
	count(main.alerts) == 0 with input as fixtures.deviation("insecure_protocol", insecure("telnet"))
		with data.vigil.settings as {"cleartext_admin": ["TLS1.0"]}
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", insecure("tls1.0"))
		with data.vigil.settings as {"cleartext_admin": ["TLS1.0"]}
	a.rule == "cleartext_administration"
}

test_requests_no_block if {
	count(main.enforce) == 0 with input as fixtures.with_device("insecure_protocol", fixtures.pump, insecure("telnet"))
}

test_snmp_write_is_high if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", insecure("snmpv2c write"))
	a.rule == "cleartext_administration"
	a.severity == "high"
	a.title == "ws-radiology-3 was written to or wrote over cleartext snmpv2c (SetRequest)"
	a.tags == ["cleartext", "mitre:T0886", "mitre:T0836"]
}

test_snmpv1_write_on_medical_device_is_critical if {
	a := fixtures.only(main.alerts) with input as fixtures.with_device("insecure_protocol", fixtures.pump, insecure("snmpv1 write"))
	a.severity == "critical"
}

test_smb1_and_http_basic_are_administration if {
	a := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", insecure("smb1"))
	a.severity == "medium"
	b := fixtures.only(main.alerts) with input as fixtures.deviation("insecure_protocol", credential("http basic", "http"))
	b.severity == "high"
}
