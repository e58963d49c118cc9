package synth

import (
	"fmt"
	"strings"
	"time"
)

// MLLP framing (HL7 v2 Minimal Lower Layer Protocol) bytes.
const (
	mllpStart = 0x0b
	mllpEnd   = 0x1c
	mllpCR    = 0x0d
)

// mllp frames one HL7 message.
func mllp(msg string) []byte {
	b := make([]byte, 0, len(msg)+3)
	b = append(b, mllpStart)
	b = append(b, msg...)
	return append(b, mllpEnd, mllpCR)
}

// hl7Party names one end of an HL7 interface in MSH-3/4 or MSH-5/6.
type hl7Party struct{ app, facility string }

// hl7Time formats t as an HL7 DTM to the second.
func hl7Time(t time.Time) string { return t.UTC().Format("20060102150405") }

// hl7Message joins segments with the HL7 segment terminator.
func hl7Message(segs ...string) string { return strings.Join(segs, "\r") + "\r" }

// msh returns an MSH segment of an HL7 2.5 message.
func msh(from, to hl7Party, t time.Time, typ, controlID string) string {
	return fmt.Sprintf("MSH|^~\\&|%s|%s|%s|%s|%s||%s|%s|P|2.5",
		from.app, from.facility, to.app, to.facility, hl7Time(t), typ, controlID)
}

// oruR01 returns a lab result for the synthetic patient.
func oruR01(from, to hl7Party, t time.Time, controlID string, glucose float64) string {
	return hl7Message(
		msh(from, to, t, "ORU^R01^ORU_R01", controlID),
		"PID|1||SYN0001^^^HOSP^MR||"+SyntheticPatientName+"||19700101|U",
		"OBR|1|ORD"+controlID+"||GLU^Glucose^L|||"+hl7Time(t),
		fmt.Sprintf("OBX|1|NM|GLU^Glucose^L||%.1f|mmol/L|3.9-6.1|N|||F", glucose),
	)
}

// oruVitals returns a heart rate and SpO2 observation of the synthetic
// patient, as a central station exports them.
func oruVitals(from, to hl7Party, t time.Time, controlID string, hr, spo2 int) string {
	return hl7Message(
		msh(from, to, t, "ORU^R01^ORU_R01", controlID),
		"PID|1||SYN0002^^^HOSP^MR||"+SyntheticPatientName+"||19800101|U",
		"OBR|1|||VITALS^Vital signs^L|||"+hl7Time(t),
		fmt.Sprintf("OBX|1|NM|8867-4^Heart rate^LN||%d|/min|||||F", hr),
		fmt.Sprintf("OBX|2|NM|59408-5^SpO2^LN||%d|%%|||||F", spo2),
	)
}

// adtA01 returns an admission of the synthetic patient.
func adtA01(from, to hl7Party, t time.Time, controlID string, bed int) string {
	return hl7Message(
		msh(from, to, t, "ADT^A01^ADT_A01", controlID),
		"EVN|A01|"+hl7Time(t),
		"PID|1||SYN0002^^^HOSP^MR||"+SyntheticPatientName+"||19800101|U",
		fmt.Sprintf("PV1|1|I|WARD3^%d^1", 300+bed),
	)
}

// ack returns the application accept of the message controlID, from the
// receiver back to the sender.
func hl7Ack(from, to hl7Party, t time.Time, trigger, controlID, ackID string) string {
	return hl7Message(
		msh(from, to, t, "ACK^"+trigger+"^ACK", ackID),
		"MSA|AA|"+controlID,
	)
}
