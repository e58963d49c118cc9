// Package enforce owns block decisions: the desired set of blocks kept in
// a JetStream key-value bucket, the patient-safety gate (dry-run by
// default, approval for life-sustaining and patient-connected devices and
// for critical systems, narrowest scope, a rate limit in event time, a
// kill switch), one reconciliation loop per enforcement point that reads
// back what the point holds, applies the difference and reports drift,
// and the audit trail of enforcement events.
//
// The flow: policy decision (and its alert, which carries the device
// snapshot) -> Component.handle -> a Block per request (ID derived from
// the decision) -> gate.judge -> the bucket -> reconciler.pass ->
// Backend.Apply -> enforcement events. Service is the Go API the web
// dashboard and the CLI (through web's /api/v1/enforcement routes) use;
// Backend (backend.go) is what enforcement points implement; enforce/nft
// is the nftables one. docs/enforcement.md explains the rules.
package enforce
