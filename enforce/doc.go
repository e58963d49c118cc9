// Package enforce will own block decisions: the desired set, the
// patient-safety gate (dry-run by default, approval for life-sustaining
// and patient-connected devices), reconciliation against what each
// enforcement point actually has, and the audit trail.
//
// Built by issue 7; see backend.go for the enforcement point interface.
// "enforce" set of a decision event); nothing acts on them.
package enforce
