package classify

// Criticality is the clinical criticality of a device: what failing or
// being cut off would do to a patient. It drives risk impact and gates
// enforcement (a life-sustaining device is never blocked automatically).
type Criticality string

// Criticality levels, most critical first.
const (
	// LifeSustaining devices keep a patient alive or deliver therapy
	// (infusion pumps, ventilators, dialysis, anaesthesia).
	LifeSustaining Criticality = "life_sustaining"
	// PatientConnected devices are attached to a patient or observe one
	// (patient monitors, telemetry, imaging modalities while scanning).
	PatientConnected Criticality = "patient_connected"
	// ClinicalSupport systems serve care without touching a patient
	// (PACS, HL7 engines, lab analysers, nurse call, clinical workstations).
	ClinicalSupport Criticality = "clinical_support"
	// NonClinical devices serve the building or the office.
	NonClinical Criticality = "non_clinical"
	// Unknown: no rule matched.
	Unknown Criticality = "unknown"
)

// Rank orders criticalities: 4 for life-sustaining down to 0 for unknown.
func (c Criticality) Rank() int {
	switch c {
	case LifeSustaining:
		return 4
	case PatientConnected:
		return 3
	case ClinicalSupport:
		return 2
	case NonClinical:
		return 1
	}
	return 0
}

// Facts are what the inventory knows of a device, as the rules see it.
type Facts struct {
	MAC string
	// OUIVendor is the registered organisation of the MAC's prefix
	// (normalised vendor name), empty for locally administered MACs.
	OUIVendor string
	// Attributes maps attribute names (capture/dpi/attributes.go) to the
	// values known for the device, the resolved value first.
	Attributes map[string][]string
	// Protocols are the application protocols the device used.
	Protocols []string
	// Services are the services the device offered, as "tcp/104".
	Services []string
}

// Result is a classification with the evidence that produced it.
type Result struct {
	// Category is a name from the category list (docs/inventory.md):
	// infusion_pump, patient_monitor, imaging_ct, pacs, workstation, ...;
	// "unknown" when no rule matched.
	Category    string      `json:"category"`
	Medical     bool        `json:"medical"`
	Criticality Criticality `json:"criticality"`
	Confidence  float64     `json:"confidence"`
	// Rule is the ID of the rule that decided.
	Rule string `json:"rule,omitempty"`
	// Because lists, one sentence each, the facts that matched.
	Because []string `json:"because,omitempty"`
	// Derived are attributes read from fingerprint databases (an OS from
	// an SNMP sysDescr, a model from a DHCP vendor class).
	Derived []Derived `json:"derived,omitempty"`
}

// Derived is an attribute value inferred by a fingerprint.
type Derived struct {
	Attribute  string  `json:"attribute"`
	Value      string  `json:"value"`
	Confidence float64 `json:"confidence"`
	// Because names the fingerprint and the fact it matched.
	Because string `json:"because"`
}
