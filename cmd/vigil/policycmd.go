package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigil-health/vigil/policy"
)

func newPolicyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with Rego policies",
	}
	var (
		builtin bool
		filter  string
	)
	test := &cobra.Command{
		Use:   "test [DIR...]",
		Short: "Run the Rego unit tests (*_test.rego) of policy directories",
		Long: `Test runs the Rego unit tests of the given directories, with the shipped
library loaded too unless --builtin=false, so site policies can be tested
against the same helpers and fixtures the engine uses.`,
		Example: `  vigil policy test                       # the shipped library's own tests
  vigil policy test ./site-policies`,
		RunE: func(cmd *cobra.Command, dirs []string) error {
			results, err := policy.Test(cmd.Context(), policy.TestOptions{Builtin: builtin, Dirs: dirs, Filter: filter})
			if err != nil {
				return err
			}
			failed := 0
			for _, r := range results {
				fmt.Fprintln(cmd.OutOrStdout(), r.String())
				if r.Outcome == policy.TestFail || r.Outcome == policy.TestError {
					failed++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d passed, %d failed\n", len(results)-failed, failed)
			if failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	test.Flags().BoolVar(&builtin, "builtin", true, "load the shipped library and its tests")
	test.Flags().StringVar(&filter, "run", "", "run only tests whose name matches this regular expression")
	cmd.AddCommand(test)
	return cmd
}
