# Package vigil.rules.cleartext_admin raises an alert when a device
# administers or is administered over a cleartext protocol (Telnet, FTP,
# SNMPv1/v2c, SMBv1) or sends a credential in clear text (a Telnet or FTP
# login, HTTP Basic, an SNMP community, an SMB plaintext password). It
# reads the baseline's insecure_protocol deviations, raised the first time
# a device is seen with each protocol or credential, during learning too.
package vigil.rules.cleartext_admin

import data.vigil.lib

# default_admin are the insecure_protocol and cleartext_credential values
# (as the sensor's dissectors publish them) that mean cleartext
# administration.
default_admin := {
	"telnet", "ftp", "smb1", "snmpv1", "snmpv2c", "snmpv1 write", "snmpv2c write",
	"telnet login", "ftp login", "http basic", "smb plaintext password",
	"snmp community", "snmp default community public", "snmp default community private",
}

# admin is settings.cleartext_admin (lower-cased) when set, else
# default_admin. A site list replaces the default one.
admin := {lower(v) | some v in lib.settings.cleartext_admin} if {
	is_array(lib.settings.cleartext_admin)
} else := default_admin

value := lower(object.get(input.body, "value", ""))

# credential is true when a secret crossed the network in clear text.
credential if input.body.attribute == "cleartext_credential"

# write is true for an SNMPv1/v2c SetRequest: a device's configuration
# changed over a protocol anyone on the path can read and forge.
write if endswith(value, " write")

firing if {
	lib.deviation("insecure_protocol")
	value in admin
}

# A credential in clear text is high, a cleartext protocol medium; one step
# up for a medical device. The learning state does not lower it: this is a
# weakness of the device, not a departure from its habits.
base_severity := "high" if credential else := "high" if write else := "medium"

severity := lib.escalate(base_severity) if lib.is_medical(input.body.device) else := base_severity

# Both ends of a session get the deviation: the words fit the client and
# the server.
title := sprintf("%s sent or accepted a cleartext credential (%s)", [lib.device_label(input.body.device), value]) if {
	credential
} else := sprintf("%s was written to or wrote over cleartext %s (SetRequest)", [lib.device_label(input.body.device), trim_suffix(value, " write")]) if {
	write
} else := sprintf("%s uses cleartext administration protocol %s", [lib.device_label(input.body.device), value])

# Remote services (T0886) over a cleartext protocol; a credential read off
# the wire gives an attacker valid accounts (T0859).
# A write changes the device's parameters (T0836, Modify Parameter).
techniques := ["T0886", "T0859"] if credential else := ["T0886", "T0836"] if write else := ["T0886"]

alerts contains {
	"rule": "cleartext_administration",
	"severity": severity,
	"title": title,
	"description": sprintf("%s %s", [input.body.summary, lib.baseline_note]),
	"tags": array.concat(array.concat(["cleartext"], lib.mitre(techniques)), lib.medical_tags),
} if firing
