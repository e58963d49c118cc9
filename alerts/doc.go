// Package alerts is the SOC's view of the alerts the policies raise: it
// folds repeated alerts into counted incidents (one per rule, device and
// peer), keeps their lifecycle (open, acknowledged, resolved) with who
// changed what and why, applies suppressions when alerts are read (so
// they hide past alerts too, and hide nothing from the log), republishes
// every alert on per-severity subjects for the SOC, and serves all of it
// through the Service API.
//
// The state is a projection of the VIGIL_V1_ALERTS stream (alert and
// alert_state events), rebuilt by replaying it and checkpointed like the
// inventory. The SOC outputs (syslog with CEF, webhooks, OCSF) live in
// alerts/output. See docs/alerts.md.
package alerts
