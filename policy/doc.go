// Package policy is the embedded OPA engine: it loads the shipped Rego
// library and a site's policy directory, compiles them once with
// restricted capabilities, evaluates every deviation into a decision, alerts
// and enforcement requests, reloads atomically, and runs Rego unit tests.
//
// README.md next to this file describes the flow and the contract.
package policy
